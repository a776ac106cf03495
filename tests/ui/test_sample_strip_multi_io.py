"""The result view's sample strip for a model with two inputs and two outputs: the inputs'
values per name, the classes per output, wrong guesses marked (dict inputs used to break it)."""

import numpy as np

from prune_studio.export.exporter import _samples
from prune_studio.ui.results_charts import SampleStrip
from small_models import two_by_two_data, two_by_two_model


def test_strip_shows_values_per_input_and_classes_per_output(qtbot):
    data = two_by_two_data(n=24)
    x = {k: data[k] for k in ("left", "right")}
    y = {k: data[k] for k in ("first", "second")}
    model = two_by_two_model()  # untrained: its guesses are often wrong, which the strip must mark
    preds = {k: np.asarray(v) for k, v in model.predict(x, verbose=0).items()}
    samples = _samples(np.arange(24), y, preds, {"TFLite float32": preds}, [_ok("TFLite float32")], n=6)
    assert len(samples) == 6 and set(samples[0]["label"]) == {"first", "second"}

    strip = SampleStrip()
    qtbot.addWidget(strip)
    strip.show_samples(samples, ["TFLite float32"], x)
    assert not strip.isHidden()
    first_input = strip.grid.itemAtPosition(0, 1).widget().text()
    assert first_input.startswith("left: ") and "\nright: " in first_input
    assert f"{data['left'][samples[0]['index']][0]:.2g}" in first_input
    truth = strip.cells[(1, 1)].text()
    assert truth == f"first {samples[0]['label']['first']}\nsecond {samples[0]['label']['second']}"
    wrong = sum(1 for s in samples for guess in (s["baseline_pred"], s["preds"]["TFLite float32"]) if guess != s["label"])
    assert wrong > 0 and strip.mismatches == wrong


def _ok(name):
    from prune_studio.export.report import Artifact

    art = Artifact(name=name, format="tflite", path="", kind="float32")
    art.ok = True
    return art

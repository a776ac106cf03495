"""A two-input/two-output model (shared layer, nested Sequential) end to end: open, data by name,
fine-tune with pruning, per-output evaluation, export to Keras + float32 + int8 TFLite, verified.

Both inputs have the same shape and both outputs the same width, so a file whose tensors were
matched to the wrong input or output would score about 1/3 instead of near 1.
"""

import numpy as np
import pytest

from prune_studio.data import DataSpec, check_data, load_data
from prune_studio.export import ExportSettings, export_all
from prune_studio.export.verify import match_tensors, open_interpreter, tflite_predict
from prune_studio.export.tflite import convert
from prune_studio.models import load_model
from prune_studio.pruning.plan import PruningPlan
from prune_studio.training import TrainingSettings, fine_tune
from small_models import trained_two_by_two, two_by_two_data, two_by_two_npz


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("multi_io")
    data = two_by_two_data()
    model = trained_two_by_two(data)
    model.save(root / "two_by_two.keras")
    return root, two_by_two_npz(root / "two_by_two.npz", data)


@pytest.fixture(scope="module")
def run(files):
    root, npz = files
    loaded = load_model(root / "two_by_two.keras")
    dataset = load_data(DataSpec("npz", str(npz)), model=loaded.model)
    settings = TrainingSettings(epochs=1, batch_size=32, learning_rate=1e-3)
    plan = PruningPlan.uniform(loaded.model, 0.5, 0, 8, frequency=2)
    result = fine_tune(loaded.model, plan, dataset, settings, compile_settings=loaded.compile_settings)
    return loaded, dataset, result


def test_compile_settings_per_output_come_from_the_file(run):
    loaded, _, _ = run
    settings = loaded.compile_settings
    assert settings.source == "file" and set(settings.outputs) == {"first", "second"}
    assert all(s.loss == "sparse_categorical_crossentropy" and s.metrics == ["accuracy"]
               for s in settings.outputs.values())


def test_data_by_name_fits_and_fine_tune_reports_each_output(run):
    loaded, dataset, result = run
    assert check_data(dataset, loaded.model) == []
    for metrics in (result.baseline, result.final):
        assert {"loss", "first_loss", "second_loss", "first_accuracy", "second_accuracy", "accuracy"} <= set(metrics)
        assert metrics["accuracy"] == pytest.approx((metrics["first_accuracy"] + metrics["second_accuracy"]) / 2)
    assert result.baseline["first_accuracy"] > 0.9 and result.baseline["second_accuracy"] > 0.9
    assert result.final["accuracy"] > 0.8, result.final
    assert not any("prune_low_magnitude" in key for key in result.history), list(result.history)
    assert {"first_accuracy", "val_second_accuracy", "accuracy", "val_accuracy"} <= set(result.history)
    # the shared layer, the nested Sequential's layers and the second head were all pruned
    assert {"shared", "head_hidden", "head_out", "second"} <= set(result.sparsity)
    assert all(share == pytest.approx(0.5, abs=0.02) for share in result.sparsity.values())


def test_export_float32_and_int8_verified_per_output(run, tmp_path):
    loaded, dataset, result = run
    settings = ExportSettings(keras=True, h5=False, tflite=("float32", "int8"), sparse=False,
                              representative_samples=64)
    report = export_all(result.stripped_model, dataset, tmp_path / "out", settings, baseline_model=loaded.model)
    assert [a.name for a in report.artifacts] == ["Keras .keras (tf-keras, stripped)", "Keras .keras (Keras 3, stripped)",
                                                  "TFLite float32", "TFLite full-integer int8"]
    for art in report.artifacts:
        assert art.ok, art.note
        assert "accuracy per output: first" in art.note and ", second" in art.note
        assert art.accuracy == pytest.approx(result.final["accuracy"], abs=0.04 if "int8" in art.name else 1e-5), art
    assert "reloaded with Keras 3" in report.artifacts[1].note  # dict inputs and outputs, checked by Keras 3 itself
    assert report.baseline["accuracy"] == pytest.approx(result.baseline["accuracy"], abs=1e-6)
    assert (tmp_path / "out" / "model_int8.tflite").is_file()
    # the "see it work" rows: the true class and each file's guess, per output
    assert report.samples
    for sample in report.samples:
        index = sample["index"]
        assert sample["label"] == {"first": int(dataset.y_test["first"][index]),
                                   "second": int(dataset.y_test["second"][index])}
        assert set(sample["baseline_pred"]) == {"first", "second"}
        assert set(sample["preds"]) == {a.name for a in report.artifacts}
    agree = np.mean([s["preds"]["TFLite float32"] == s["label"] for s in report.samples])
    assert agree >= 0.6  # the trained model's guesses, not noise


def test_tflite_tensors_are_matched_by_name_not_order(run):
    _, dataset, result = run
    content = convert(result.stripped_model, "float32")
    interp, _ = open_interpreter(model_content=content)
    x = {k: dataset.x_test[k][:16] for k in ("right", "left")}  # keys in the other order
    preds, _ = tflite_predict(interp, x, ["second", "first"])
    keras_out = result.stripped_model({k: dataset.x_test[k][:16] for k in ("left", "right")})
    for name in ("first", "second"):
        np.testing.assert_allclose(preds[name], np.asarray(keras_out[name]), atol=1e-5)
    # without a signature, the converter's tensor names still identify the Keras names
    inputs = match_tensors(interp.get_input_details(), ["right", "left"])
    assert {n: d["name"] for n, d in inputs.items()} == {"right": "serving_default_right:0",
                                                         "left": "serving_default_left:0"}
    with pytest.raises(ValueError, match="cannot tell which TFLite output tensor is the model's output 'first'"):
        match_tensors(interp.get_output_details(), ["first", "second"], what="output")

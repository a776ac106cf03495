"""Per-group channel sensitivity on a small real residual CNN trained on the digits sample."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from prune_studio.compat import keras
from prune_studio.scan import ChannelScanResult, channel_scan, checked_keep_ratios
from prune_studio.scan.sensitivity import ScanError

L = keras.layers


def residual_cnn():
    keras.utils.set_random_seed(0)
    inp = L.Input((8, 8, 1))
    x = L.ReLU(name="stem_relu")(L.BatchNormalization(name="stem_bn")(L.Conv2D(32, 3, padding="same", use_bias=False, name="stem")(inp)))
    y = L.ReLU(name="a_relu")(L.BatchNormalization(name="a_bn")(L.Conv2D(64, 3, padding="same", use_bias=False, name="a")(x)))
    y = L.BatchNormalization(name="b_bn")(L.Conv2D(32, 3, padding="same", use_bias=False, name="b")(y))
    x = L.ReLU(name="add_relu")(L.Add(name="add")([x, y]))
    x = L.ReLU(name="wide_relu")(L.BatchNormalization(name="wide_bn")(L.Conv2D(96, 3, use_bias=False, name="wide")(x)))
    x = L.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inp, L.Dense(10, activation="softmax", name="out")(x), name="residual_cnn")


@pytest.fixture(scope="module")
def trained(digits_dataset):
    model = residual_cnn()
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(digits_dataset.x_train, digits_dataset.y_train, epochs=6, batch_size=32, verbose=0)
    return model


@pytest.fixture(scope="module")
def scanned(trained, digits_dataset):
    return channel_scan(trained, digits_dataset, keep_ratios=(0.5, 0.25), round_to=4, max_samples=256)


def _accuracy_of(model, dataset, groups, round_to=4, n=256):
    """The point measured independently: shrink, re-estimate BatchNorm, score."""
    from prune_studio.structured import analyze, channel_importance, select_uniform, shrink
    from prune_studio.training.batchnorm import reestimate_batchnorm, training_sample

    graph = analyze(model)
    small = shrink(model, graph, select_uniform(graph, channel_importance(graph), 1.0, groups, round_to))
    reestimate_batchnorm(small, training_sample(dataset, 256))
    x, y = dataset.sample(n)
    return float(np.mean(np.argmax(small.predict(x, verbose=0), -1) == y))


def test_every_group_is_scanned_and_the_model_is_left_unchanged(trained, digits_dataset, scanned):
    assert set(scanned.curves) == {"stem", "a", "wide"}  # the residual stream is one group: stem, b
    assert scanned.fragile == {"stem": "residual"}
    assert scanned.sizes == {"stem": 32, "a": 64, "wide": 96}
    assert scanned.baseline > 0.85
    for name, curve in scanned.curves.items():
        assert curve[0] == (1.0, scanned.baseline)
        assert [r for r, _ in curve] == [1.0, 0.5, 0.25]
        cuts = [c for _, c in scanned.flops[name]]
        assert cuts[0] == 0.0 and cuts == sorted(cuts) and cuts[-1] > 0
    assert scanned.curves["wide"][2][1] < scanned.baseline  # 24 of 96 channels cost accuracy
    weights = [w.copy() for w in trained.get_weights()]
    channel_scan(trained, digits_dataset, groups=["a"], keep_ratios=(0.5,), round_to=4, max_samples=64)
    assert all(np.array_equal(a, b) for a, b in zip(weights, trained.get_weights()))


def test_a_point_is_what_the_shrunk_model_scores(trained, digits_dataset, scanned):
    assert dict(scanned.curves["a"])[0.25] == pytest.approx(_accuracy_of(trained, digits_dataset, {"a": 0.25}))


def test_suggested_keep_ratios_are_checked_together(trained, digits_dataset, scanned):
    assert scanned.suggest_keep_ratios(1.0) == {"stem": 0.25, "a": 0.25, "wide": 0.25}
    assert scanned.suggest_keep_ratios(-1.0) == {}
    ratios, drop = checked_keep_ratios(trained, digits_dataset, scanned, 0.03, round_to=4, max_samples=256)
    assert drop <= 0.03 and ratios
    assert all(ratios[g] >= scanned.safe_keep_ratio(g, 0.03) for g in ratios)
    measured = _accuracy_of(trained, digits_dataset, ratios)
    assert scanned.baseline - measured == pytest.approx(drop, abs=1e-9)


def test_result_round_trips_and_a_stopped_scan_says_so(trained, digits_dataset, scanned):
    assert ChannelScanResult.from_dict(json.loads(json.dumps(scanned.to_dict()))) == scanned

    class Stop:
        stopped = False

    control = Stop()

    def progress(fraction, text):
        if fraction > 0:
            control.stopped = True

    part = channel_scan(trained, digits_dataset, keep_ratios=(0.5, 0.25), round_to=4, max_samples=64,
                        progress=progress, control=control)
    assert part.stopped and len(part.curves) == 1 and len(part.curves["stem"]) == 2


def test_bad_arguments_are_one_sentence(trained, digits_dataset):
    with pytest.raises(ScanError, match="keep ratios must be fractions above 0 and below 1"):
        channel_scan(trained, digits_dataset, keep_ratios=(1.5,))
    with pytest.raises(ScanError, match="'nope' is not a channel group.*valid names are stem, a, wide"):
        channel_scan(trained, digits_dataset, groups=["nope"])


CLI = "import sys; from prune_studio.cli import main; sys.exit(main(sys.argv[1:]))"


def _run(tmp_path, *args):
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"), TF_NUM_INTRAOP_THREADS="1")
    return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True,
                          timeout=600, env=env, cwd=tmp_path)


def test_cli_scan_structured_prints_and_writes_a_section(trained, tmp_path):
    from prune_studio.structured import StructuredSettings

    trained.save(tmp_path / "m.keras")
    section = tmp_path / "structured.json"
    proc = _run(tmp_path, "scan", str(tmp_path / "m.keras"), "--data", "digits", "--structured", "--samples", "128",
                "--keep-ratios", "50", "--round-to", "4", "--max-drop", "3", "--plan-out", str(section))
    assert proc.returncode == 0, proc.stderr
    assert "stem [residual]" in proc.stdout and "Suggested keep ratios" in proc.stdout
    settings = StructuredSettings.from_dict(json.loads(section.read_text()))
    assert settings.mode == "uniform" and set(settings.groups) <= {"stem", "a", "wide"}
    bad = _run(tmp_path, "scan", str(tmp_path / "m.keras"), "--data", "digits", "--structured", "--keep-ratios", "0,150")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "--keep-ratios" in bad.stderr

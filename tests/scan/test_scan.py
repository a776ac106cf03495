"""The sensitivity scan and the suggested plan, on the demo model and the digits sample."""

import json

import numpy as np
import pytest

from prune_studio.compat import keras
from prune_studio.data import DataSpec, load_data
from prune_studio.errors import PruneStudioError
from prune_studio.scan import ScanResult, cached_scan, projected_sparsity, sensitivity_scan, suggest_plan
from prune_studio.scan import plan_targets, suggest_targets
from prune_studio.training import RunControl

SPARSITIES = (0.0, 0.5, 0.9, 0.99)
SAMPLES = 256


@pytest.fixture(scope="module")
def dataset(digits_dataset):
    return digits_dataset


@pytest.fixture(scope="module")
def model(demo_model_file):
    return keras.models.load_model(demo_model_file, compile=False)


@pytest.fixture(scope="module")
def scan(model, dataset, tmp_path_factory):
    return sensitivity_scan(model, dataset, sparsities=SPARSITIES, max_samples=SAMPLES,
                            cache_dir=tmp_path_factory.mktemp("scan-cache"))


def _accuracy(model, dataset):
    x, y = dataset.sample(SAMPLES)
    return float(np.mean(np.argmax(model.predict(x, verbose=0), -1) == y))


def test_curves_start_at_the_baseline_and_fall(scan, model, dataset):
    assert scan.metric_name == "accuracy"
    assert scan.num_samples == SAMPLES
    assert scan.baseline == pytest.approx(_accuracy(model, dataset))
    assert scan.baseline > 0.95
    assert list(scan.curves) == ["conv1", "conv2", "dense1", "digits"]
    for name, curve in scan.curves.items():
        assert [s for s, _ in curve] == list(SPARSITIES)
        assert curve[0][1] == scan.baseline
        # Pruning nearly everything of one layer must hurt; the early points stay close.
        assert curve[-1][1] < curve[0][1] - 0.05, name
        assert curve[-1][1] <= min(m for _, m in curve[:2]), name
    # The first convolution (288 weights) is more sensitive than the big dense layer.
    assert dict(scan.curves["conv1"])[0.9] < dict(scan.curves["dense1"])[0.9]
    assert scan.params == {"conv1": 288, "conv2": 18432, "dense1": 262144, "digits": 2560}


def test_weights_are_restored_after_the_scan(model, dataset, tmp_path):
    before = [w.copy() for w in model.get_weights()]
    sensitivity_scan(model, dataset, layers=["conv1"], sparsities=(0.5,), max_samples=64, cache_dir=tmp_path)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_points_match_the_engine_masks(model, dataset, tmp_path):
    """A point equals the accuracy of the model with that layer pruned by the engine."""
    from prune_studio.pruning import masks

    result = sensitivity_scan(model, dataset, layers=["digits"], sparsities=(0.9,), max_samples=SAMPLES,
                              cache_dir=tmp_path)
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    kernel = clone.get_layer("digits").kernel
    kernel.assign(kernel * masks.magnitude_mask(kernel, 0.9)[1])
    assert np.mean(kernel.numpy() == 0) == pytest.approx(0.9, abs=1e-3)
    assert result.curves["digits"][1] == (0.9, pytest.approx(_accuracy(clone, dataset)))


def test_suggested_plan_meets_its_target(scan):
    for target in (0.5, 0.8, 0.9):
        plan = suggest_plan(scan, target_sparsity=target, begin_step=10, end_step=500)
        overall = projected_sparsity(plan, scan.params)
        assert target <= overall < target + 0.001
        # The big, flat dense layer carries the load; the fragile first convolution is spared.
        targets = plan_targets(plan)
        assert targets["dense1"] >= target
        assert targets.get("conv1", 0.0) < targets["dense1"]
        config = plan.layers["dense1"].schedule.get_config()["config"]
        assert (config["begin_step"], config["end_step"]) == (10, 500)


def test_suggested_plan_keeps_within_the_allowed_drop(scan):
    targets = suggest_targets(scan, max_drop=0.01)
    estimated = sum(scan.baseline - np.interp(targets[n], *zip(*scan.curves[n])) for n in targets)
    assert estimated <= 0.01 + 1e-9
    assert projected_sparsity(targets, scan.params) > 0.5
    # No drop allowed still prunes where the curves are flat.
    assert all(0 <= v <= 0.99 for v in suggest_targets(scan, max_drop=0.0).values())


def test_plan_round_trips_as_json(scan):
    from prune_studio.pruning.plan import PruningPlan

    plan = suggest_plan(scan, target_sparsity=0.8)
    again = PruningPlan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert plan_targets(again) == plan_targets(plan)


def test_bad_requests_name_the_value(scan, model, dataset, tmp_path):
    with pytest.raises(PruneStudioError, match="max_drop"):
        suggest_plan(scan)
    with pytest.raises(PruneStudioError, match="target_sparsity"):
        suggest_plan(scan, target_sparsity=1.5)
    with pytest.raises(PruneStudioError, match="nope"):
        sensitivity_scan(model, dataset, layers=["nope"], cache_dir=tmp_path)
    with pytest.raises(PruneStudioError, match="1.2"):
        sensitivity_scan(model, dataset, sparsities=(0.5, 1.2), cache_dir=tmp_path)


def test_result_round_trips(scan):
    again = ScanResult.from_dict(json.loads(json.dumps(scan.to_dict())))
    assert again == scan


def test_cache_is_hit_on_the_second_call(model, dataset, tmp_path):
    calls = []
    first = sensitivity_scan(model, dataset, sparsities=(0.5,), max_samples=64, cache_dir=tmp_path,
                             progress=lambda f, t: calls.append(t))
    assert len(calls) == 1 + 4 and list(tmp_path.glob("*.json"))
    calls.clear()
    second = sensitivity_scan(model, dataset, sparsities=(0.5,), max_samples=64, cache_dir=tmp_path,
                              progress=lambda f, t: calls.append(t))
    assert second == first
    assert len(calls) == 1  # only the "original model" line: nothing was measured again
    assert cached_scan(model, dataset, sparsities=(0.5,), max_samples=64, cache_dir=tmp_path) == first
    # Other data (a different sample size) is a different entry.
    assert cached_scan(model, dataset, sparsities=(0.5,), max_samples=32, cache_dir=tmp_path) is None


def test_stopping_returns_what_was_measured(model, dataset, tmp_path):
    control = RunControl()

    def progress(fraction, text):
        if "conv2" in text:
            control.stop()

    result = sensitivity_scan(model, dataset, sparsities=(0.5, 0.9), max_samples=64, cache_dir=tmp_path,
                              progress=progress, control=control)
    assert result.stopped
    assert len(result.curves["conv1"]) == 3
    assert len(result.curves["conv2"]) == 2  # stopped after its first measurement
    assert "dense1" not in result.curves
    # Only complete layers were remembered.
    remembered = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert sorted(remembered["curves"]) == ["conv1"]


def test_nested_layers_and_a_regression_metric(tmp_path):
    """Layers inside a nested model are scanned; a non-classifier is scored by its error."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0], "float32"))[:, None]
    np.savez(tmp_path / "reg.npz", x_train=x[:64], y_train=y[:64], x_test=x[64:], y_test=y[64:])
    dataset = load_data(DataSpec(kind="npz", path=str(tmp_path / "reg.npz")))
    inner = keras.Sequential([keras.layers.Dense(16, activation="relu", name="hidden")], name="inner")
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(inner(inputs)))
    result = sensitivity_scan(model, dataset, sparsities=(0.5, 0.95), cache_dir=tmp_path)
    assert result.metric_name == "mean squared error" and not result.higher_is_better
    assert list(result.curves) == ["hidden", "out"]
    assert result.params == {"hidden": 64, "out": 16}
    assert result.curves["hidden"][-1][1] != result.baseline
    plan = suggest_plan(result, max_drop=1e9)  # any error allowed: every layer to its highest scanned point
    assert plan_targets(plan) == {"hidden": 0.95, "out": 0.95}

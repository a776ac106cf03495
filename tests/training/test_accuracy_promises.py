"""The accuracy promises on a real BatchNorm architecture (Conv1D+BN), end to end.

With the default settings a fine-tune with every target at 0% keeps accuracy within a point,
and the plan the scan suggests for ``max_drop`` 0.02 ends within ``max_drop`` + 1 point.
MobileNetV2 and the ResNet-style CNN are measured the same way in
``tests/benchmarks/test_bench_accuracy.py`` (too slow for the suite).
"""

import pytest

from accuracy_zoo import dataset_from, trained
from prune_studio.pruning import ConstantSparsity
from prune_studio.pruning.plan import LayerPlan, PruningPlan, prunable_layer_names
from prune_studio.training import TrainingSettings, fine_tune, steps_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def conv1d(tmp_path_factory):
    model, arrays = trained("conv1d_bn")
    return model, dataset_from(arrays, tmp_path_factory.mktemp("conv1d") / "signals.npz")


def test_a_zero_percent_fine_tune_with_the_defaults_does_no_harm(conv1d):
    model, dataset = conv1d
    plan = PruningPlan({n: LayerPlan(True, ConstantSparsity(0.0, 0)) for n in prunable_layer_names(model)})
    result = fine_tune(model, plan, dataset, TrainingSettings())
    assert result.baseline["accuracy"] > 0.8
    assert result.final["accuracy"] >= result.baseline["accuracy"] - 0.01, (result.baseline, result.final)


def test_the_suggested_plan_keeps_its_promise(conv1d):
    from prune_studio.cli.pipeline import suggested_ramp_end
    from prune_studio.scan import checked_targets, plan_from_targets, projected_sparsity, sensitivity_scan

    model, dataset = conv1d
    settings = TrainingSettings()
    scan = sensitivity_scan(model, dataset, use_cache=False)  # held-out examples, as the CLI and window
    targets, drop = checked_targets(model, dataset, scan, 0.02)
    assert drop <= 0.02 and projected_sparsity(targets, scan.params) > 0.2
    plan = plan_from_targets(scan, targets, 0, suggested_ramp_end(steps_for(settings, dataset.num_train)))
    result = fine_tune(model, plan, dataset, settings)
    assert result.final["accuracy"] >= result.baseline["accuracy"] - 0.03, (result.baseline, result.final)

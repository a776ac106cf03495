"""Accuracy on real architectures: does fine-tuning with the defaults do no harm, and does the
suggested plan keep its promise?

For MobileNetV2 (alpha 0.35, 64x64, ``weights=None``), a ResNet-style CNN with BatchNorm and
residual adds, and a Conv1D+BN classifier, each first trained to a baseline on synthetic data
made by ``tests/training/accuracy_zoo.py``, it prints the test accuracy of:

- the baseline;
- a fine-tune with every target at 0% and the default ``TrainingSettings`` (the window's and
  the CLI's), and the same with BatchNorm re-estimation switched off;
- the plan the sensitivity scan suggests for ``max_drop`` 0.02 (scan on training examples,
  checked with every layer pruned at once), fine-tuned with the defaults.

It also compares the two ways of re-estimating BatchNorm statistics after a one-shot 60%
prune: a cumulative average over 512 samples, and passes at the layers' own momentum.

Run with ``make bench`` or ``pytest tests/benchmarks/test_bench_accuracy.py -s`` (about 20
minutes on two busy cores; ``PRUNE_STUDIO_BENCH_MODELS=conv1d_bn,resnet_cnn`` picks models).
"""

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))

import accuracy_zoo as zoo  # noqa: E402

from prune_studio.compat import keras  # noqa: E402
from prune_studio.pruning import ConstantSparsity, masks  # noqa: E402
from prune_studio.pruning.plan import LayerPlan, PruningPlan, prunable_layer_names  # noqa: E402
from prune_studio.training import TrainingSettings, fine_tune, steps_for  # noqa: E402
from prune_studio.training.batchnorm import BatchNormEstimator, save_statistics, restore_statistics, training_sample  # noqa: E402

MODELS = [m for m in os.environ.get("PRUNE_STUDIO_BENCH_MODELS", ",".join(zoo.ZOO)).split(",") if m]
MAX_DROP = 0.02


def _accuracy(model, arrays):
    return float(np.mean(np.argmax(model.predict(arrays[2], verbose=0, batch_size=128), -1) == arrays[3]))


def _zero_plan(model):
    return PruningPlan({name: LayerPlan(True, ConstantSparsity(0.0, 0)) for name in prunable_layer_names(model)})


def _suggested(model, dataset, settings):
    from prune_studio.cli.pipeline import suggested_ramp_end
    from prune_studio.scan import checked_targets, plan_from_targets, projected_sparsity, sensitivity_scan

    scan = sensitivity_scan(model, dataset, split="train", use_cache=False)
    targets, drop = checked_targets(model, dataset, scan, MAX_DROP)
    plan = plan_from_targets(scan, targets, 0, suggested_ramp_end(steps_for(settings, dataset.num_train)))
    return plan, projected_sparsity(targets, scan.params), drop


def _batchnorm_ways(model, arrays, dataset):
    """Test accuracy after a one-shot 60% prune: stale, cumulative, 1 and 5 momentum passes."""
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    for name in prunable_layer_names(clone):
        kernel = clone.get_layer(name).kernel
        kernel.assign(kernel * masks.magnitude_mask(kernel, 0.6)[1])
    stale = save_statistics(clone)
    estimator, sample = BatchNormEstimator(clone), training_sample(dataset, 512)
    row = {"stale": _accuracy(clone, arrays)}
    estimator(sample)
    row["cumulative 512"] = _accuracy(clone, arrays)
    for passes in (1, 5):
        restore_statistics(clone, stale)
        estimator.momentum_passes(sample, passes)
        row[f"momentum x{passes}"] = _accuracy(clone, arrays)
    return row


@pytest.mark.parametrize("name", MODELS)
def test_accuracy_on_real_architectures(name, tmp_path):
    start = time.monotonic()
    model, arrays = zoo.trained(name)
    dataset = zoo.dataset_from(arrays, tmp_path / f"{name}.npz")
    baseline = _accuracy(model, arrays)
    trained_s = time.monotonic() - start
    defaults = TrainingSettings()

    zero = fine_tune(model, _zero_plan(model), dataset, defaults).final["accuracy"]
    off = TrainingSettings(reestimate_batchnorm=False)
    zero_off = fine_tune(model, _zero_plan(model), dataset, off).final["accuracy"]

    plan, sparsity, one_shot_drop = _suggested(model, dataset, defaults)
    suggested = fine_tune(model, plan, dataset, defaults).final["accuracy"]
    ways = _batchnorm_ways(model, arrays, dataset)

    print(f"\n{name}: {model.count_params():,} parameters, trained in {trained_s:.0f} s; "
          f"defaults lr {defaults.learning_rate:g}, {defaults.epochs} epochs")
    print(f"  baseline                                  {baseline:.3f}")
    print(f"  0% fine-tune, defaults                    {zero:.3f}  ({100 * (zero - baseline):+.1f} pts)")
    print(f"  0% fine-tune, BatchNorm re-estimation off {zero_off:.3f}  ({100 * (zero_off - baseline):+.1f} pts)")
    print(f"  suggested plan (max_drop {MAX_DROP}), {sparsity:.0%} zeros, one-shot drop {one_shot_drop:.3f}: "
          f"{suggested:.3f}  ({100 * (suggested - baseline):+.1f} pts)")
    print("  one-shot 60% prune, BatchNorm: " + ", ".join(f"{k} {v:.3f}" for k, v in ways.items()))
    print(f"  total {time.monotonic() - start:.0f} s")
    assert zero >= baseline - 0.01, "a 0% fine-tune with the defaults lost more than a point"
    assert suggested >= baseline - MAX_DROP - 0.01, "the suggested plan broke its max_drop promise"

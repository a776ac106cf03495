"""Does the scan's suggested plan beat a uniform one of the same overall sparsity?

On the demo model and the digits sample: scan (on training examples, so the test part stays
unseen), suggest a plan with 80% zeros overall, and fine-tune it and a uniform 80% plan with
the same schedule shape and settings; print the test accuracy of both, before and after
fine-tuning. Run with ``make bench`` or ``pytest tests/benchmarks/test_bench_scan.py -s``.
"""

import time

import numpy as np

from prune_studio.compat import keras
from prune_studio.data import DataSpec, load_data
from prune_studio.pruning import PolynomialDecay
from prune_studio.pruning.plan import LayerPlan, PruningPlan
from prune_studio.scan import plan_targets, projected_sparsity, sensitivity_scan, suggest_plan
from prune_studio.training import TrainingSettings, fine_tune, steps_for

TARGET = 0.8
SEEDS = (0, 1, 2)


def _test_accuracy(model, dataset):
    predictions = model.predict(dataset.x_test, verbose=0)
    return float(np.mean(np.argmax(predictions, -1) == dataset.y_test))


def _one_shot(model, plan, dataset):
    """Test accuracy with every layer pruned straight to its target, no fine-tuning."""
    from prune_studio.pruning import masks

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    for name, target in plan_targets(plan).items():
        kernel = clone.get_layer(name).kernel
        kernel.assign(kernel * masks.magnitude_mask(kernel, target)[1])
    return _test_accuracy(clone, dataset)


def test_suggested_plan_against_uniform(demo_model_file):
    dataset = load_data(DataSpec(kind="digits"))
    model = keras.models.load_model(demo_model_file)
    settings = TrainingSettings(epochs=3, batch_size=32, learning_rate=5e-4)
    end_step = steps_for(settings, dataset.num_train) * 2 // 3  # ramp, then one epoch at the target

    started = time.perf_counter()
    scan = sensitivity_scan(model, dataset, max_samples=512, split="train", use_cache=False)
    scan_seconds = time.perf_counter() - started
    suggested = suggest_plan(scan, target_sparsity=TARGET, begin_step=0, end_step=end_step)
    frequency = suggested.layers["dense1"].schedule.get_config()["config"]["frequency"]
    uniform = PruningPlan(layers={
        name: LayerPlan(enabled=True, schedule=PolynomialDecay(0.0, TARGET, 0, end_step, frequency=frequency))
        for name in scan.params
    })
    plans = {"uniform 80%": uniform, "suggested": suggested}

    rows = {}
    for label, plan in plans.items():
        finals = []
        for seed in SEEDS:
            keras.utils.set_random_seed(seed)
            result = fine_tune(keras.models.load_model(demo_model_file), plan, dataset, settings)
            finals.append(result.final["accuracy"])
            zeros = sum(result.sparsity[n] * scan.params[n] for n in result.sparsity) / sum(scan.params.values())
        rows[label] = (projected_sparsity(plan, scan.params), zeros, _one_shot(model, plan, dataset), finals)

    print(f"\nScan of {len(scan.curves)} layers x {len(next(iter(scan.curves.values())))} points "
          f"on {scan.num_samples} training examples: {scan_seconds:.1f} s")
    print(f"Suggested targets: { {n: round(v, 3) for n, v in plan_targets(suggested).items()} }")
    print(f"Baseline test accuracy: {_test_accuracy(model, dataset):.2%}")
    print(f"{'plan':<14} {'planned':>8} {'reached':>8} {'no tuning':>10} {'fine-tuned (seeds ' + str(SEEDS) + ')':>36}")
    for label, (planned, zeros, one_shot, finals) in rows.items():
        runs = ", ".join(f"{a:.2%}" for a in finals)
        print(f"{label:<14} {planned:>8.1%} {zeros:>8.1%} {one_shot:>10.2%}   mean {np.mean(finals):.2%} ({runs})")

    for planned, zeros, _, _ in rows.values():
        assert planned >= TARGET and abs(zeros - TARGET) < 0.01
    assert np.mean(rows["suggested"][3]) >= np.mean(rows["uniform 80%"][3]) - 0.005
    keras.backend.clear_session()

"""Check a suggested plan on the model itself, every layer pruned at once, before promising it.

:func:`~prune_studio.scan.suggest.suggest_targets` assumes the drops of separately pruned
layers add up. On deep networks they do not: fifty layers that each cost nothing measurable
alone (within the noise of a few hundred examples) can together cost tens of points, and a
BatchNorm network reacts to the sum of every change upstream. :func:`checked_targets` prunes
every layer to its suggested target at once (the engine's masks, BatchNorm statistics
re-estimated as the fine-tune will) and measures the drop; while it exceeds the allowed
``max_drop`` it shrinks the targets, the highest-cost layers first, until the plan measures
within it. The result is what the plan can promise before fine-tuning even helps.

Example::

    scan = sensitivity_scan(model, dataset, split="train")
    targets, drop = checked_targets(model, dataset, scan, max_drop=0.02)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prune_studio.scan import sensitivity
from prune_studio.scan.result import ScanResult
from prune_studio.scan.suggest import suggest_targets

#: The shares of the allowed drop the greedy suggestion is asked for, in turn.
BUDGET_SHARES = (1.0, 0.5, 0.25, 0.0)
#: Then the zero-budget targets are scaled down by these factors, in turn.
SCALES = (0.75, 0.5, 0.3, 0.15)


def joint_drop(model: Any, dataset: Any, scan: ScanResult, targets: dict[str, float], max_samples: int = 512,
               split: str = "train", reestimate_batchnorm: bool = True) -> float:
    """The metric's drop with every layer of ``targets`` pruned at once (restored afterwards)."""
    by_name = sensitivity.prunable_layers(model)
    x, y = dataset.sample(int(max_samples), split=split)
    _, _, score = sensitivity._metric_for(model, y)
    measure = sensitivity.point_measure(model, dataset, x, y, score, reestimate_batchnorm)
    baseline = measure()
    originals = {}
    try:
        for name, target in targets.items():
            if target <= 0 or name not in by_name:
                continue
            weights = sensitivity.registry.prunable_weights(by_name[name])
            originals[name] = [w.numpy() for w in weights]
            for variable, original in zip(weights, originals[name]):
                variable.assign(sensitivity._masked(original, target))
        value = measure()
    finally:
        for name, saved in originals.items():
            for variable, original in zip(sensitivity.registry.prunable_weights(by_name[name]), saved):
                variable.assign(original)
    return baseline - value if scan.higher_is_better else value - baseline


def checked_targets(model: Any, dataset: Any, scan: ScanResult, max_drop: float, max_samples: int = 512,
                    split: str = "train", progress: Callable[[float, str], None] | None = None,
                    reestimate_batchnorm: bool = True) -> tuple[dict[str, float], float]:
    """Per-layer targets whose joint one-shot drop is within ``max_drop``, and that drop.

    Tries the greedy suggestion at the full budget, then at smaller shares of it, then the
    zero-budget suggestion scaled down; returns the first that measures within ``max_drop``
    (all zeros, drop 0, when none does).
    """
    report = progress or (lambda fraction, text: None)
    candidates = [suggest_targets(scan, max_drop=max_drop * share) for share in BUDGET_SHARES]
    candidates += [{name: round(t * scale, 4) for name, t in candidates[-1].items()} for scale in SCALES]
    for i, targets in enumerate(candidates):
        if not any(t > 0 for t in targets.values()):
            continue
        drop = joint_drop(model, dataset, scan, targets, max_samples, split, reestimate_batchnorm)
        report((i + 1) / len(candidates), f"Whole plan checked at once: drop {drop:.3g}")
        if drop <= max_drop + 1e-9:
            return targets, drop
    return {name: 0.0 for name in candidates[0]}, 0.0

"""Check a suggested plan on the model itself, every layer pruned at once, before promising it.

:func:`~prune_studio.scan.suggest.suggest_targets` assumes the drops of separately pruned
layers add up. On deep networks they do not: fifty layers that each cost nothing measurable
alone (within the noise of a few hundred examples) can together cost tens of points, and a
BatchNorm network reacts to the sum of every change upstream. :func:`checked_targets` prunes
every layer to its suggested target at once (the engine's masks, BatchNorm statistics
re-estimated as the fine-tune will) and measures the drop; while it exceeds the allowed
``max_drop`` it shrinks the targets, the highest-cost layers first, until the plan measures
within it. The result is what the plan can promise before fine-tuning even helps.

The check measures on held-out examples (the test split, which the run also validates on) by
default: a model that fits its training data with room to spare hides the cost there. On
MobileNetV2 a plan measured at a 1.4-point drop on 512 training examples cost 6.5 points on
400 test examples; checked on the test examples, the plan kept its one-shot drop at 1.3 points.

Example::

    scan = sensitivity_scan(model, dataset)
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
#: Then the zero-budget targets are scaled down by these factors, in turn...
SCALES = (0.75, 0.5, 0.3, 0.15)
#: ...and the scale is refined by bisection between the last that failed and the first that fits.
BISECTIONS = 3


class _Joint:
    """Measures the drop of whole plans on one model, its baseline and traced pass kept."""

    def __init__(self, model: Any, dataset: Any, scan: ScanResult, max_samples: int, split: str,
                 reestimate_batchnorm: bool):
        self.model, self.scan = model, scan
        self.by_name = sensitivity.prunable_layers(model)
        x, y = dataset.sample(int(max_samples), split=split)
        _, _, score = sensitivity._metric_for(model, y)
        self.measure = sensitivity.point_measure(model, dataset, x, y, score, reestimate_batchnorm)
        self.baseline = self.measure()

    def drop(self, targets: dict[str, float]) -> float:
        originals = {}
        try:
            for name, target in targets.items():
                if target <= 0 or name not in self.by_name:
                    continue
                weights = sensitivity.registry.prunable_weights(self.by_name[name])
                originals[name] = [w.numpy() for w in weights]
                for variable, original in zip(weights, originals[name]):
                    variable.assign(sensitivity._masked(original, target))
            value = self.measure()
        finally:
            for name, saved in originals.items():
                for variable, original in zip(sensitivity.registry.prunable_weights(self.by_name[name]), saved):
                    variable.assign(original)
        return self.baseline - value if self.scan.higher_is_better else value - self.baseline


def joint_drop(model: Any, dataset: Any, scan: ScanResult, targets: dict[str, float], max_samples: int = 512,
               split: str = "test", reestimate_batchnorm: bool = True) -> float:
    """The metric's drop with every layer of ``targets`` pruned at once (restored afterwards)."""
    return _Joint(model, dataset, scan, max_samples, split, reestimate_batchnorm).drop(targets)


def checked_targets(model: Any, dataset: Any, scan: ScanResult, max_drop: float, max_samples: int = 512,
                    split: str = "test", progress: Callable[[float, str], None] | None = None,
                    reestimate_batchnorm: bool = True) -> tuple[dict[str, float], float]:
    """Per-layer targets whose joint one-shot drop is within ``max_drop``, and that drop.

    Tries the greedy suggestion at the full budget, then at smaller shares of it, then the
    zero-budget suggestion scaled down (the scale refined by bisection); returns the first
    that measures within ``max_drop`` (all zeros, drop 0, when none does).
    """
    report = progress or (lambda fraction, text: None)

    measured = _Joint(model, dataset, scan, max_samples, split, reestimate_batchnorm).drop

    shares = [suggest_targets(scan, max_drop=max_drop * share) for share in BUDGET_SHARES]
    steps = len(shares) + len(SCALES) + BISECTIONS
    for i, targets in enumerate(shares):
        if not any(t > 0 for t in targets.values()):
            continue
        drop = measured(targets)
        report((i + 1) / steps, f"Whole plan checked at once: drop {drop:.3g}")
        if drop <= max_drop + 1e-9:
            return targets, drop
    base = shares[-1]

    def scaled(factor: float) -> dict[str, float]:
        return {name: round(t * factor, 4) for name, t in base.items()}

    failed = 1.0
    for j, factor in enumerate(SCALES):
        drop = measured(scaled(factor))
        report((len(shares) + j + 1) / steps, f"Whole plan checked at once: drop {drop:.3g}")
        if drop <= max_drop + 1e-9:
            best, best_drop = factor, drop
            for k in range(BISECTIONS):  # the largest scale that still fits, between the two
                middle = (best + failed) / 2
                drop = measured(scaled(middle))
                report((len(shares) + len(SCALES) + k + 1) / steps, f"Whole plan checked at once: drop {drop:.3g}")
                if drop <= max_drop + 1e-9:
                    best, best_drop = middle, drop
                else:
                    failed = middle
            return scaled(best), best_drop
        failed = factor
    return {name: 0.0 for name in base}, 0.0

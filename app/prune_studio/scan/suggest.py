"""Turn a sensitivity scan into a pruning plan: which layer gets how many zeros.

The choice is greedy, one percent of one layer at a time: each step goes to the layer whose
next percent of zeros costs the least metric per weight removed. Flat curves cost nothing,
so those layers fill first, and among equally flat layers the bigger one wins, because it
removes more weights. The drops of separately pruned layers are assumed to add up, which is
a fair estimate for small drops and the reason the result is a suggestion the user can edit.

Example::

    plan = suggest_plan(scan, target_sparsity=0.8)         # 80% zeros overall
    plan = suggest_plan(scan, max_drop=0.01)                # lose at most 1 accuracy point
"""

from __future__ import annotations

import math

import numpy as np

from prune_studio.pruning import PolynomialDecay
from prune_studio.pruning.plan import LayerPlan, PruningPlan
from prune_studio.scan.result import ScanResult
from prune_studio.scan.sensitivity import ScanError

_STEP = 0.01  # granularity of the per-layer targets
_EPS = 1e-6  # cost floor, so among flat curves the biggest layer goes first


def suggest_plan(scan: ScanResult, max_drop: float | None = None, target_sparsity: float | None = None,
                 begin_step: int = 0, end_step: int = 1000) -> PruningPlan:
    """A plan for every prunable layer, from an allowed metric drop or an overall target.

    Args:
        scan: A finished (or partial) :class:`ScanResult`; only scanned layers get zeros.
        max_drop: The largest allowed drop of the metric, in its own units (0.01 is one
            accuracy point).
        target_sparsity: The fraction of zeros wanted over all prunable weights, in (0, 1).
        begin_step: The step where pruning starts, for every layer's schedule.
        end_step: The step where each layer reaches its target.

    Returns:
        A :class:`PruningPlan` whose layers ramp from 0 to their target with
        :class:`PolynomialDecay`, updating masks about ten times over the ramp (at most every
        100 steps); layers left at 0 are switched off.

    Raises:
        ScanError: Neither or both of ``max_drop`` and ``target_sparsity`` given, a value out
            of range, or a target higher than the scanned sparsities can reach.
    """
    if end_step <= begin_step:
        raise ScanError(f"end_step must come after begin_step ({begin_step}), not {end_step}.")
    targets = suggest_targets(scan, max_drop=max_drop, target_sparsity=target_sparsity)
    return plan_from_targets(scan, targets, begin_step, end_step)


def plan_from_targets(scan: ScanResult, targets: dict[str, float], begin_step: int = 0,
                      end_step: int = 1000) -> PruningPlan:
    """The plan :func:`suggest_plan` makes from per-layer targets (e.g. checked ones)."""
    if end_step <= begin_step:
        raise ScanError(f"end_step must come after begin_step ({begin_step}), not {end_step}.")
    # About ten mask updates over the ramp, but not more often than the engine's default.
    frequency = max(1, min(100, (end_step - begin_step) // 10))
    layers = {}
    for name in scan.params:
        target = targets.get(name, 0.0)
        if target > 0:
            schedule = PolynomialDecay(initial_sparsity=0.0, final_sparsity=target,
                                       begin_step=begin_step, end_step=end_step, frequency=frequency)
            layers[name] = LayerPlan(enabled=True, schedule=schedule)
        else:
            layers[name] = LayerPlan(enabled=False)
    return PruningPlan(layers=layers)


def suggest_targets(scan: ScanResult, max_drop: float | None = None,
                    target_sparsity: float | None = None) -> dict[str, float]:
    """The per-layer sparsities behind :func:`suggest_plan` (scanned layers only)."""
    if (max_drop is None) == (target_sparsity is None):
        raise ScanError("Give exactly one of max_drop (an allowed metric drop) or target_sparsity "
                        f"(overall zeros); got max_drop={max_drop} and target_sparsity={target_sparsity}.")
    if max_drop is not None and not max_drop >= 0:
        raise ScanError(f"max_drop must be 0 or more, not {max_drop}.")
    if target_sparsity is not None and not 0 < target_sparsity < 1:
        raise ScanError(f"target_sparsity must be a fraction between 0 and 1, not {target_sparsity}.")
    total = sum(scan.params.values())
    costs = {name: _drop_curve(scan, name) for name, curve in scan.curves.items()
             if len(curve) > 1 and scan.params.get(name)}
    if not costs:
        raise ScanError("The scan has no measured layer yet, so no plan can be suggested; run the scan first.")
    reachable = sum(scan.params[n] * top for n, (top, _) in costs.items()) / total
    if target_sparsity is not None and target_sparsity > reachable + 1e-9:
        raise ScanError(f"target_sparsity {target_sparsity:.0%} is higher than the scanned layers can reach "
                        f"({reachable:.1%}); choose at most {math.floor(reachable * 100)}%.")

    levels = {name: 0 for name in costs}  # in steps of _STEP
    used, zeros, best = 0.0, 0.0, None
    while target_sparsity is None or zeros / total < target_sparsity:
        best, best_score, best_cost = None, -1.0, 0.0
        for name, (top, drops) in costs.items():
            level = levels[name]
            if level + 1 >= len(drops):
                continue
            cost = drops[level + 1] - drops[level]
            if max_drop is not None and used + cost > max_drop + 1e-12:
                continue
            score = scan.params[name] / (cost + _EPS)
            if score > best_score:
                best, best_score, best_cost = name, score, cost
        if best is None:
            break
        top = costs[best][0]
        zeros += scan.params[best] * (_level_sparsity(levels[best] + 1, top) - _level_sparsity(levels[best], top))
        levels[best] += 1
        used += best_cost
    targets = {name: _level_sparsity(level, costs[name][0]) for name, level in levels.items()}
    if target_sparsity is not None and best is not None:
        # The last step may overshoot: give that layer just enough to meet the target.
        excess = zeros - target_sparsity * total
        trimmed = targets[best] - excess / scan.params[best]
        targets[best] = math.ceil(trimmed * 1e4 - 1e-6) / 1e4
    return {name: round(value, 4) for name, value in targets.items()}


def projected_sparsity(plan_or_targets: PruningPlan | dict[str, float], params: dict[str, int]) -> float:
    """Overall zeros a plan (or per-layer targets) would reach, weighted by layer size.

    Every layer in ``params`` counts, so switched-off layers lower the figure.
    """
    targets = plan_targets(plan_or_targets) if isinstance(plan_or_targets, PruningPlan) else plan_or_targets
    total = sum(params.values())
    return sum(params[n] * targets.get(n, 0.0) for n in params) / total if total else 0.0


def plan_targets(plan: PruningPlan) -> dict[str, float]:
    """The sparsity each switched-on layer of ``plan`` ends at (any built-in schedule)."""
    targets = {}
    for name, layer in plan.layers.items():
        if layer.enabled:
            config = layer.schedule.get_config()["config"]
            targets[name] = float(config.get("final_sparsity", config.get("target_sparsity", 0.0)))
    return targets


def _drop_curve(scan: ScanResult, name: str) -> tuple[float, np.ndarray]:
    """(highest scanned sparsity, drop at each _STEP up to it), never decreasing."""
    points = sorted(scan.curves[name])
    xs = np.array([s for s, _ in points])
    drops = np.maximum.accumulate(np.maximum(0.0, [scan.drop(m) for _, m in points]))
    top = float(xs[-1])
    grid = np.arange(0, int(round(top / _STEP)) + 1) * _STEP
    return top, np.interp(grid, xs, drops)


def _level_sparsity(level: int, top: float) -> float:
    return min(top, level * _STEP)

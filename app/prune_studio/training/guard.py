"""The accuracy guard: tell the user, in one sentence, when a run is wrecking the model.

:class:`AccuracyGuard` compares each validation accuracy with the unpruned model's on the
same examples. When it falls more than :data:`DROP_WARNING` below during the run (or the
final test accuracy more than :data:`FINAL_DROP_WARNING` below the baseline's), it calls
``listener.on_warning("accuracy_drop", sentence)`` once per run, naming the likely cause and
what to change: with few zeros reached yet, the fine-tune itself (its learning rate) is the
culprit; otherwise the targets on fragile layers (stems, depthwise convolutions, small heads),
a ramp too short to recover in, or a learning rate too high.
"""

from __future__ import annotations

from typing import Any

#: How far (in accuracy, 0.10 = 10 points) validation may fall below the baseline mid-run before
#: warning. Mid-ramp dips of 5 points that recover by the end are common in runs that keep their
#: promise (Conv1D+BN, suggested plan, measured), so only a fall this far is worth a warning.
DROP_WARNING = 0.10
#: How far the final test accuracy may fall below the baseline before warning.
FINAL_DROP_WARNING = 0.05
#: Below this overall sparsity the drop is blamed on the fine-tune rather than the zeros.
EARLY_SPARSITY = 0.05
#: Layers with fewer prunable weights than this count as "small" (heads, stems).
SMALL_LAYER = 5_000


def fragile_layers(model: Any, plan: Any, limit: int = 4) -> list[str]:
    """The enabled layers of ``plan`` most likely to break under pruning, most fragile first.

    Fragile: depthwise convolutions (one 3x3 filter per channel, nothing to spare), the first
    prunable layer (the stem sees raw input), the last one (the classifier head), and any small
    layer; among those, higher targets first.
    """
    from prune_studio.pruning.plan import prunable_layers_by_name

    by_name = prunable_layers_by_name(model)
    order = list(by_name)
    enabled = {name: _target(layer_plan) for name, layer_plan in plan.layers.items()
               if layer_plan.enabled and name in by_name}
    if not enabled:
        return []
    ranked = [name for name in order if name in enabled]
    first, last = ranked[0], ranked[-1]
    picked = []
    for name in ranked:
        layer = by_name[name]
        size = sum(int(w.shape.num_elements() or 0) for w in getattr(layer, "trainable_weights", []))
        depthwise = "Depthwise" in type(layer).__name__
        if depthwise or name in (first, last) or size < SMALL_LAYER:
            picked.append(name)
    picked.sort(key=lambda n: -enabled[n])
    return [n for n in picked if enabled[n] > 0][:limit]


def _target(layer_plan: Any) -> float:
    config = layer_plan.schedule.get_config()
    inner = config.get("config", config)
    return float(inner.get("final_sparsity", inner.get("target_sparsity", 0.0)))


def _ramp_end(plan: Any) -> int:
    ends = []
    for layer_plan in plan.layers.values():
        if layer_plan.enabled:
            config = layer_plan.schedule.get_config()
            ends.append(int(config.get("config", config).get("end_step", -1)))
    return max(ends, default=-1)


def drop_message(baseline: float, value: float, sparsity: float, fragile: list[str], learning_rate: float,
                 ramp_end: int, total_steps: int, where: str = "Validation accuracy") -> str:
    """The one sentence the guard shows: what happened, the likely cause, what to change."""
    head = (f"{where} fell to {value:.1%}, {100 * (baseline - value):.1f} points below the unpruned "
            f"model's {baseline:.1%}")
    if sparsity < EARLY_SPARSITY:
        return (f"{head} with only {sparsity:.0%} zeros so far, so the fine-tune itself is hurting it: lower the "
                f"learning rate (now {learning_rate:g}; try {learning_rate / 10:g}).")
    layers = ", ".join(fragile) if fragile else "the smallest layers"
    ramp = (f"lengthen the ramp (it reaches the targets at step {ramp_end:,} of {total_steps:,})"
            if 0 < ramp_end else "lengthen the ramp")
    return (f"{head} at {sparsity:.0%} zeros: the targets are likely too high for fragile layers ({layers}); "
            f"run the sensitivity scan and lower their targets, {ramp}, or lower the learning rate "
            f"(now {learning_rate:g}).")


class AccuracyGuard:
    """Warns once per run when accuracy falls far below the baseline.

    Args:
        listener: a :class:`~prune_studio.training.TrainingListener`.
        baseline: the unpruned model's accuracy on the examples the checks use.
        model, plan: the unpruned model and the plan, to name the fragile layers.
        learning_rate, total_steps: for the advice.
    """

    def __init__(self, listener: Any, baseline: float | None, model: Any, plan: Any, learning_rate: float,
                 total_steps: int):
        self.listener = listener
        self.baseline = baseline
        self.model = model
        self.plan = plan
        self.learning_rate = learning_rate
        self.total_steps = total_steps
        self.warned: str | None = None

    def check(self, value: float | None, sparsity: float, where: str = "Validation accuracy",
              limit: float = DROP_WARNING) -> bool:
        """Warn (once) if ``value`` is more than ``limit`` below the baseline; returns whether it warned now."""
        if self.warned is not None or value is None or self.baseline is None:
            return False
        if self.baseline - value <= limit:
            return False
        fragile = fragile_layers(self.model, self.plan)
        self.warned = drop_message(self.baseline, value, sparsity, fragile, self.learning_rate,
                                   _ramp_end(self.plan), self.total_steps, where)
        self.listener.on_warning("accuracy_drop", self.warned)
        return True

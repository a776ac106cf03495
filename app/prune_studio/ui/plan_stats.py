"""Numbers the window shows about a plan: projected zeros, size, and the planned curve.

Pure Python and numpy over the core's ``ModelDescription`` and the plan's layers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from prune_studio.ui.layer_tree_model import target_sparsity


def _prunable_sizes(description: Any) -> dict[str, int]:
    return {info.name: info.prunable_params for info in description.prunable_layers()}


def projected_zeros(description: Any, plans: dict[str, Any]) -> int:
    """How many weights the plan sets to zero once every schedule reaches its target."""
    sizes = _prunable_sizes(description)
    return int(sum(sizes.get(name, 0) * (target_sparsity(plan) or 0.0) for name, plan in plans.items()))


def summary_text(description: Any, plans: dict[str, Any]) -> str:
    """One line: total and prunable parameters, projected overall zeros and size."""
    zeros = projected_zeros(description, plans)
    prunable = max(description.prunable_params, 1)
    kept_bytes = (description.total_params - zeros) * 4
    enabled = sum(1 for p in plans.values() if p.enabled)
    return (
        f"<b>{description.total_params:,}</b> parameters · <b>{description.prunable_params:,}</b> prunable · "
        f"<b>{enabled}</b> layers pruned · projected zeros <b>{zeros / prunable:.0%}</b> of prunable "
        f"({zeros / max(description.total_params, 1):.0%} overall) · non-zero weights ≈ <b>{kept_bytes / 1024:,.0f} KB</b> "
        f"(from {description.total_params * 4 / 1024:,.0f} KB)"
    )


def overall_target_curve(description: Any, plans: dict[str, Any], total_steps: int, num: int = 200):
    """The planned overall zeros share over the run (weighted by each layer's prunable size).

    Returns ``(steps, share)`` numpy arrays, or None when nothing is pruned.
    """
    from prune_studio.pruning.schedules import sparsity_curve

    sizes = _prunable_sizes(description)
    enabled = {n: p for n, p in plans.items() if p.enabled and sizes.get(n)}
    if not enabled or total_steps <= 0:
        return None
    total = sum(sizes[n] for n in enabled)
    steps = None
    share = np.zeros(0)
    curves: dict[str, tuple] = {}  # layers usually share a schedule: compute each one once
    for name, plan in enabled.items():
        key = repr(plan.schedule.get_config())
        if key not in curves:
            curves[key] = sparsity_curve(plan.schedule, total_steps, num)
        layer_steps, values = curves[key]
        if plan.sparsity_m_by_n:
            values = np.where(values > 0, 0.5, 0.0)
        if steps is None:
            steps, share = layer_steps, np.zeros(len(layer_steps))
        share = share + np.interp(steps, layer_steps, values) * sizes[name] / total
    return steps, share


def result_sentence(result: Any) -> str:
    """A run's outcome in words: accuracy before and after, and the zeros reached."""
    parts = []
    before, after = result.baseline.get("accuracy"), result.final.get("accuracy")
    if after is not None:
        parts.append(f"accuracy {after:.2%}" + (f" (was {before:.2%})" if before is not None else ""))
    elif "loss" in result.final:
        parts.append(f"loss {result.final['loss']:.4f}")
    if result.sparsity:
        parts.append(f"{sum(result.sparsity.values()) / len(result.sparsity):.0%} zeros in {len(result.sparsity)} pruned layers")
    return ", ".join(parts) or "no metrics"


def metric_words(metrics: dict, validation: bool = False) -> str:
    """``{"accuracy": 0.989, "loss": 0.05}`` as ``"98.9% accuracy (loss 0.050)"``.

    ``validation`` reads the ``val_`` metrics of an epoch's logs.
    """
    prefix = "val_" if validation and any(k.startswith("val_") for k in metrics) else ""
    acc, loss = metrics.get(prefix + "accuracy"), metrics.get(prefix + "loss")
    if acc is not None:
        return f"{acc:.1%} accuracy" + (f" (loss {loss:.3f})" if loss is not None else "")
    return f"loss {loss:.3f}" if loss is not None else "no metrics"

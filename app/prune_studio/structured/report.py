"""Parameters and FLOPs for ``report.json``: the opened model against the exported one.

Kept apart from ``export.report`` so the export's own fields are untouched; the CLI adds the
result as the report's ``"cost"`` field (and ``"structured"`` after channel removal).
"""

from __future__ import annotations

from typing import Any


def cost_report(baseline_model, model) -> dict[str, Any]:
    """``{"baseline": {params, flops}, "model": {params, flops}, "params_reduction", "flops_reduction"}``.

    FLOPs are per sample (2 per multiply-accumulate of convolutions, Dense layers and attention).
    A model the channel analysis cannot read (subclassed) gets ``None`` FLOPs and Keras' count of
    parameters.
    """
    from prune_studio.structured.cost import keras_cost
    from prune_studio.structured.groups import StructureError

    def one(m) -> dict[str, Any]:
        try:
            return keras_cost(m).to_dict()
        except StructureError:
            return {"params": int(m.count_params()), "flops": None}

    base, now = one(baseline_model), one(model)

    def cut(key: str) -> float | None:
        return 1 - now[key] / base[key] if base.get(key) and now.get(key) is not None else None

    return {"baseline": base, "model": now, "params_reduction": cut("params"), "flops_reduction": cut("flops")}

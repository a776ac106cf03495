"""Magnitude-pruning engine with the public API of ``tfmot.sparsity.keras``.

Replace ``import tensorflow_model_optimization as tfmot`` / ``tfmot.sparsity.keras`` with
``from prune_studio import pruning`` and the same script runs::

    pruned = pruning.prune_low_magnitude(model, pruning.PolynomialDecay(0.5, 0.8, 0, 1000))
    pruned.compile(...)
    pruned.fit(x, y, callbacks=[pruning.UpdatePruningStep()])
    final = pruning.strip_pruning(pruned)

Extras for the app: :mod:`.registry`, :mod:`.plan`, :mod:`.report`, :func:`get_skipped_layers`.
"""

from prune_studio.pruning.callbacks import PruningSummaries, UpdatePruningStep
from prune_studio.pruning.plan import LayerPlan, PlanError, PruningPlan, apply_plan
from prune_studio.pruning.policy import PruneForLatencyOnXNNPack, PruningPolicy
from prune_studio.pruning.prunable_layer import PrunableLayer
from prune_studio.pruning.prune import (
    PruneResult,
    get_skipped_layers,
    prune_low_magnitude,
    prune_scope,
    strip_pruning,
)
from prune_studio.pruning.registry import prunability, prunable_weights
from prune_studio.pruning.report import LayerSparsity, overall_sparsity, sparsity_report
from prune_studio.pruning.schedules import ConstantSparsity, PolynomialDecay, PruningSchedule, sparsity_curve
from prune_studio.pruning.wrapper import PruneLowMagnitude

__all__ = [
    "ConstantSparsity",
    "LayerPlan",
    "LayerSparsity",
    "PlanError",
    "PolynomialDecay",
    "PrunableLayer",
    "PruneForLatencyOnXNNPack",
    "PruneLowMagnitude",
    "PruneResult",
    "PruningPlan",
    "PruningPolicy",
    "PruningSchedule",
    "PruningSummaries",
    "UpdatePruningStep",
    "apply_plan",
    "get_skipped_layers",
    "overall_sparsity",
    "prunability",
    "prunable_weights",
    "prune_low_magnitude",
    "prune_scope",
    "sparsity_report",
    "sparsity_curve",
    "strip_pruning",
]

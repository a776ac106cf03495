"""A per-layer pruning plan, and building the pruned model from it.

The plan is what the window edits and the recipe file stores: layer name -> switched on,
schedule, block size, pooling and M:N pattern. :func:`apply_plan` turns it into a wrapped model.
"""

import dataclasses

from prune_studio.errors import PruneStudioError
from prune_studio.pruning import registry
from prune_studio.pruning.prune import PruneResult, build_pruned_model
from prune_studio.pruning.schedules import ConstantSparsity, PolynomialDecay, PruningSchedule, deserialize
from prune_studio.pruning.wrapper import check_arguments


class PlanError(PruneStudioError, ValueError):
    """A plan that does not fit the model or has bad values."""


def _default_schedule():
    return PolynomialDecay(0.5, 0.8, 0, 1000)


@dataclasses.dataclass
class LayerPlan:
    """How one layer is pruned. Values are checked on creation (ValueError when invalid)."""

    enabled: bool = False
    schedule: PruningSchedule = dataclasses.field(default_factory=_default_schedule)
    block_size: tuple = (1, 1)
    block_pooling_type: str = "AVG"
    sparsity_m_by_n: tuple = None

    def __post_init__(self):
        if not isinstance(self.schedule, PruningSchedule):
            raise PlanError(f"schedule must be a PruningSchedule, got schedule={self.schedule!r}.")
        m_by_n = tuple(self.sparsity_m_by_n) if self.sparsity_m_by_n is not None else None
        _, self.block_size, self.block_pooling_type, self.sparsity_m_by_n = check_arguments(
            self.schedule, self.block_size, self.block_pooling_type, m_by_n
        )
        self.enabled = bool(self.enabled)

    def wrapper_kwargs(self):
        """Arguments for ``PruneLowMagnitude`` / ``prune_low_magnitude``."""
        return {
            "pruning_schedule": self.schedule,
            "block_size": self.block_size,
            "block_pooling_type": self.block_pooling_type,
            "sparsity_m_by_n": self.sparsity_m_by_n,
        }

    def to_dict(self):
        return {
            "enabled": self.enabled,
            "schedule": self.schedule.get_config(),
            "block_size": list(self.block_size),
            "block_pooling_type": self.block_pooling_type,
            "sparsity_m_by_n": list(self.sparsity_m_by_n) if self.sparsity_m_by_n else None,
        }

    @classmethod
    def from_dict(cls, data):
        data = dict(data)
        if "schedule" in data:
            data["schedule"] = deserialize(data["schedule"])
        if data.get("block_size") is not None:
            data["block_size"] = tuple(data["block_size"])
        return cls(**data)


@dataclasses.dataclass
class PruningPlan:
    """Layer name -> :class:`LayerPlan`. Layers not listed are left dense."""

    layers: dict = dataclasses.field(default_factory=dict)

    def to_dict(self):
        return {"layers": {name: plan.to_dict() for name, plan in self.layers.items()}}

    @classmethod
    def from_dict(cls, data):
        return cls({name: LayerPlan.from_dict(plan) for name, plan in data.get("layers", {}).items()})

    def enabled_layers(self):
        """Names of the layers switched on."""
        return [name for name, plan in self.layers.items() if plan.enabled]

    @classmethod
    def uniform(cls, model, target, begin_step, end_step, frequency=100):
        """Every prunable layer of ``model`` on, rising from 0 to ``target`` sparsity.

        Uses ``PolynomialDecay(0, target, begin_step, end_step, frequency=frequency)``
        (``ConstantSparsity`` when ``end_step == begin_step``).
        """
        if end_step == begin_step:
            schedule = ConstantSparsity(target, begin_step, frequency=frequency)
        else:
            schedule = PolynomialDecay(0.0, target, begin_step, end_step, frequency=frequency)
        return cls({name: LayerPlan(True, schedule) for name in prunable_layer_names(model)})


def prunable_layer_names(model):
    """Names of the layers of ``model`` (nested models included) that can be pruned."""
    return list(prunable_layers_by_name(model))


def prunable_layers_by_name(model):
    """``{name: layer}`` for the layers of ``model`` (nested models included) that can be pruned.

    Walks Keras' layer lists only: ``model.submodules`` would also walk every attribute of every
    layer, which the first time costs TensorFlow 100-200 ms of class checks holding the GIL.
    """
    from prune_studio.pruning.cloning import locked_in_subclassed

    locked = locked_in_subclassed(model)
    return {layer.name: layer for layer in _leaf_layers(model)
            if layer.name not in locked and registry.prunability(layer)[0]}


def _leaf_layers(model):
    from prune_studio.compat import keras
    from prune_studio.pruning.wrapper import PruneLowMagnitude

    out = []
    for layer in model._flatten_layers(include_self=False, recursive=False):
        if isinstance(layer, keras.Model) or (
            not type(layer).__module__.startswith("tf_keras.") and not registry.prunability(layer)[0]
        ):
            out.extend(_leaf_layers(layer))
        if not isinstance(layer, (keras.Model, PruneLowMagnitude)):
            out.append(layer)
    return out


def apply_plan(model, plan, strict=False):
    """Wrap the layers ``plan`` switches on; returns :class:`PruneResult` (model not compiled).

    Layers with weights that stay dense are listed in ``skipped`` with the reason.

    Raises:
        PlanError: the plan names layers that ``model`` does not have.
        ValueError: ``strict`` and a layer cannot be pruned, or a plan value is invalid.
    """
    names = {layer.name for layer in _leaf_layers(model)}
    unknown = sorted(set(plan.layers) - names)
    if unknown:
        raise PlanError(f"The plan names layers the model does not have: {', '.join(unknown)}.")
    from prune_studio.pruning.cloning import locked_in_subclassed

    locked = locked_in_subclassed(model)
    asked = [name for name, layer_plan in plan.layers.items() if layer_plan.enabled and name in locked]
    if asked:
        raise PlanError(f"Layer '{asked[0]}' cannot be pruned: {locked[asked[0]][0].lower()}{locked[asked[0]][1:]}")

    def params_for(layer):
        layer_plan = plan.layers.get(layer.name)
        if layer_plan is None or not layer_plan.enabled:
            return None, "Pruning is switched off for this layer."
        return layer_plan.wrapper_kwargs(), ""

    return build_pruned_model(model, params_for, strict=strict)


__all__ = ["LayerPlan", "PruningPlan", "PlanError", "PruneResult", "apply_plan", "prunable_layer_names"]

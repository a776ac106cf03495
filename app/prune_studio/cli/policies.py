"""Pruning policies chosen by name from a recipe (``plan.policy``) or ``--policy``.

The engine's :class:`~prune_studio.pruning.PruningPolicy` objects decide per layer; here a
plan (the recipe's, or the scan's suggestion) is narrowed to the layers the policy allows, and a
model the policy cannot serve is refused in one sentence.
"""

from __future__ import annotations

from prune_studio.cli.common import CliInputError

#: ``--policy`` / ``plan.policy`` values and what they mean, for ``--help``.
POLICY_HELP = "'xnnpack': prune only the 1x1 convolutions XNNPack's sparse kernels run faster"


def make_policy(name: str | None):
    """The engine policy for ``name`` (``None`` for none)."""
    if name in (None, "none"):
        return None
    from prune_studio.pruning import PruneForLatencyOnXNNPack

    if name == "xnnpack":
        return PruneForLatencyOnXNNPack()
    raise CliInputError(f"The pruning policy {name!r} is not known; use 'xnnpack' or leave it out.")


def _layers_by_name(model) -> dict:
    from prune_studio.pruning.plan import prunable_layers_by_name

    return prunable_layers_by_name(model)


def allowed_layers(model, name: str | None) -> list[str] | None:
    """Names of the prunable layers ``name`` allows (``None``: every layer, no policy).

    Raises:
        CliInputError: the policy cannot be applied to this model (the reason says why).
    """
    policy = make_policy(name)
    if policy is None:
        return None
    try:
        policy.ensure_model_supports_pruning(model)
    except ValueError as exc:
        raise CliInputError(f"The pruning policy '{name}' does not suit this model: {exc}") from None
    allowed = [n for n, layer in _layers_by_name(model).items() if policy.allow_pruning(layer)]
    if not allowed:
        raise CliInputError(f"The pruning policy '{name}' allows none of this model's layers ({POLICY_HELP}).")
    return allowed


def restrict_plan(plan, allowed: list[str] | None) -> tuple[object, list[str]]:
    """A copy of ``plan`` with every layer outside ``allowed`` switched off; also their names."""
    from prune_studio.pruning.plan import LayerPlan, PruningPlan

    if allowed is None:
        return plan, []
    off = [n for n, layer_plan in plan.layers.items() if layer_plan.enabled and n not in allowed]
    layers = {
        n: LayerPlan.from_dict({**layer_plan.to_dict(), "enabled": False}) if n in off else layer_plan
        for n, layer_plan in plan.layers.items()
    }
    return PruningPlan(layers), off

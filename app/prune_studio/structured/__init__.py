"""Structured (channel) pruning: remove whole channels so the model gets smaller AND faster.

:func:`analyze` finds the groups of channels that must go together, :func:`channel_importance`
scores them, :func:`select_uniform` / :func:`select_global` choose what to keep, and
:func:`shrink` builds the smaller ordinary Keras model. :func:`model_cost` projects parameters
and FLOPs for a choice without building anything. ``StructuredSettings`` (the recipe's
``"structured"`` section) imports without TensorFlow; the other names load it on first use.
"""

from prune_studio.lazy_names import lazy_getattr
from prune_studio.structured.settings import StructuredSettings

_LAZY = {
    "ChannelGraph": "groups",
    "ChannelGroup": "groups",
    "StructureError": "groups",
    "analyze": "groups",
    "Cost": "cost",
    "keras_cost": "cost",
    "model_cost": "cost",
    "channel_importance": "importance",
    "round_keep": "importance",
    "select_global": "importance",
    "select_uniform": "importance",
    "shrink": "surgery",
    "fragile_groups": "fragile",
    "plan_selection": "run",
    "shrink_model": "run",
    "structured_fine_tune": "run",
}

__all__ = ["StructuredSettings", *_LAZY]


__getattr__ = lazy_getattr("prune_studio.structured", _LAZY, globals())

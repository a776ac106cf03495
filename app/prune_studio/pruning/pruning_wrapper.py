"""tfmot module name ``pruning_wrapper``: the wrapper and ``collect_prunable_layers``."""

from prune_studio.compat import keras
from prune_studio.pruning.wrapper import PruneLowMagnitude


def collect_prunable_layers(model):
    """Every :class:`PruneLowMagnitude` in ``model.layers``, nested models included (tfmot's order)."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found += collect_prunable_layers(layer)
        if isinstance(layer, PruneLowMagnitude):
            found.append(layer)
    return found


__all__ = ["PruneLowMagnitude", "collect_prunable_layers"]

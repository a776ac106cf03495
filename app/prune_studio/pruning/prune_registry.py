"""tfmot module name ``prune_registry``: ``PruneRegistry.supports`` / ``make_prunable``.

Backed by :mod:`prune_studio.pruning.registry`, which supports every layer tfmot's registry does
and a few more (Conv1DTranspose, DepthwiseConv1D, LocallyConnected, normalisation layers).
"""

from prune_studio.compat import keras
from prune_studio.pruning import registry

_L = keras.layers
#: Layers both tfmot's registry and ours prune (ours also prunes a few more, listed in registry).
_SHARED_PRUNABLE = (
    _L.Conv1D, _L.Conv2D, _L.Conv2DTranspose, _L.Conv3D, _L.Conv3DTranspose, _L.SeparableConv1D,
    _L.SeparableConv2D, _L.Dense, _L.Embedding, _L.LocallyConnected1D, _L.LocallyConnected2D,
)


class PruneRegistry:
    """Which built-in Keras layers pruning supports, with tfmot's class-method API.

    ``_LAYERS_WEIGHTS_MAP`` (layer class -> names of the weights pruned) and ``_RNN_LAYERS``
    have tfmot's shape, for scripts and tests that read them; they list the layers both
    registries support.
    """

    _LAYERS_WEIGHTS_MAP = {
        **{cls: list(registry.SUPPORTED[cls]) for cls in _SHARED_PRUNABLE},
        _L.MultiHeadAttention: [f"{part}.kernel" for part in registry.MHA_PARTS],
        **{cls: [] for cls in registry.NO_OP},
    }
    _RNN_LAYERS = frozenset(registry.RNN_TYPES)

    @classmethod
    def supports(cls, layer):
        """True when ``prune_low_magnitude`` can wrap ``layer`` (an instance or a layer class)."""
        return registry.supports(layer)

    @classmethod
    def make_prunable(cls, layer):
        """Give ``layer`` a ``get_prunable_weights()`` method; ValueError when it is not supported."""
        return registry.make_prunable(layer)


__all__ = ["PruneRegistry"]

"""Pruning policies: which layers of a model to prune (tfmot ``pruning_policy``)."""

import abc

from prune_studio.compat import keras


class PruningPolicy(abc.ABC):
    """Decides, per layer, whether pruning is allowed, and checks the model as a whole."""

    @abc.abstractmethod
    def allow_pruning(self, layer):
        """True when ``layer`` may be wrapped for pruning."""

    @abc.abstractmethod
    def ensure_model_supports_pruning(self, model):
        """Raise ValueError when the policy cannot be applied to ``model``."""


class PruneForLatencyOnXNNPack(PruningPolicy):
    """Prune only what XNNPack's sparse inference speeds up: 1x1 ``Conv2D`` layers.

    XNNPack runs sparse 1x1 convolutions (stride 1, no dilation, one group) fast; the model
    must take images (a 4-D input) and start with a 3x3, stride-2 ``Conv2D`` as sparse
    XNNPack networks do. Other layers are left dense.
    """

    def allow_pruning(self, layer):
        return (
            type(layer) is keras.layers.Conv2D
            and tuple(layer.kernel_size) == (1, 1)
            and tuple(layer.strides) == (1, 1)
            and tuple(layer.dilation_rate) == (1, 1)
            and getattr(layer, "groups", 1) == 1
        )

    def ensure_model_supports_pruning(self, model):
        if not (isinstance(model, keras.Sequential) or getattr(model, "_is_graph_network", False)):
            raise ValueError(
                f"PruneForLatencyOnXNNPack needs a Sequential or Functional model, got {type(model).__name__}."
            )
        if len(model.inputs) != 1 or model.inputs[0].shape.rank != 4:
            shapes = [tuple(t.shape) for t in model.inputs]
            raise ValueError(
                f"PruneForLatencyOnXNNPack needs one image input of shape (batch, H, W, C), got {shapes}."
            )
        first = next(
            (layer for layer in model.layers if layer.weights and not isinstance(layer, keras.layers.InputLayer)),
            None,
        )
        if not (
            type(first) is keras.layers.Conv2D
            and tuple(first.kernel_size) == (3, 3)
            and tuple(first.strides) == (2, 2)
        ):
            name = type(first).__name__ if first is not None else None
            raise ValueError(
                "PruneForLatencyOnXNNPack needs the model to start with a 3x3 Conv2D of stride 2, "
                f"got first layer {name}."
            )

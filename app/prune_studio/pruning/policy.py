"""Pruning policies: which layers of a model to prune (tfmot ``pruning_policy``)."""

import abc

from prune_studio.compat import keras, tf
from prune_studio.pruning.wrapper import PruneLowMagnitude


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

    XNNPack runs sparse 1x1 convolutions (stride 1, no dilation, one group) fast inside a
    subgraph it can run as a whole. As tfmot's policy, the model must be a built Sequential or
    Functional model in which every input reaches a stem (``ZeroPadding2D(1)`` then a valid
    3x3, stride-2 ``Conv2D`` on 3 channels), every output comes from a
    ``GlobalAveragePooling2D``, and every layer between them is one XNNPack runs in that
    subgraph. Other layers are left as they are (not wrapped).
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
            raise ValueError("Subclassed models are not supported currently.")
        if not model.built:
            raise ValueError("Unbuilt models are not supported currently.")
        inputs = {tensor._keras_history.layer for tensor in model.inputs}
        stems = _reach(inputs, _is_stem, _consumers)
        if not stems:
            raise ValueError(
                "Could not find `Conv2D 3x3` layer with stride 2x2, `input filters == 3` and "
                "`VALID` padding and preceding `ZeroPadding2D` with `padding == 1` in all input "
                "branches of the model"
            )
        outputs = {tensor._keras_history.layer for tensor in model.outputs}
        ends = _reach(outputs, lambda layer: isinstance(layer, keras.layers.GlobalAveragePooling2D), _producers)
        if not ends:
            raise ValueError("Could not find a `GlobalAveragePooling2D` layer in all output branches")

        def stop_at_end(layer):
            if layer not in ends and not _runs_in_sparse_subgraph(layer):
                raise ValueError(
                    f"Layer {type(layer).__name__} is not supported for the {type(self).__name__} pruning policy"
                )
            return layer in ends

        _reach([c for stem in stems for c in _consumers(stem)], stop_at_end, _consumers)


def _producers(layer):
    found = set()
    for node in layer._inbound_nodes:
        inbound = node.inbound_layers
        found.update(inbound if isinstance(inbound, list) else [inbound])
    return found


def _consumers(layer):
    found = []
    for node in layer._outbound_nodes:
        target = node.outbound_layer
        while isinstance(target, keras.Sequential):  # a nested Sequential: its first layer
            target = target.layers[0]
        found.append(target)
    return found


def _reach(sources, stop, step):
    """The layers where ``stop`` holds, walking ``step`` from ``sources``; empty if a path ends first."""
    pending, seen, found = set(sources), set(sources), set()
    while pending:
        layer = pending.pop()
        if stop(layer):
            found.add(layer)
            continue
        following = step(layer)
        if not following:
            return set()  # this branch never meets a stop layer
        for nxt in following:
            if nxt not in seen:
                seen.add(nxt)
                pending.add(nxt)
    return found


def _is_stem(layer):
    """A valid 3x3 stride-2 Conv2D on 3 channels fed only by ZeroPadding2D(1): XNNPack's sparse stem."""
    if not isinstance(layer, keras.layers.Conv2D) or not hasattr(layer, "kernel"):
        return False
    feeds = list(_producers(layer))
    return (
        tuple(layer.kernel.shape[:3]) == (3, 3, 3)
        and tuple(layer.strides) == (2, 2)
        and layer.padding.lower() == "valid"
        and len(feeds) == 1
        and isinstance(feeds[0], keras.layers.ZeroPadding2D)
        and feeds[0].padding == ((1, 1), (1, 1))
    )


def _padded_by(layer, amount):
    feeds = list(_producers(layer))
    return (
        len(feeds) == 1
        and isinstance(feeds[0], keras.layers.ZeroPadding2D)
        and feeds[0].padding == ((amount, amount), (amount, amount))
    )


def _depthwise_ok(layer):
    size, strides, padding = tuple(layer.kernel_size), tuple(layer.strides), layer.padding.lower()
    if layer.depth_multiplier != 1 or tuple(layer.dilation_rate) != (1, 1) or size not in ((3, 3), (5, 5)):
        return False
    if padding == "same":
        return strides == (1, 1)
    pad = 1 if size == (3, 3) else 2
    return padding == "valid" and strides in ((1, 1), (2, 2)) and _padded_by(layer, pad)


_OP_NAMES = ("identity", "add", "subtract", "multiply")


def _runs_in_sparse_subgraph(layer):
    """Whether XNNPack's sparse subgraph can hold ``layer`` (the rules tfmot checks)."""
    L = keras.layers
    if isinstance(layer, PruneLowMagnitude):
        return _runs_in_sparse_subgraph(layer.layer)
    if isinstance(layer, (L.Add, L.Multiply, L.ZeroPadding2D, L.ReLU, L.LeakyReLU, L.ELU, L.Dropout)):
        return True
    if isinstance(layer, L.DepthwiseConv2D):
        return _depthwise_ok(layer)
    if isinstance(layer, L.Conv2D):
        return (
            layer.groups == 1
            and tuple(layer.dilation_rate) == (1, 1)
            and tuple(layer.kernel_size) == (1, 1)
            and tuple(layer.strides) == (1, 1)
        )
    if isinstance(layer, L.GlobalAveragePooling2D):
        return bool(layer.keepdims)
    if isinstance(layer, L.BatchNormalization):
        axis = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
        return list(axis) == [3]
    if isinstance(layer, L.UpSampling2D):
        return layer.interpolation == "bilinear"
    if isinstance(layer, L.Activation):
        return getattr(layer.activation, "__name__", "") in ("relu", "relu6", "leaky_relu", "elu", "sigmoid")
    if type(layer).__name__ == "TFOpLambda":
        function = layer.function
        if function in (tf.identity, tf.__operators__.add, tf.math.add, tf.math.subtract, tf.math.multiply):
            return True
        return getattr(function, "__name__", "") in _OP_NAMES
    return False

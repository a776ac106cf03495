"""Weight and output shapes of common built-in layers, worked out from their configs.

Describing a saved model needs, per layer, its weights' shapes and its output shape. Making a
tf-keras layer object just to learn them (``__init__``, ``build``, one variable per weight) was
most of the time ``describe`` took on MobileNetV2 and ResNet50. For the layer kinds below the
shapes follow from the config and the input shape by the same arithmetic tf-keras uses; every
other kind, and any option these rules do not read (``channels_first``, batch renormalisation,
a fixed ``input_length``...), is left to the layer object (:class:`NotByHand`). Tests compare
every kind here with the built model.

Example::

    rule = RULES["Conv2D"]
    weights, out = rule(config, [None, 32, 32, 3])   # [("kernel", [3, 3, 3, 8]), ...], [None, 30, 30, 8]
"""

from __future__ import annotations

import math


class NotByHand(Exception):
    """This layer's config or inputs need the layer object itself."""


def _ints(value, rank: int) -> list[int]:
    """``kernel_size``/``strides``-style values (an int or a list) as ``rank`` ints."""
    if isinstance(value, int) and not isinstance(value, bool):
        return [value] * rank
    if isinstance(value, (list, tuple)) and len(value) == rank and all(isinstance(v, int) for v in value):
        return list(value)
    raise NotByHand("a size this rule does not read")


def _shape(shape, rank: int | None = None) -> list:
    """One input shape as a list with a known rank (``rank`` when given)."""
    if not isinstance(shape, list) or (isinstance(shape, list) and shape and isinstance(shape[0], list)):
        raise NotByHand("several inputs")
    if rank is not None and len(shape) != rank:
        raise NotByHand("an input of another rank")
    return shape


def _channels_last(config: dict) -> None:
    if config.get("data_format", "channels_last") not in (None, "channels_last"):
        raise NotByHand("channels_first")


def conv_length(length, size: int, padding: str, stride: int, dilation: int = 1):
    """tf-keras's ``conv_output_length``: the output length of a convolution or pooling."""
    if length is None:
        return None
    dilated = size + (size - 1) * (dilation - 1)
    if padding in ("same", "causal"):
        out = length
    elif padding == "valid":
        out = length - dilated + 1
    elif padding == "full":
        out = length + dilated - 1
    else:
        raise NotByHand(f"padding {padding!r}")
    return (out + stride - 1) // stride


def _spatial(config: dict, shape: list, rank: int, size_key: str = "kernel_size") -> list:
    sizes = _ints(config.get(size_key), rank)
    strides = _ints(config.get("strides", 1), rank)
    dilation = _ints(config.get("dilation_rate", 1), rank)
    padding = config.get("padding", "valid")
    return [conv_length(shape[1 + i], sizes[i], padding, strides[i], dilation[i]) for i in range(rank)]


def _channels(shape: list) -> int:
    if shape[-1] is None:
        raise NotByHand("unknown channels")
    return shape[-1]


def _conv(rank: int):
    def rule(config, shape):
        _channels_last(config)
        shape = _shape(shape, rank + 2)
        filters, groups = config["filters"], config.get("groups", 1) or 1
        channels = _channels(shape)
        if channels % groups or filters % groups:
            raise NotByHand("channels not divisible by groups")
        weights = [("kernel", [*_ints(config["kernel_size"], rank), channels // groups, filters])]
        if config.get("use_bias", True):
            weights.append(("bias", [filters]))
        return weights, [shape[0], *_spatial(config, shape, rank), filters]

    return rule


def _depthwise(rank: int):
    def rule(config, shape):
        _channels_last(config)
        shape = _shape(shape, rank + 2)
        channels, multiplier = _channels(shape), config.get("depth_multiplier", 1)
        weights = [("depthwise_kernel", [*_ints(config["kernel_size"], rank), channels, multiplier])]
        if config.get("use_bias", True):
            weights.append(("bias", [channels * multiplier]))
        return weights, [shape[0], *_spatial(config, shape, rank), channels * multiplier]

    return rule


def _separable(rank: int):
    def rule(config, shape):
        _channels_last(config)
        shape = _shape(shape, rank + 2)
        channels, multiplier, filters = _channels(shape), config.get("depth_multiplier", 1), config["filters"]
        weights = [("depthwise_kernel", [*_ints(config["kernel_size"], rank), channels, multiplier]),
                   ("pointwise_kernel", [*([1] * rank), channels * multiplier, filters])]
        if config.get("use_bias", True):
            weights.append(("bias", [filters]))
        return weights, [shape[0], *_spatial(config, shape, rank), filters]

    return rule


def _dense(config, shape):
    shape = _shape(shape)
    if len(shape) < 2:
        raise NotByHand("a Dense input of rank 1")
    units = config["units"]
    weights = [("kernel", [_channels(shape), units])]
    if config.get("use_bias", True):
        weights.append(("bias", [units]))
    return weights, [*shape[:-1], units]


def _axes(value, ndim: int) -> list[int]:
    axes = [value] if isinstance(value, int) else list(value) if isinstance(value, (list, tuple)) else None
    if axes is None or not all(isinstance(a, int) and -ndim <= a < ndim for a in axes):
        raise NotByHand("an axis this rule does not read")
    return [a + ndim if a < 0 else a for a in axes]


def _batch_norm(config, shape):
    shape = _shape(shape)
    if config.get("renorm") or config.get("virtual_batch_size") is not None or config.get("adjustment"):
        raise NotByHand("batch renormalisation or virtual batches")
    axes = _axes(config.get("axis", -1), len(shape))
    if len(set(axes)) != len(axes) or any(shape[a] is None for a in axes):
        raise NotByHand("an unknown normalised axis")
    param = [shape[axes[0]]] if len(axes) == 1 else [shape[i] if i in axes else 1 for i in range(len(shape))]
    weights = [(n, param) for n, on in (("gamma", config.get("scale", True)), ("beta", config.get("center", True)))
               if on]
    return weights + [("moving_mean", param), ("moving_variance", param)], shape


def _layer_norm(config, shape):
    shape = _shape(shape)
    axes = _axes(config.get("axis", -1), len(shape))
    if any(shape[a] is None for a in axes):
        raise NotByHand("an unknown normalised axis")
    param = [shape[a] for a in axes]
    weights = [(n, param) for n, on in (("gamma", config.get("scale", True)), ("beta", config.get("center", True)))
               if on]
    return weights, shape


def _normalization(config, shape):
    shape = _shape(shape)
    axis = config.get("axis", -1)
    keep = sorted(_axes((), len(shape)) if axis is None else _axes(axis, len(shape)))
    if any(shape[d] is None for d in keep):
        raise NotByHand("an unknown normalised axis")
    if config.get("mean") is not None or config.get("variance") is not None:
        return [], shape  # constants given in the config: no variables
    stats = [shape[d] for d in keep]
    return [("mean", stats), ("variance", stats), ("count", [])], shape


def _embedding(config, shape):
    shape = _shape(shape)
    if config.get("input_length") is not None:
        raise NotByHand("a fixed input_length")
    return [("embeddings", [config["input_dim"], config["output_dim"]])], [*shape, config["output_dim"]]


def _pairs(value, rank: int) -> list[list[int]]:
    """ZeroPadding's ``padding``: an int, ``rank`` ints, or ``rank`` (before, after) pairs."""
    if isinstance(value, int) and not isinstance(value, bool):
        return [[value, value]] * rank
    if rank == 1 and isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return [list(value)]
    if isinstance(value, (list, tuple)) and len(value) == rank:
        out = []
        for v in value:
            if isinstance(v, int):
                out.append([v, v])
            elif isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(p, int) for p in v):
                out.append(list(v))
            else:
                raise NotByHand("a padding this rule does not read")
        return out
    raise NotByHand("a padding this rule does not read")


def _zero_padding(rank: int):
    def rule(config, shape):
        _channels_last(config)
        shape = _shape(shape, rank + 2)
        pads = _pairs(config.get("padding", 1), rank)
        sizes = [None if shape[1 + i] is None else shape[1 + i] + a + b for i, (a, b) in enumerate(pads)]
        return [], [shape[0], *sizes, shape[-1]]

    return rule


def _pooling(rank: int):
    def rule(config, shape):
        _channels_last(config)
        shape = _shape(shape, rank + 2)
        config = {**config, "strides": config.get("strides") or config.get("pool_size")}
        return [], [shape[0], *_spatial(config, shape, rank, "pool_size"), shape[-1]]

    return rule


def _global_pooling(rank: int):
    def rule(config, shape):
        _channels_last(config)
        shape = _shape(shape, rank + 2)
        if config.get("keepdims"):
            return [], [shape[0], *([1] * rank), shape[-1]]
        return [], [shape[0], shape[-1]]

    return rule


def _shapes(inputs) -> list[list]:
    if not (isinstance(inputs, list) and len(inputs) >= 1 and all(isinstance(s, list) for s in inputs)):
        raise NotByHand("a merge of one tensor")
    if len({len(s) for s in inputs}) != 1:
        raise NotByHand("inputs of different ranks")
    return inputs


def _broadcast(first, second):
    """tf-keras ``_Merge._compute_elemwise_op_output_shape`` for two shapes of one rank."""
    out = []
    for i, j in zip(first, second):
        if i is None or j is None:
            out.append(None)
        elif i == 1:
            out.append(j)
        elif j == 1 or i == j:
            out.append(i)
        else:
            raise NotByHand("incompatible shapes")
    return out


def _merge(config, inputs):
    shapes = _shapes(inputs)
    out = shapes[0][1:]
    for shape in shapes[1:]:
        out = _broadcast(out, shape[1:])
    batches = {s[0] for s in shapes} - {None}
    return [], [next(iter(batches)) if len(batches) == 1 else None, *out]


def _concatenate(config, inputs):
    shapes = _shapes(inputs)
    axis = config.get("axis", -1)
    if not isinstance(axis, int) or not -len(shapes[0]) <= axis < len(shapes[0]):
        raise NotByHand("an axis this rule does not read")
    out = list(shapes[0])
    for shape in shapes[1:]:
        if out[axis] is None or shape[axis] is None:
            out[axis] = None
            break
        out[axis] += shape[axis]
    return [], out


def _same(config, shape):
    return [], _shape(shape)


def _flatten(config, shape):
    shape = _shape(shape)
    if not shape:
        raise NotByHand("a scalar input")
    rest = shape[1:]
    return [], [shape[0], math.prod(rest) if all(rest) else None]


def _reshape(config, shape):
    shape = _shape(shape)
    target = config.get("target_shape")
    if not isinstance(target, (list, tuple)) or not all(isinstance(d, int) for d in target) or not shape:
        raise NotByHand("a target shape this rule does not read")
    if None in shape[1:]:
        return [], [shape[0], *(None if d == -1 else d for d in target)]
    out, known, unknown = list(target), 1, [i for i, d in enumerate(target) if d < 0]
    for d in target:
        known *= d if d >= 0 else 1
    original = math.prod(shape[1:])
    if len(unknown) > 1 or (unknown and (known == 0 or original % known)) or (not unknown and original != known):
        raise NotByHand("a target shape that does not fit")  # the layer object gives tf-keras's error
    if unknown:
        out[unknown[0]] = original // known
    return [], [shape[0], *out]


#: Layer class name -> rule(config, input shape(s) as lists) -> ([(weight name, shape)], output shape).
RULES = {
    "Conv1D": _conv(1), "Conv2D": _conv(2), "Conv3D": _conv(3),
    "DepthwiseConv1D": _depthwise(1), "DepthwiseConv2D": _depthwise(2),
    "SeparableConv1D": _separable(1), "SeparableConv2D": _separable(2),
    "Dense": _dense, "Embedding": _embedding,
    "BatchNormalization": _batch_norm, "LayerNormalization": _layer_norm, "Normalization": _normalization,
    "ZeroPadding1D": _zero_padding(1), "ZeroPadding2D": _zero_padding(2),
    "MaxPooling1D": _pooling(1), "MaxPooling2D": _pooling(2),
    "AveragePooling1D": _pooling(1), "AveragePooling2D": _pooling(2),
    "GlobalAveragePooling1D": _global_pooling(1), "GlobalAveragePooling2D": _global_pooling(2),
    "GlobalMaxPooling1D": _global_pooling(1), "GlobalMaxPooling2D": _global_pooling(2),
    "Add": _merge, "Subtract": _merge, "Multiply": _merge, "Average": _merge, "Maximum": _merge, "Minimum": _merge,
    "Concatenate": _concatenate,
    "Activation": _same, "ReLU": _same, "LeakyReLU": _same, "ELU": _same, "Softmax": _same,
    "Dropout": _same, "SpatialDropout1D": _same, "SpatialDropout2D": _same, "GaussianNoise": _same,
    "GaussianDropout": _same, "Rescaling": _same,
    "Flatten": _flatten, "Reshape": _reshape,
}

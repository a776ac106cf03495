"""Which layers can be pruned, and which of their weights.

A table maps built-in Keras layer types to the attribute names of their prunable weights (the
reference's choice: kernels and embeddings, never biases or normalisation parameters). Layers
that implement :class:`~prune_studio.pruning.prunable_layer.PrunableLayer` (or just a
``get_prunable_weights`` method) say for themselves. Everything else is explained in a sentence a
non-programmer can read.
"""

from prune_studio.compat import keras

_L = keras.layers

#: Layer type -> attribute names of the weights pruned.
SUPPORTED = {
    _L.Dense: ("kernel",),
    _L.Conv1D: ("kernel",),
    _L.Conv2D: ("kernel",),
    _L.Conv3D: ("kernel",),
    _L.Conv1DTranspose: ("kernel",),
    _L.Conv2DTranspose: ("kernel",),
    _L.Conv3DTranspose: ("kernel",),
    _L.SeparableConv1D: ("pointwise_kernel",),
    _L.SeparableConv2D: ("pointwise_kernel",),
    _L.DepthwiseConv1D: ("depthwise_kernel",),
    _L.DepthwiseConv2D: ("depthwise_kernel",),
    _L.Embedding: ("embeddings",),
    _L.LocallyConnected1D: ("kernel",),
    _L.LocallyConnected2D: ("kernel",),
    _L.SimpleRNNCell: ("kernel", "recurrent_kernel"),
    _L.LSTMCell: ("kernel", "recurrent_kernel"),
    _L.GRUCell: ("kernel", "recurrent_kernel"),
}

#: RNN layers are pruned through their cell.
RNN_TYPES = (_L.SimpleRNN, _L.LSTM, _L.GRU, _L.RNN)

#: Sub-layers of MultiHeadAttention whose kernels are pruned.
MHA_PARTS = ("_query_dense", "_key_dense", "_value_dense", "_output_dense")

#: Layers without prunable weights that are passed through untouched (not "skipped").
PASSTHROUGH = (
    _L.InputLayer,
    _L.BatchNormalization,
    _L.LayerNormalization,
    _L.GroupNormalization,
    _L.UnitNormalization,
    _L.Normalization,
    _L.Rescaling,
    _L.PReLU,
)


def _custom_weights(layer):
    getter = getattr(layer, "get_prunable_weights", None)
    return getter if callable(getter) else None


def _cells(layer):
    cell = layer.cell
    return list(cell.cells) if isinstance(cell, _L.StackedRNNCells) else [cell]


def _is_supported_type(layer):
    if _custom_weights(layer) is not None:
        return True
    if type(layer) in SUPPORTED:
        return True
    if isinstance(layer, RNN_TYPES):
        return all(type(c) in SUPPORTED for c in _cells(layer))
    return isinstance(layer, _L.MultiHeadAttention)


def has_weights(layer):
    """True when the layer holds (or, unbuilt, will hold) weights of its own."""
    if layer.weights:
        return True
    return not layer.built and type(layer).__name__ not in _WEIGHTLESS_NAMES


_WEIGHTLESS_NAMES = {
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
    "GaussianDropout", "AlphaDropout", "Flatten", "Reshape", "Permute", "RepeatVector",
    "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "ThresholdedReLU", "Lambda",
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
    "AveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "Add",
    "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D",
    "UpSampling1D", "UpSampling2D", "UpSampling3D", "Masking", "ActivityRegularization",
    "InputLayer", "TFOpLambda", "SlicingOpLambda",
}


def prunability(layer):
    """Whether ``layer`` can be pruned, with a reason a non-programmer can read when not.

    Returns:
        ``(True, "")`` or ``(False, reason)``.

    Example:
        >>> prunability(keras.layers.Dropout(0.5))
        (False, 'Dropout has no weights to prune.')
    """
    kind = type(layer).__name__
    if isinstance(layer, keras.Model):
        return False, f"{kind} '{layer.name}' is a model; its own layers are pruned one by one."
    if _is_supported_type(layer):
        return True, ""
    if isinstance(layer, PASSTHROUGH):
        return False, f"{kind} only scales or normalises; its few weights are not pruned."
    if not has_weights(layer):
        return False, f"{kind} has no weights to prune."
    if isinstance(layer, _L.Wrapper):
        return False, f"{kind} wraps another layer; pruning inside {kind} is not supported."
    return False, (
        f"{kind} is not a layer type the pruning engine knows; it stays dense "
        "(give it a get_prunable_weights() method to prune it)."
    )


def prunable_weights(layer):
    """The weight variables of a built ``layer`` that pruning masks.

    Raises:
        ValueError: the layer is not prunable (see :func:`prunability`).
    """
    ok, reason = prunability(layer)
    if not ok:
        raise ValueError(f"Layer {layer.name!r} cannot be pruned: {reason}")
    custom = _custom_weights(layer)
    if custom is not None:
        return list(custom())
    if isinstance(layer, RNN_TYPES):
        return [getattr(c, name) for c in _cells(layer) for name in SUPPORTED[type(c)]]
    if isinstance(layer, _L.MultiHeadAttention):
        return [getattr(layer, part).kernel for part in MHA_PARTS if getattr(layer, part, None) is not None]
    return [getattr(layer, name) for name in SUPPORTED[type(layer)]]

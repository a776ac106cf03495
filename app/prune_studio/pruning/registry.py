"""Which layers can be pruned, and which of their weights.

A table maps built-in Keras layer types to the attribute names of their prunable weights (the
reference's choice: kernels and embeddings, never biases or normalisation parameters). Layers
that implement :class:`~prune_studio.pruning.prunable_layer.PrunableLayer` (or just a
``get_prunable_weights`` method) say for themselves. Everything else is explained in a sentence a
non-programmer can read.
"""

from prune_studio.compat import keras, tf

_L = keras.layers
_V1 = tf.compat.v1.keras.layers

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
    _V1.SimpleRNNCell: ("kernel", "recurrent_kernel"),
    _V1.LSTMCell: ("kernel", "recurrent_kernel"),
    _V1.GRUCell: ("kernel", "recurrent_kernel"),
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


#: Layers without prunable weights that ``prune_low_magnitude`` wraps in a wrapper that prunes
#: nothing, as tfmot's registry does (weightless layers, normalisation layers); exact types.
NO_OP = frozenset(
    [
        _L.ELU, _L.LeakyReLU, _L.ReLU, _L.Softmax, _L.ThresholdedReLU, _L.Cropping1D, _L.Cropping2D,
        _L.Cropping3D, _L.UpSampling1D, _L.UpSampling2D, _L.UpSampling3D, _L.ZeroPadding1D,
        _L.ZeroPadding2D, _L.ZeroPadding3D, _L.Activation, _L.ActivityRegularization, _L.Dropout,
        _L.Flatten, _L.Lambda, _L.Masking, _L.Permute, _L.RepeatVector, _L.Reshape,
        _L.SpatialDropout1D, _L.SpatialDropout2D, _L.SpatialDropout3D, _L.Add, _L.Average,
        _L.Concatenate, _L.Dot, _L.Maximum, _L.Minimum, _L.Multiply, _L.Subtract, _L.AlphaDropout,
        _L.GaussianDropout, _L.GaussianNoise, _L.BatchNormalization, _L.LayerNormalization,
        _L.AveragePooling1D, _L.AveragePooling2D, _L.AveragePooling3D, _L.GlobalAveragePooling1D,
        _L.GlobalAveragePooling2D, _L.GlobalAveragePooling3D, _L.GlobalMaxPooling1D,
        _L.GlobalMaxPooling2D, _L.GlobalMaxPooling3D, _L.MaxPooling1D, _L.MaxPooling2D,
        _L.MaxPooling3D, _V1.BatchNormalization, _L.experimental.SyncBatchNormalization,
        # Beyond tfmot's list: more layers whose few weights only scale or normalise.
        _L.Rescaling, _L.GroupNormalization, _L.UnitNormalization, _L.Normalization, _L.PReLU,
    ]
)

#: Layers ``prune_low_magnitude`` leaves as they are, never an error: model inputs and the op
#: layers Keras makes for TensorFlow functions called in a Functional model.
LEAVE = (_L.InputLayer,) + tuple(
    cls for cls in (getattr(_L, "TFOpLambda", None),) if cls is not None
)
try:  # the op layers live outside the public namespace
    from tf_keras.src.layers.core.tf_op_layer import SlicingOpLambda, TFOpLambda

    LEAVE = LEAVE + (TFOpLambda, SlicingOpLambda)
except ImportError:  # pragma: no cover -- other tf-keras layouts
    pass

#: Marks the ``get_prunable_weights`` that :func:`make_prunable` attaches to built-in layers.
_ATTACHED = "_prune_studio_attached"


def _custom_weights(layer):
    getter = getattr(layer, "get_prunable_weights", None)
    if not callable(getter) or getattr(getter, _ATTACHED, False):
        return None
    return getter


def _cells(layer):
    cell = layer.cell
    return list(cell.cells) if isinstance(cell, _L.StackedRNNCells) else [cell]


def _cell_supported(cell):
    return type(cell) in SUPPORTED or _custom_weights(cell) is not None


def _is_supported_type(layer):
    if _custom_weights(layer) is not None:
        return True
    if type(layer) in SUPPORTED:
        return True
    if isinstance(layer, RNN_TYPES):
        return all(_cell_supported(c) for c in _cells(layer))
    return isinstance(layer, _L.MultiHeadAttention)


def wrap_kind(layer):
    """How ``prune_low_magnitude`` treats ``layer``, as tfmot does.

    Returns:
        ``"prune"`` (wrapped, its weights pruned), ``"no-op"`` (wrapped, nothing pruned),
        ``"leave"`` (not wrapped: inputs, TensorFlow op layers), ``"model"`` (a nested model,
        whose layers are treated one by one) or ``"unsupported"`` (tfmot raises ValueError).
    """
    if isinstance(layer, keras.Model):
        return "model"
    if isinstance(layer, LEAVE):
        return "leave"
    if _is_supported_type(layer):
        return "prune"
    if type(layer) in NO_OP:
        return "no-op"
    return "unsupported"


def supports(layer):
    """tfmot's ``PruneRegistry.supports``: a layer (or layer class) ``prune_low_magnitude`` can wrap."""
    if isinstance(layer, type):
        return layer in SUPPORTED or layer in NO_OP
    return wrap_kind(layer) in ("prune", "no-op")


def make_prunable(layer):
    """Give a supported built-in ``layer`` a ``get_prunable_weights()`` method (tfmot's registry does).

    Layers that define their own (``PrunableLayer``) are returned unchanged.

    Raises:
        ValueError: the layer is not supported.
    """
    if _custom_weights(layer) is not None:
        return layer
    kind = wrap_kind(layer)
    if kind not in ("prune", "no-op"):
        raise ValueError(f"Layer {layer.__class__} is not supported.")

    def get_prunable_weights():
        return prunable_weights(layer) if kind == "prune" else []

    setattr(get_prunable_weights, _ATTACHED, True)
    layer.get_prunable_weights = get_prunable_weights
    return layer


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
        found = []
        for cell in _cells(layer):
            getter = _custom_weights(cell)
            found += list(getter()) if getter is not None else [getattr(cell, n) for n in SUPPORTED[type(cell)]]
        return found
    if isinstance(layer, _L.MultiHeadAttention):
        return [getattr(layer, part).kernel for part in MHA_PARTS if getattr(layer, part, None) is not None]
    return [getattr(layer, name) for name in SUPPORTED[type(layer)]]

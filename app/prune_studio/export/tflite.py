"""Convert a tf-keras model to TFLite in the four usual flavours.

``float32`` is the plain conversion; ``dynamic`` stores weights as int8 and computes in
float; ``float16`` halves weight storage; ``int8`` quantizes weights and activations, using
training samples to calibrate activation ranges. ``sparse=True`` adds
``Optimize.EXPERIMENTAL_SPARSITY``, which stores mostly-zero weights in a sparse format.

Every conversion of one export starts from one traced graph (:class:`TFLiteSource`): the model
is traced once, not once per file, and frozen instead of saved to a temporary SavedModel (which
is what ``TFLiteConverter.from_keras_model`` and ``from_concrete_functions`` do by default, and
what dominated the export time of large models). The frozen graph is made once too and shared
by every converter (freezing was two thirds of each MobileNetV2 conversion).
The trace fixes what TFLite needs fixed:

* models with recurrent layers (LSTM, GRU, Bidirectional...) are traced with a batch of one,
  so the converter sees static shapes and lowers them to TFLite's fused sequence kernels
  (whose state lives in variable tensors: reset them before each new sequence);
* inputs that carry integers (an integer ``Input``, or one that feeds an ``Embedding``) stay
  ``int32`` tensors in the file: token ids are never cast to float or quantized.
"""

from __future__ import annotations

import copy
import warnings
from typing import Iterator

import numpy as np

from prune_studio.compat import keras, native_output_silenced, tf
from prune_studio.export.settings import ExportError
from prune_studio.models.index_inputs import index_inputs


def _leaves(model):
    for layer in getattr(model, "layers", []):
        yield layer
        if getattr(layer, "layers", None):
            yield from _leaves(layer)


def has_recurrent_layers(model) -> bool:
    """Whether ``model`` holds a layer TFLite converts only with static shapes (RNNs)."""
    return any(isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional)) for layer in _leaves(model))


def unfused_recurrent_layer(model) -> str | None:
    """The name of a GRU/SimpleRNN layer (TFLite has no fused kernel for them), or None."""
    for layer in _leaves(model):
        inner = layer.forward_layer if isinstance(layer, keras.layers.Bidirectional) else layer
        if isinstance(inner, keras.layers.RNN) and not isinstance(inner, keras.layers.LSTM):
            return layer.name
    return None


class TFLiteSource:
    """``model`` traced once for conversion; :meth:`converter` gives a fresh converter from it.

    Attributes:
        fixed_batch: the trace has a batch of one (the model has recurrent layers).
        integer_inputs: per input, whether it is an ``int32`` tensor in the file.
    """

    def __init__(self, model):
        self.model = model
        self.fixed_batch = has_recurrent_layers(model)
        self.integer_inputs = index_inputs(model)
        specs = []
        for tensor, integer in zip(model.inputs, self.integer_inputs):
            shape = list(tensor.shape)
            if self.fixed_batch:
                if any(d is None for d in shape[1:]):
                    raise ExportError(
                        f"The input {tensor.name!r} has no fixed length ({shape[1:]}); TFLite needs one for "
                        "recurrent layers: rebuild the model with a fixed sequence length."
                    )
                shape[0] = 1
            specs.append(tf.TensorSpec(shape, tf.int32 if integer else tensor.dtype))
        single = len(specs) == 1

        @tf.function
        def serve(*xs):
            return model(xs[0] if single else list(xs), training=False)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.function = serve.get_concrete_function(*specs)
        self._frozen = None

    def note(self) -> str:
        """What a reader of the file should know about its inputs, or ''."""
        parts = []
        if self.fixed_batch:
            parts.append("converted for one sample at a time (batch 1), so the recurrent layers use TFLite's fused "
                         "kernels, which keep their state: call reset_all_variables() before each new sequence")
        if any(self.integer_inputs):
            parts.append("token inputs are int32")
        return "; ".join(parts)

    def converter(self):
        converter = tf.lite.TFLiteConverter.from_concrete_functions([self.function], self.model)
        # By default the converter first saves the whole Keras model as a SavedModel (tracing
        # every layer again: ~90% of the time of each MobileNetV2 conversion); freezing the
        # traced function gives the same file. Recurrent models keep the SavedModel route: only
        # it lowers LSTM/GRU to TFLite's fused sequence kernels (freezing gives WHILE loops).
        converter.experimental_lower_to_saved_model = self.fixed_batch
        if not self.fixed_batch:
            self._frozen = freeze_once(converter, self._frozen)
        return converter


def freeze_once(converter, frozen=None):
    """Make ``converter`` use ``frozen`` (an earlier result of its freezing step), freezing now when
    None; returns what it uses.

    The converter freezes its concrete function (variables to constants, the graph rebuilt op by
    op) at every convert(), the same for every kind: 4.7 s of each ResNet50 conversion here.
    Done once, its result serves every kind (the files are byte-identical).
    """
    if frozen is None:
        frozen = converter._freeze_concrete_function()
    converter._freeze_concrete_function = lambda: frozen
    return frozen


def make_source(model) -> TFLiteSource | None:
    """``TFLiteSource(model)``, or None when tracing fails or the model has several inputs or
    outputs (the converter then traces it itself).

    Raises:
        ExportError: the model cannot be converted at all (a recurrent model without a fixed
            sequence length).
    """
    if len(model.inputs) > 1 or len(model.outputs) > 1:
        # Several inputs/outputs: the file's tensors must carry the Keras names (verification
        # and calibration match them by name), which from_keras_model's signature gives.
        return None
    try:
        return TFLiteSource(model)
    except ExportError:
        raise
    except Exception:  # noqa: BLE001 - tracing raises many types; from_keras_model says more
        return None


def _representative(x, integer: bool) -> Iterator:
    """One calibration sample at a time; with several inputs a dict by input name (the converter
    matches it to the signature's inputs by name). Token inputs stay integers."""
    if isinstance(x, dict):
        for i in range(len(next(iter(x.values())))):
            yield {name: array[i : i + 1].astype(np.float32) for name, array in x.items()}
        return
    dtype = np.int32 if integer else np.float32
    for i in range(len(x)):
        yield [x[i : i + 1].astype(dtype)]


def convert(model, kind: str, sparse: bool = False, representative: np.ndarray | None = None,
            int8_io: str = "float", source: TFLiteSource | None = None) -> bytes:
    """Return the TFLite flatbuffer of ``model`` for ``kind``, converted in this process.

    The export converts in a child process instead (:mod:`prune_studio.export.tflite_process`:
    the converter holds the GIL for up to seconds); this is the same conversion, for callers
    without a window to keep responsive.

    Args:
        model: a tf-keras model without pruning wrappers.
        kind: ``float32``, ``dynamic``, ``float16`` or ``int8``.
        sparse: store weights with sparse encoding.
        representative: float samples (N, ...) calibrating ``int8``; required for it.
        int8_io: ``"float"`` or ``"int8"`` input/output for ``int8`` (integer token inputs
            stay ``int32`` either way).
        source: the traced model to convert from (made from ``model`` when not given).

    Raises:
        ExportError: the converter rejected the model (its message is kept).
    """
    return run(converter_for(model, kind, sparse, representative, int8_io, source), kind)


def converter_for(model, kind: str, sparse: bool = False, representative: np.ndarray | None = None,
                  int8_io: str = "float", source: TFLiteSource | None = None):
    """The converter :func:`convert` runs, set up (same arguments)."""
    source = source if source is not None else make_source(model)
    converter = source.converter() if source is not None else tf.lite.TFLiteConverter.from_keras_model(model)
    if kind == "int8":
        check_int8(model)
    configure(converter, kind, sparse, representative, int8_io,
              source.integer_inputs if source is not None else None)
    return converter


def check_int8(model) -> None:
    """Raise :class:`ExportError` when ``model`` cannot become a full-integer int8 file."""
    unfused = unfused_recurrent_layer(model)
    if unfused is not None:
        # Measured with TensorFlow 2.21: calibrating such a model crashes the whole process.
        raise ExportError(
            f"the full-integer int8 file cannot be made: layer '{unfused}' is a GRU or SimpleRNN, which "
            "TFLite runs as a loop that TensorFlow's int8 calibrator crashes on; use the dynamic-range "
            "int8 file, whose weights are int8 too."
        )


def configure(converter, kind: str, sparse: bool = False, representative=None, int8_io: str = "float",
              integer_inputs: list[bool] | None = None) -> None:
    """Set ``converter`` up for ``kind`` (see :func:`convert`).

    ``integer_inputs`` is the traced source's per-input flag (token inputs stay ``int32``), or
    None when the converter traced the model itself.

    Raises:
        ExportError: ``int8`` without calibration samples.
    """
    optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY] if sparse else []
    if kind != "float32":
        optimizations.append(tf.lite.Optimize.DEFAULT)
    converter.optimizations = optimizations
    if kind == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif kind == "int8":
        if representative is None or len(representative) == 0:
            raise ExportError("The full-integer int8 export needs training samples to calibrate; load a data set with a training split.")
        integer = bool(integer_inputs and integer_inputs[0])
        converter.representative_dataset = lambda: _representative(representative, integer)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if int8_io == "int8":
            if integer_inputs is None or not any(integer_inputs):
                converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8


def run(converter, kind: str) -> bytes:
    """``converter.convert()``, its C++ chatter hidden, its failure one :class:`ExportError` sentence."""
    try:
        # The converter prints its quantizer summary from C++ and warns about input
        # statistics it does not need here; neither means anything to our users.
        with native_output_silenced(fds=(1, 2)), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return converter.convert()
    except Exception as exc:  # noqa: BLE001 - the converter raises many types; keep its words
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"TFLite conversion ({kind}) failed: {first}") from exc


class Encodings:
    """One conversion's file in both encodings: plain, and sparse-encoded when asked for.

    ``Optimize.EXPERIMENTAL_SPARSITY`` changes nothing in a conversion until its last steps (read
    in TensorFlow 2.21's ``lite.py``): the converted, quantized model is sparse-encoded, its
    read-only buffers merged, and the conversion metadata (optimization modes, model hash)
    written. :meth:`file` makes the sparse file from the plain conversion's model by those steps
    alone, so a file's sparse twin costs no second conversion (nor, for ``int8``, a second
    calibration); the bytes equal the converter's own (tested for every kind). Should those
    steps not be reachable (another TensorFlow), the sparse file is converted in full.
    """

    def __init__(self, converter, kind: str):
        self.kind = kind
        self._converter = converter
        captured = {}
        optimize = converter._optimize_tflite_model

        def keep(*args, **kwargs):
            captured["model"] = optimize(*args, **kwargs)
            return captured["model"]

        converter._optimize_tflite_model = keep
        try:
            self._plain = run(converter, kind)
        finally:
            del converter._optimize_tflite_model  # the class's own method again
        self._optimized = captured.get("model")
        self._sparse = None

    def file(self, sparse: bool) -> bytes:
        """The plain file, or its sparse-encoded twin (made on first use)."""
        if not sparse:
            return self._plain
        if self._sparse is None:
            self._sparse = self._encode_sparse()
        return self._sparse

    def _encode_sparse(self) -> bytes:
        try:
            from tensorflow.lite.python import util
            from tensorflow.lite.python.convert import deduplicate_readonly_buffers, mlir_sparsify
            from tensorflow.lite.tools import flatbuffer_utils

            metadata = copy.deepcopy(self._converter._metadata)
        except (ImportError, AttributeError):
            return self._convert_sparse()
        if self._optimized is None:
            return self._convert_sparse()
        try:
            with native_output_silenced(fds=(1, 2)):
                model = deduplicate_readonly_buffers(mlir_sparsify(self._optimized))
                model_object = flatbuffer_utils.convert_bytearray_to_object(model)
                metadata.options.modelOptimizationModes.extend(util.get_sparsity_modes(model_object))
                metadata.environment.modelHash = util.get_model_hash(model_object)
                model_object = util.populate_conversion_metadata(model_object, metadata)
                return bytes(flatbuffer_utils.convert_object_to_bytearray(model_object))
        except Exception as exc:  # noqa: BLE001 - the sparsifier raises many types; keep its words
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ExportError(f"TFLite conversion ({self.kind}, sparse) failed: {first}") from exc

    def _convert_sparse(self) -> bytes:
        converter = self._converter
        converter.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY, *converter.optimizations]
        return run(converter, self.kind)


class LastConversion:
    """The last conversion kept in both encodings (:class:`Encodings`), by a key the caller gives
    (the model, kind and settings): asked for the other encoding of the same key, it converts
    nothing. Only one is kept (a big model's files are tens of megabytes)."""

    def __init__(self):
        self._key = None
        self._encodings: Encodings | None = None

    def file(self, key, sparse: bool, kind: str, make_converter) -> bytes:
        """The file for ``key``; ``make_converter()`` gives the converter, set up for ``kind`` without
        sparse encoding, when ``key`` is not the kept one."""
        if key != self._key:
            self._key, self._encodings = None, None  # free the old files before converting
            self._encodings = Encodings(make_converter(), kind)
            self._key = key
        return self._encodings.file(sparse)

    def clear(self) -> None:
        self._key, self._encodings = None, None

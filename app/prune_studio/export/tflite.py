"""Convert a tf-keras model to TFLite in the four usual flavours.

``float32`` is the plain conversion; ``dynamic`` stores weights as int8 and computes in
float; ``float16`` halves weight storage; ``int8`` quantizes weights and activations, using
training samples to calibrate activation ranges. ``sparse=True`` adds
``Optimize.EXPERIMENTAL_SPARSITY``, which stores mostly-zero weights in a sparse format.
"""

from __future__ import annotations

import warnings
from typing import Iterator

import numpy as np

from prune_studio.compat import native_output_silenced, tf
from prune_studio.export.settings import ExportError


def _representative(x) -> Iterator:
    """One calibration sample at a time; with several inputs a dict by input name (the converter
    matches it to the signature's inputs by name)."""
    if isinstance(x, dict):
        for i in range(len(next(iter(x.values())))):
            yield {name: array[i : i + 1].astype(np.float32) for name, array in x.items()}
        return
    for i in range(len(x)):
        yield [x[i : i + 1].astype(np.float32)]


def convert(model, kind: str, sparse: bool = False, representative: np.ndarray | None = None,
            int8_io: str = "float") -> bytes:
    """Return the TFLite flatbuffer of ``model`` for ``kind``.

    Args:
        model: a tf-keras model without pruning wrappers.
        kind: ``float32``, ``dynamic``, ``float16`` or ``int8``.
        sparse: store weights with sparse encoding.
        representative: float samples (N, ...) calibrating ``int8``; required for it.
        int8_io: ``"float"`` or ``"int8"`` input/output for ``int8``.

    Raises:
        ExportError: the converter rejected the model (its message is kept).
    """
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY] if sparse else []
    if kind != "float32":
        optimizations.append(tf.lite.Optimize.DEFAULT)
    converter.optimizations = optimizations
    if kind == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif kind == "int8":
        if representative is None or len(representative) == 0:
            raise ExportError("The full-integer int8 export needs training samples to calibrate; load a data set with a training split.")
        converter.representative_dataset = lambda: _representative(representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if int8_io == "int8":
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    try:
        # The converter prints its quantizer summary from C++ and warns about input
        # statistics it does not need here; neither means anything to our users.
        with native_output_silenced(fds=(1, 2)), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return converter.convert()
    except Exception as exc:  # noqa: BLE001 - the converter raises many types; keep its words
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"TFLite conversion ({kind}) failed: {first}") from exc

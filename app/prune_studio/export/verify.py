"""Run exported files on the test split: accuracy and mean latency per sample.

A file counts as exported only after it ran here. TFLite files are run with the LiteRT
interpreter; when the default delegate (XNNPack) refuses a file, as it does for int8 models
with sparse weights, the file is run again with the built-in kernels only and the note says
so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from prune_studio.compat import keras

_NO_DELEGATE_NOTE = "runs only without the XNNPack delegate (built-in kernels)"


@dataclass
class Verification:
    """What running one file measured; ``error`` is set when it could not run."""

    accuracy: float | None = None
    latency_ms: float | None = None
    note: str = ""
    error: str = ""


def accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    """Classification accuracy of predictions ``pred`` against labels ``y``.

    Handles class indices or one-hot labels, and a single sigmoid output (threshold 0.5).
    """
    pred = np.asarray(pred).reshape(len(pred), -1)
    y = np.asarray(y)
    if pred.shape[1] == 1:
        guess = (pred[:, 0] > 0.5).astype(np.int64)
    else:
        guess = pred.argmax(axis=1)
    truth = y.reshape(len(y), -1).argmax(axis=1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(-1)
    return float(np.mean(guess == truth.astype(np.int64)))


def measure_model(model, x: np.ndarray, y: np.ndarray, batch: int = 256) -> Verification:
    """Evaluate an in-memory Keras model (latency is per sample within batches)."""
    start = time.perf_counter()
    pred = np.concatenate([np.asarray(model(x[i : i + batch], training=False)) for i in range(0, len(x), batch)])
    elapsed = time.perf_counter() - start
    return Verification(accuracy(pred, y), 1000.0 * elapsed / max(1, len(x)), "run")


def verify_keras(path: str, x: np.ndarray, y: np.ndarray) -> Verification:
    """Reload a saved Keras file and evaluate it."""
    try:
        model = keras.models.load_model(path, compile=False)
        result = measure_model(model, x, y)
    except Exception as exc:  # noqa: BLE001 - any failure means "not verified"
        return Verification(error=f"reloading it failed: {_first_line(exc)}")
    result.note = "reloaded and " + result.note
    return result


def open_interpreter(model_path: str | None = None, model_content: bytes | None = None):
    """A LiteRT interpreter with tensors allocated, and a note on how it runs.

    The default XNNPack delegate refuses some sparse int8 files ("failed to delegate
    FULLY_CONNECTED node"); those are retried with the built-in kernels only. Raises the
    interpreter's own exception when neither way loads the file.
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    source = {"model_path": model_path} if model_path is not None else {"model_content": model_content}
    try:
        interp = Interpreter(**source)
        interp.allocate_tensors()
        return interp, "run with LiteRT"
    except Exception:  # noqa: BLE001 - delegate refusal; retried below
        interp = Interpreter(
            **source, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        )
        interp.allocate_tensors()
        return interp, _NO_DELEGATE_NOTE


def verify_tflite(content: bytes, x: np.ndarray, y: np.ndarray) -> Verification:
    """Run a TFLite flatbuffer one sample at a time, with a fallback without delegates."""
    try:
        interp, note = open_interpreter(model_content=content)
    except Exception as exc:  # noqa: BLE001
        return Verification(error=f"the LiteRT interpreter cannot load it: {_first_line(exc)}")
    try:
        preds, ms = tflite_predict(interp, x)
    except Exception as exc:  # noqa: BLE001
        return Verification(error=f"running it failed: {_first_line(exc)}")
    return Verification(accuracy(preds, y), ms, note)


def tflite_predict(interp, x: np.ndarray) -> tuple[np.ndarray, float]:
    """Outputs for every sample, one at a time, and the mean latency per sample in ms.

    Inputs are quantized and outputs dequantized when the file's I/O is integer, so the
    caller always deals in floats.
    """
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    in_scale, in_zero = inp["quantization"]
    out_scale, out_zero = out["quantization"]
    quantized_in = np.issubdtype(inp["dtype"], np.integer)
    quantized_out = np.issubdtype(out["dtype"], np.integer)
    info = np.iinfo(inp["dtype"]) if quantized_in else None
    preds = []
    elapsed = 0.0
    for i in range(len(x)):
        sample = x[i : i + 1].astype(np.float32)
        if quantized_in:
            sample = np.clip(np.round(sample / in_scale + in_zero), info.min, info.max)
        interp.set_tensor(inp["index"], sample.astype(inp["dtype"]))
        start = time.perf_counter()
        interp.invoke()
        elapsed += time.perf_counter() - start
        result = interp.get_tensor(out["index"]).astype(np.float32)
        if quantized_out:
            result = (result - out_zero) * out_scale
        preds.append(result.reshape(-1))
    return np.stack(preds), 1000.0 * elapsed / max(1, len(x))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

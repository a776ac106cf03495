"""Run exported files on the test split: accuracy and mean latency per sample.

A file counts as exported only after it ran here. TFLite files are run with the LiteRT
interpreter; when the default delegate (XNNPack) refuses a file, as it does for int8 models
with sparse weights (when loading it, or on the first run, as for EfficientNet's sparse
int8 convolutions), the file is run again with the built-in kernels only and the note says
so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from prune_studio.compat import keras
from prune_studio.data import arrays

_NO_DELEGATE_NOTE = "runs only without the XNNPack delegate (built-in kernels)"


@dataclass
class Verification:
    """What running one file measured; ``error`` is set when it could not run."""

    accuracy: float | None = None
    latency_ms: float | None = None
    note: str = ""
    error: str = ""
    per_output: dict | None = None  # {output name: accuracy} for a model with several outputs
    preds: object = None  # the predictions (an array, or a dict by output name)


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


def _is_class_labels(y: np.ndarray) -> bool:
    y = np.asarray(y)
    return y.size > 0 and (y.ndim > 1 and y.shape[-1] > 1 or bool(np.all(np.mod(y, 1) == 0)))


def scored(pred, y, note: str, latency_ms: float) -> Verification:
    """A Verification for predictions ``pred`` against labels ``y``.

    With labels by output name (a dict), ``pred`` is a dict by the same names: each output with
    class labels gets its accuracy in ``per_output``, and ``accuracy`` is their mean.
    """
    if not arrays.is_named(y):
        return Verification(accuracy(pred, y), latency_ms, note)
    each = {name: accuracy(pred[name], labels) for name, labels in y.items() if _is_class_labels(labels)}
    headline = float(np.mean(list(each.values()))) if each else None
    if each:
        note += "; accuracy per output: " + ", ".join(f"{k} {v:.1%}" for k, v in each.items())
    return Verification(headline, latency_ms, note, per_output=each)


def measure_model(model, x, y, batch: int = 256) -> Verification:
    """Evaluate an in-memory Keras model (latency is per sample within batches, after a warm-up).

    ``x``/``y`` may be dicts by the model's input/output names (several inputs or outputs).
    """
    model(arrays.take(x, slice(0, 1)), training=False)
    start = time.perf_counter()
    parts = []
    for i in range(0, arrays.count(x), batch):
        out = model(arrays.take(x, slice(i, i + batch)), training=False)
        parts.append({n: np.asarray(o) for n, o in zip(model.output_names, out)} if isinstance(out, (list, tuple))
                     else {n: np.asarray(o) for n, o in out.items()} if isinstance(out, dict) else np.asarray(out))
    elapsed = time.perf_counter() - start
    pred = arrays.concat(parts)
    if arrays.is_named(pred) and not arrays.is_named(y):
        pred = next(iter(pred.values()))
    result = scored(pred, y, "run", 1000.0 * elapsed / max(1, arrays.count(x)))
    result.preds = pred
    return result


#: Test samples a reloaded Keras file is run on when its weights equal the saved model's.
KERAS_CHECK_SAMPLES = 16


def verify_keras(path: str, x: np.ndarray, y: np.ndarray, saved=None, measured: Verification | None = None
                 ) -> Verification:
    """Reload a saved Keras file and evaluate it.

    With ``saved`` (the model that was written) and ``measured`` (:func:`measure_model` of it on
    ``x``, ``y``), a file whose every weight equals the model's and whose outputs on the first
    :data:`KERAS_CHECK_SAMPLES` samples equal its outputs computes what the model computes: the
    model's accuracy and latency stand for it, and the file is not run on every sample again
    (ResNet50: 8 s of CPU per file and 200 samples here). Otherwise it is run on all of them.
    """
    try:
        model = keras.models.load_model(path, compile=False)
        if saved is not None and measured is not None and measured.preds is not None and _computes_the_same(
                model, saved, x, measured.preds):
            n = min(KERAS_CHECK_SAMPLES, arrays.count(x))
            return Verification(measured.accuracy, measured.latency_ms,
                                f"reloaded: weights equal the model's and outputs equal on {n} samples; accuracy "
                                f"and speed measured on the model ({arrays.count(x)} samples){measured.note.removeprefix('run')}",
                                per_output=measured.per_output, preds=measured.preds)
        result = measure_model(model, x, y)
    except Exception as exc:  # noqa: BLE001 - any failure means "not verified"
        return Verification(error=f"reloading it failed: {_first_line(exc)}")
    result.note = "reloaded and " + result.note
    return result


def _computes_the_same(loaded, saved, x, preds, atol: float = 1e-5) -> bool:
    """Whether ``loaded`` has ``saved``'s weights, bit for bit, and gives ``preds`` on the first samples."""
    mine, theirs = saved.get_weights(), loaded.get_weights()
    if len(mine) != len(theirs) or any(a.shape != b.shape or not np.array_equal(a, b) for a, b in zip(mine, theirs)):
        return False
    n = min(KERAS_CHECK_SAMPLES, arrays.count(x))
    out = loaded(arrays.take(x, slice(0, n)), training=False)
    if isinstance(preds, dict):
        outs = dict(zip(loaded.output_names, out)) if isinstance(out, (list, tuple)) else dict(out)
        return set(outs) == set(preds) and all(
            np.allclose(np.asarray(outs[k]), np.asarray(preds[k])[:n], atol=atol) for k in preds)
    if isinstance(out, (list, tuple, dict)):
        return False
    return np.asarray(out).shape == np.asarray(preds)[:n].shape and np.allclose(np.asarray(out), np.asarray(preds)[:n], atol=atol)


def open_interpreter(model_path: str | None = None, model_content: bytes | None = None,
                     builtin_only: bool = False):
    """A LiteRT interpreter with tensors allocated, and a note on how it runs.

    The default XNNPack delegate refuses some sparse int8 files ("failed to delegate
    FULLY_CONNECTED node"); those are retried with the built-in kernels only (or opened that
    way at once with ``builtin_only``). Raises the interpreter's own exception when neither
    way loads the file.
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    source = {"model_path": model_path} if model_path is not None else {"model_content": model_content}
    if not builtin_only:
        try:
            interp = Interpreter(**source)
            interp.allocate_tensors()
            return interp, "run with LiteRT"
        except Exception:  # noqa: BLE001 - delegate refusal; retried below
            pass
    interp = Interpreter(
        **source, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    interp.allocate_tensors()
    return interp, _NO_DELEGATE_NOTE


def verify_tflite(content: bytes, x, y) -> Verification:
    """Run a TFLite flatbuffer one sample at a time, with a fallback without delegates.

    With several inputs or outputs (``x``/``y`` dicts by Keras name), the file's tensors are
    matched to them by name (see :func:`match_tensors`). XNNPack may accept a file when loading
    it and refuse it on the first run ("failed to prepare"); it is then run again with the
    built-in kernels.
    """
    builtin_only = False
    while True:
        try:
            interp, note = open_interpreter(model_content=content, builtin_only=builtin_only)
        except Exception as exc:  # noqa: BLE001
            return Verification(error=f"the LiteRT interpreter cannot load it: {_first_line(exc)}")
        try:
            preds, ms = tflite_predict(interp, x, list(y) if arrays.is_named(y) else None)
        except Exception as exc:  # noqa: BLE001
            if note != _NO_DELEGATE_NOTE:
                builtin_only = True
                continue
            return Verification(error=f"running it failed: {_first_line(exc)}")
        result = scored(preds, y, note, ms)
        result.preds = preds
        return result


def _tensor_name(detail: dict) -> str:
    """``serving_default_meta:0`` -> ``meta``: the Keras name a converted tensor was given."""
    name = str(detail.get("name", ""))
    name = name.split(":")[0]
    return name[len("serving_default_"):] if name.startswith("serving_default_") else name


def match_tensors(details: list[dict], names: list[str], signature: dict | None = None,
                  shapes: dict | None = None, what: str = "input") -> dict[str, dict]:
    """``{Keras name: TFLite tensor detail}``, matched by name, never by position alone.

    Args:
        details: the interpreter's ``get_input_details()`` or ``get_output_details()``.
        names: the Keras input (or output) names.
        signature: ``{name: detail}`` from the file's ``serving_default`` signature, when present.
        shapes: ``{name: sample shape}`` to fall back on when the names do not match.
        what: ``"input"`` or ``"output"``, for the error.

    Raises:
        ValueError: a Keras name matches no tensor, or several equally well.
    """
    if signature and all(n in signature for n in names):
        by_index = {d["index"]: d for d in details}
        return {n: by_index.get(signature[n]["index"], signature[n]) for n in names}
    by_name = {_tensor_name(d): d for d in details}
    if all(n in by_name for n in names):
        return {n: by_name[n] for n in names}
    if len(names) == 1 and len(details) == 1:
        return {names[0]: details[0]}
    matched = {}
    for n in names:
        want = tuple(shapes.get(n, ())) if shapes else None
        fits = [d for d in details if want is not None and tuple(int(v) for v in d["shape"][1:]) == want]
        if len(fits) != 1:
            raise ValueError(f"cannot tell which TFLite {what} tensor is the model's {what} '{n}' "
                             f"(its tensors: {', '.join(str(d.get('name')) for d in details)})")
        matched[n] = fits[0]
    return matched


def _signature(interp, side: str) -> dict | None:
    try:
        signatures = interp.get_signature_list()
        if not signatures:
            return None
        runner = interp.get_signature_runner(next(iter(signatures)))
        return runner.get_input_details() if side == "input" else runner.get_output_details()
    except Exception:  # noqa: BLE001 - a file without signatures: match by tensor names
        return None


def tflite_predict(interp, x, output_names: list[str] | None = None):
    """Outputs for every sample, one at a time, and the median latency per sample in ms.

    The median, not the mean: on a busy machine a few invocations are pre-empted or run
    while another process holds the core, and the first one also pays for delegate set-up;
    the mean then made a file look several times faster or slower than its baseline.

    Inputs are quantized and outputs dequantized when the file's I/O is integer, so the
    caller always deals in floats. ``x`` is an array, or a dict by Keras input name; with
    ``output_names`` (several outputs) the outputs come back as a dict by those names, else
    as one array (the file's first output).
    """
    in_details, out_details = interp.get_input_details(), interp.get_output_details()
    if arrays.is_named(x):
        inputs = match_tensors(in_details, list(x), _signature(interp, "input"), arrays.shapes(x), "input")
    else:
        inputs = {"": in_details[0]}
    if output_names:
        outputs = match_tensors(out_details, output_names, _signature(interp, "output"), None, "output")
    else:
        outputs = {"": out_details[0]}
    preds = {name: [] for name in outputs}
    times = []
    for i in range(arrays.count(x)):
        for name, detail in inputs.items():
            sample = (x[name] if name else x)[i : i + 1]
            interp.set_tensor(detail["index"], _to_tensor(sample, detail))
        # Recurrent kernels keep their state in variable tensors between runs: each sample
        # is a sequence of its own.
        interp.reset_all_variables()
        start = time.perf_counter()
        interp.invoke()
        times.append(time.perf_counter() - start)
        for name, detail in outputs.items():
            result = interp.get_tensor(detail["index"]).astype(np.float32)
            scale, zero = detail["quantization"]
            if np.issubdtype(detail["dtype"], np.integer) and scale:
                result = (result - zero) * scale
            preds[name].append(result.reshape(-1))
    ms = 1000.0 * float(np.median(times)) if times else 0.0
    stacked = {name: np.stack(rows) if rows else np.zeros((0, 1), np.float32) for name, rows in preds.items()}
    return (stacked if output_names else stacked[""]), ms


def _to_tensor(sample: np.ndarray, detail: dict) -> np.ndarray:
    """One sample in the tensor's dtype, quantized when the tensor is integer and quantized."""
    dtype = detail["dtype"]
    sample = np.asarray(sample)
    if np.issubdtype(dtype, np.integer):
        scale, zero = detail["quantization"]
        if scale:
            info = np.iinfo(dtype)
            sample = np.clip(np.round(sample.astype(np.float32) / scale + zero), info.min, info.max)
        return sample.astype(dtype)
    return sample.astype(dtype)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

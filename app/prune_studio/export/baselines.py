"""Like-for-like baselines: the unpruned model in each exported format, without optimizer state.

The file a user opens usually carries the optimizer's state (Adam keeps two numbers per
weight), so comparing a pruned TFLite file with it overstates the gain about threefold. Each
artifact is compared instead with the unpruned model written the same way: a float32 TFLite
for every TFLite file, a ``.keras`` / ``.h5`` without optimizer for Keras files. Those files are
measured once per export, in a temporary folder, and never kept.
"""

from __future__ import annotations

import contextlib
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prune_studio.export import verify
from prune_studio.export.settings import ExportError
from prune_studio.export.sizes import gzip_sizes
from prune_studio.export.tflite import convert


@dataclass
class Baseline:
    """One like-for-like baseline: sizes, latency (ms/sample) when run, and what it is."""

    label: str
    bytes: int
    gzip_bytes: int
    latency_ms: float | None = None


def _uncompiled_copy(model):
    """``model`` without its optimizer, so the saved file holds the weights only."""
    from prune_studio.compat import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


@contextlib.contextmanager
def _without_optimizer(model, like):
    """``model``'s architecture and weights in a model without optimizer, to be saved.

    ``like`` (the stripped export: same layers, no optimizer) lends itself, holding ``model``'s
    weights until the block ends, when it has the same weight shapes; else ``model`` is cloned
    (building every layer again: 1.8 s of CPU for MobileNetV2).
    """
    if getattr(model, "optimizer", None) is None:
        yield model
        return
    if like is None or like is model or getattr(like, "optimizer", None) is not None or (
            [tuple(w.shape) for w in like.weights] != [tuple(w.shape) for w in model.weights]):
        yield _uncompiled_copy(model)
        return
    own = like.get_weights()
    like.set_weights(model.get_weights())
    try:
        yield like
    finally:
        like.set_weights(own)


def measure(model, formats: set[str], x: np.ndarray, y: np.ndarray, keras_latency_ms: float | None,
            like=None, tflite=None) -> dict[str, Baseline]:
    """Baselines for ``formats`` (any of ``tflite``, ``keras``, ``h5``) of the unpruned ``model``.

    Args:
        model: the unpruned tf-keras model (as opened).
        formats: which formats the export writes.
        x, y: the verification samples (the TFLite baseline is run on them).
        keras_latency_ms: the in-memory model's latency, the Keras files' baseline speed.
        like: a model of the same architecture without optimizer (the stripped export), used
            to write the Keras baselines with ``model``'s weights; its own weights are put back.
        tflite: ``tflite() -> bytes | None``, the unpruned model's float32 TFLite file made
            elsewhere (the export's converter process); by default it is converted here.

    Returns:
        ``{format: Baseline}``; a format whose baseline could not be written is left out.
    """
    out: dict[str, Baseline] = {}
    written: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="prune-studio-baseline-") as tmpdir:
        folder = Path(tmpdir)
        if "tflite" in formats:
            try:
                content = tflite() if tflite is not None else convert(model, "float32")
                if content is None:
                    raise ExportError("the baseline's TFLite file could not be made.")
                result = verify.verify_tflite(content, x, y)
                path = folder / "baseline.tflite"
                path.write_bytes(content)
                out["tflite"] = Baseline("unpruned float32 TFLite", len(content), 0,
                                         None if result.error else result.latency_ms)
                written["tflite"] = path
            except ExportError:
                pass
        if formats & {"keras", "h5"}:
            with _without_optimizer(model, like) as plain:
                for fmt in sorted(formats & {"keras", "h5"}):
                    path = folder / f"baseline.{fmt}"
                    try:
                        with warnings.catch_warnings():
                            warnings.filterwarnings("ignore", message=".*HDF5 file.*legacy", category=UserWarning)
                            plain.save(path, **({"include_optimizer": False} if fmt == "h5" else {}))
                    except Exception:  # noqa: BLE001 - no baseline then; the export itself reports errors
                        continue
                    out[fmt] = Baseline(f"unpruned .{fmt} without optimizer state", path.stat().st_size,
                                        0, keras_latency_ms)
                    written[fmt] = path
        # Measured after the timed run above, several at once (see prune_studio.export.sizes).
        for fmt, size in zip(written, gzip_sizes(list(written.values()))):
            out[fmt].gzip_bytes = size
    return out

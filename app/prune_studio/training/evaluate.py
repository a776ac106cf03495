"""Evaluate a Keras model on a data set's test split, the same way everywhere.

The baseline before pruning, the result after it, and ``prune-studio-cli evaluate`` all use
:func:`evaluate_keras`, so their numbers are comparable.
"""

from __future__ import annotations

import contextlib
from typing import Any

from prune_studio.compat import keras, tf
from prune_studio.training.errors import TrainingError


def compile_for(model: "keras.Model", compile_settings: Any, optimizer: Any = "adam") -> None:
    """Compile ``model`` with the loss and metrics of ``compile_settings`` (a ``CompileSettings``)."""
    model.compile(optimizer=optimizer, loss=compile_settings.keras_loss(), metrics=list(compile_settings.metrics))


def test_inputs(dataset: Any, batch_size: int) -> dict[str, Any]:
    """Keyword arguments for ``Model.evaluate`` over the test split (numpy or a tf.data pipeline)."""
    if getattr(dataset, "x_test", None) is not None:
        return {"x": dataset.x_test, "y": dataset.y_test, "batch_size": batch_size}
    return {"x": dataset.test_ds(batch_size)}


def evaluate_keras(model: "keras.Model", dataset: Any, compile_settings: Any = None, batch_size: int = 64) -> dict:
    """Loss and metrics of ``model`` on ``dataset``'s test split, as plain floats.

    Args:
        model: a tf-keras model; compiled here with ``compile_settings`` when given, and also when
            it was never compiled (then the settings are inferred from the data).
        dataset: a :class:`prune_studio.data.Dataset`.
        compile_settings: a ``CompileSettings``; ``None`` keeps the model's own compile state.
        batch_size: evaluation batch size.

    Raises:
        TrainingError: the data does not fit the model, or memory ran out.
    """
    if compile_settings is None and not getattr(model, "compiled_loss", None):
        from prune_studio.models import infer_compile_settings

        compile_settings = infer_compile_settings(model, getattr(dataset, "y_train", None))
    if compile_settings is not None:
        compile_for(model, compile_settings)
    with translated_errors(batch_size):
        logs = model.evaluate(verbose=0, return_dict=True, **test_inputs(dataset, batch_size))
    return {k: float(v) for k, v in logs.items()}


@contextlib.contextmanager
def translated_errors(batch_size: int):
    """Turn TensorFlow's run-time errors (memory, data) into a readable :class:`TrainingError`."""
    try:
        yield
    except (tf.errors.ResourceExhaustedError, MemoryError) as exc:
        raise TrainingError(f"Ran out of memory with batch size {batch_size}; try a smaller batch size.") from exc
    except (tf.errors.InvalidArgumentError, ValueError) as exc:
        if isinstance(exc, ValueError) and not _about_data(exc):
            raise
        raise TrainingError(f"The data does not fit the model: {first_line(exc)}.") from exc


def _about_data(exc: ValueError) -> bool:
    """Whether Keras rejected the inputs or labels (rather than failing for another reason)."""
    text = str(exc).lower()
    return any(word in text for word in ("shape", "incompatible", "input", "label", "dtype"))


def first_line(exc: BaseException, limit: int = 240) -> str:
    """The first meaningful line of an exception message, shortened for a one-line display."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = lines[-1] if lines and lines[0].startswith("in user code") else (lines[0] if lines else type(exc).__name__)
    text = text.rstrip(".")
    return text if len(text) <= limit else text[: limit - 1] + "…"

"""Evaluate a Keras model on a data set's test split, the same way everywhere.

The baseline before pruning, the result after it, and ``prune-studio-cli evaluate`` all use
:func:`evaluate_keras`, so their numbers are comparable. A model with several outputs gets its
per-output metrics (``<output>_accuracy``) plus one headline ``accuracy`` (their mean).
"""

from __future__ import annotations

from typing import Any

from prune_studio.compat import keras
from prune_studio.training.errors import TrainingError, translated_errors
from prune_studio.training.metrics import with_headline

__all__ = ["compile_for", "evaluate_keras", "test_inputs", "translated_errors", "TrainingError"]


def compile_for(model: "keras.Model", compile_settings: Any, optimizer: Any = "adam",
                output_names: "list[str] | dict[str, str] | None" = None) -> None:
    """Compile ``model`` with the loss(es), metrics and loss weights of ``compile_settings``.

    Args:
        output_names: the names ``compile_settings`` uses for the model's outputs, in the
            model's output order, when the model calls them otherwise (pruning wrappers rename
            an output layer ``prune_low_magnitude_<name>``); per-output settings then go in as
            lists, matched by position. A dict ``{name: key}`` instead keys them by the
            model's own output keys (a model whose outputs are a dict).
    """
    s = compile_settings
    names = list(output_names) if output_names is not None else None
    loss, metrics, weights = s.keras_loss(names), s.keras_metrics(names), s.keras_loss_weights(names)
    if isinstance(output_names, dict) and s.outputs:
        keys = list(output_names.values())
        loss, metrics = dict(zip(keys, loss)), dict(zip(keys, metrics))
        weights = dict(zip(keys, weights)) if weights is not None else None
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, loss_weights=weights)


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

    Returns:
        ``{"loss": .., "accuracy": .., ...}``; with several outputs also ``<output>_loss`` and
        ``<output>_<metric>`` per output, and ``accuracy`` is the mean of the outputs' accuracies.

    Raises:
        TrainingError: the data does not fit the model, memory ran out, or TensorFlow failed.
    """
    if compile_settings is None and not getattr(model, "compiled_loss", None):
        from prune_studio.models import infer_compile_settings

        compile_settings = infer_compile_settings(model, getattr(dataset, "y_train", None))
    if compile_settings is not None:
        compile_for(model, compile_settings)
    with translated_errors(batch_size, "Evaluating"):
        logs = model.evaluate(verbose=0, return_dict=True, **test_inputs(dataset, batch_size))
    return with_headline({k: float(v) for k, v in logs.items()}, list(getattr(model, "output_names", None) or []))

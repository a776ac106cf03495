"""Fine-tune a model with a pruning plan: the run the window and the CLI both start.

Baseline evaluation, wrap with the plan, fit with the engine's ``UpdatePruningStep`` (and
``PruningSummaries`` when a log folder is given), strip, final evaluation. Works inside a
``tf.distribute`` strategy: the wrapped model and its optimizer are built in its scope.

Example::

    result = fine_tune(model, plan, dataset, TrainingSettings(epochs=2), listener=my_listener)
    result.stripped_model.save("pruned.keras")
"""

from __future__ import annotations

import contextlib
import importlib.util
from dataclasses import dataclass, field
from typing import Any

from prune_studio.compat import keras, tf
from prune_studio.pruning import PruningSummaries, UpdatePruningStep, apply_plan, strip_pruning
from prune_studio.training.callback import RunCallback, sparsity_snapshot
from prune_studio.training.control import RunControl
from prune_studio.training.errors import TrainingError
from prune_studio.training.evaluate import compile_for, evaluate_keras, translated_errors
from prune_studio.training.listener import TrainingListener
from prune_studio.training.settings import TrainingSettings, steps_per_epoch


@dataclass
class FineTuneResult:
    """What a run produced.

    Attributes:
        wrapped_model: the model with pruning wrappers (masks included), as trained.
        stripped_model: the same weights without wrappers, compiled, ready to export.
        baseline: test metrics before pruning, e.g. ``{"loss": .., "accuracy": ..}``.
        final: test metrics of the stripped model.
        history: ``Model.fit`` history (per-epoch lists).
        stopped: the user stopped the run early.
        skipped: layers the plan enabled but the engine left dense, with the reason.
        sparsity: zeros share per pruned layer at the end.
    """

    wrapped_model: Any
    stripped_model: Any
    baseline: dict[str, float]
    final: dict[str, float]
    history: dict[str, list[float]]
    stopped: bool
    skipped: dict[str, str] = field(default_factory=dict)
    sparsity: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able part (everything but the models)."""
        return {
            "baseline": dict(self.baseline),
            "final": dict(self.final),
            "history": {k: list(v) for k, v in self.history.items()},
            "stopped": self.stopped,
            "skipped": dict(self.skipped),
            "sparsity": dict(self.sparsity),
        }


def make_optimizer(settings: TrainingSettings) -> "keras.optimizers.Optimizer":
    """The optimizer named by ``settings`` at its learning rate."""
    return keras.optimizers.get({"class_name": settings.optimizer, "config": {"learning_rate": settings.learning_rate}})


def _fit_inputs(dataset: Any, settings: TrainingSettings) -> dict[str, Any]:
    if getattr(dataset, "x_train", None) is not None:
        return {
            "x": dataset.x_train,
            "y": dataset.y_train,
            "batch_size": settings.batch_size,
            "validation_split": settings.validation_split,
        }
    return {"x": dataset.train_ds(settings.batch_size)}


def fine_tune(
    model: "keras.Model",
    plan: Any,
    dataset: Any,
    settings: TrainingSettings,
    compile_settings: Any = None,
    listener: TrainingListener | None = None,
    control: RunControl | None = None,
    strategy: "tf.distribute.Strategy | None" = None,
    logdir: str | None = None,
) -> FineTuneResult:
    """Prune ``model`` with ``plan`` while fine-tuning it on ``dataset``.

    Args:
        model: the unpruned tf-keras model (left unchanged apart from being compiled).
        plan: a :class:`prune_studio.pruning.plan.PruningPlan`.
        dataset: a :class:`prune_studio.data.Dataset`.
        settings: epochs, batch size, optimizer, learning rate, validation share.
        compile_settings: loss and metrics; inferred from the model and labels when ``None``.
        listener: receives progress (from this thread).
        control: stop/pause from another thread.
        strategy: a ``tf.distribute`` strategy (mirrored, multi-worker); ``None`` for the default.
        logdir: folder for TensorBoard logs (loss, accuracy, per-layer sparsity).

    Raises:
        TrainingError: invalid settings, NaN loss, out of memory, or data that does not fit.
    """
    settings.validate()
    if logdir and importlib.util.find_spec("tensorboard") is None:
        raise TrainingError(
            f"Writing TensorBoard logs to {logdir} needs the 'tensorboard' package; install it or drop the log folder.",
            field="logdir",
        )
    listener = listener or TrainingListener()
    control = control or RunControl()
    if compile_settings is None:
        from prune_studio.models import infer_compile_settings

        compile_settings = infer_compile_settings(model, getattr(dataset, "y_train", None))

    listener.on_log("Evaluating the unpruned model.")
    baseline = evaluate_keras(model, dataset, compile_settings, settings.batch_size)
    listener.on_baseline(baseline)

    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        pruned = apply_plan(model, plan, strict=False)  # a copy: the baseline model stays as it is
        wrapped = pruned.model
        compile_for(wrapped, compile_settings, optimizer=make_optimizer(settings))
    for name, reason in pruned.skipped.items():
        listener.on_log(f"Layer {name} stays dense: {reason}")

    per_epoch = steps_per_epoch(settings, dataset.num_train)
    listener.on_run_start(settings.epochs * per_epoch, per_epoch, settings.epochs)
    run = RunCallback(listener, control)
    callbacks = [UpdatePruningStep(), run]
    if logdir:
        callbacks.append(PruningSummaries(log_dir=str(logdir)))
    with translated_errors(settings.batch_size):
        history = wrapped.fit(epochs=settings.epochs, verbose=0, callbacks=callbacks, **_fit_inputs(dataset, settings))
    if run.nan_at is not None:
        step, epoch = run.nan_at
        raise TrainingError(
            f"The loss became NaN at step {step} (epoch {epoch + 1}); lower the learning rate "
            f"(now {settings.learning_rate:g}) or check the data for missing values."
        )
    run.report_sparsity(force=True)

    stripped = strip_pruning(wrapped)
    final = evaluate_keras(stripped, dataset, compile_settings, settings.batch_size)
    listener.on_log(f"Done: accuracy {_metric(baseline)} before, {_metric(final)} after.")
    result = FineTuneResult(
        wrapped_model=wrapped,
        stripped_model=stripped,
        baseline=baseline,
        final=final,
        history={k: [float(v) for v in vals] for k, vals in history.history.items()},
        stopped=run.stopped,
        skipped=dict(pruned.skipped),
        sparsity=sparsity_snapshot(wrapped)[2],
    )
    listener.on_run_end(result)
    return result


def _metric(metrics: dict[str, float]) -> str:
    value = metrics.get("accuracy")
    return f"{value:.2%}" if value is not None else f"loss {metrics.get('loss', float('nan')):.4f}"

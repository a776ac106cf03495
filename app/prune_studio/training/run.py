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
import time
from dataclasses import dataclass, field
from typing import Any

from prune_studio.compat import keras, tf
from prune_studio.pruning import PruningSummaries, UpdatePruningStep, apply_plan, strip_pruning
from prune_studio.training.callback import RunCallback, sparsity_snapshot
from prune_studio.training.control import RunControl
from prune_studio.training.epoch_check import BatchNormPhase, EpochCheck, split_validation
from prune_studio.training.errors import TrainingError
from prune_studio.training.evaluate import compile_for, evaluate_keras, translated_errors
from prune_studio.training.guard import FINAL_DROP_WARNING, AccuracyGuard
from prune_studio.training.listener import TrainingListener
from prune_studio.training.metrics import OutputNames, per_output_accuracy, with_headline
from prune_studio.training.optimizers import make_optimizer
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


def output_keys(wrapped: Any, output_names: list[str]) -> "list[str] | dict[str, str]":
    """How the wrapped model wants per-output labels and losses: ``output_names`` in its output
    order (a list, matched by position), or ``{name: key}`` when its outputs are a dict (Keras
    then matches by key; ``model.outputs`` follows the keys' sorted order)."""
    nested = getattr(wrapped, "_nested_outputs", None)
    if isinstance(nested, dict) and len(nested) == len(output_names):
        return dict(zip(output_names, sorted(nested)))
    return list(output_names)


def _fit_inputs(dataset: Any, settings: TrainingSettings,
                keys: "list[str] | dict[str, str]") -> tuple[dict[str, Any], tuple[Any, Any] | None]:
    """``fit`` arguments and the held-out ``(x, y)`` that :class:`EpochCheck` validates on.

    Labels by output name go in the structure ``keys`` says.
    """
    if getattr(dataset, "x_train", None) is not None:
        y = dataset.y_train
        if isinstance(y, dict):
            y = {key: y[name] for name, key in keys.items()} if isinstance(keys, dict) else [y[n] for n in keys]
        x, y, x_val, y_val = split_validation(dataset.x_train, y, settings.validation_split)
        return {"x": x, "y": y, "batch_size": settings.batch_size}, (x_val, y_val)
    return {"x": dataset.train_ds(settings.batch_size)}, None


@contextlib.contextmanager
def _phase(listener: TrainingListener, name: str):
    """Report a phase of the run to ``listener``: its start, then its duration."""
    listener.on_phase(name, None)
    start = time.monotonic()
    yield
    listener.on_phase(name, time.monotonic() - start)


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
    compile_settings = compile_settings.for_model(model, getattr(dataset, "y_train", None))
    outputs = list(getattr(model, "output_names", None) or [])

    listener.on_log("Evaluating the unpruned model.")
    with _phase(listener, "Evaluating"):
        baseline = evaluate_keras(model, dataset, compile_settings, settings.batch_size)
    listener.on_baseline(baseline)

    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        pruned = apply_plan(model, plan, strict=False)  # a copy: the baseline model stays as it is
        wrapped = pruned.model
        keys = output_keys(wrapped, outputs)
        compile_for(wrapped, compile_settings, optimizer=make_optimizer(settings), output_names=keys)
    renamed = OutputNames(outputs, list(getattr(wrapped, "output_names", None) or []))
    for name, reason in pruned.skipped.items():
        listener.on_log(f"Layer {name} stays dense: {reason}")

    per_epoch = steps_per_epoch(settings, dataset.num_train)
    listener.on_run_start(settings.epochs * per_epoch, per_epoch, settings.epochs)
    run = RunCallback(listener, control, renamed.logs)
    fit_inputs, validation = _fit_inputs(dataset, settings, keys)
    # the guard's yardstick: the unpruned model on the same held-out examples (with several
    # outputs, the mean of their accuracies, as the headline accuracy)
    val_baseline = _validation_accuracy(model, _own_validation(dataset, settings, validation), settings.batch_size,
                                        outputs)
    batchnorm = BatchNormPhase(wrapped, dataset, listener) if settings.reestimate_batchnorm else None
    guard = AccuracyGuard(listener, val_baseline, model, plan, settings.learning_rate, settings.epochs * per_epoch)
    check = EpochCheck(batchnorm, validation, settings.batch_size, guard, lambda: sparsity_snapshot(wrapped)[0],
                       headline=renamed.logs)
    callbacks = [UpdatePruningStep(), check, run]
    if logdir:
        callbacks.append(PruningSummaries(log_dir=str(logdir)))
    with translated_errors(settings.batch_size), _phase(listener, "Fine-tuning"):
        history = wrapped.fit(epochs=settings.epochs, verbose=0, callbacks=callbacks, **fit_inputs)
    if run.nan_at is not None:
        step, epoch = run.nan_at
        raise TrainingError(
            f"The loss became NaN at step {step} (epoch {epoch + 1}); lower the learning rate "
            f"(now {settings.learning_rate:g}) or check the data for missing values."
        )
    run.report_sparsity(force=True)
    if batchnorm is not None and batchnorm.active:
        batchnorm()  # the masks changed since the last epoch end (or the run stopped mid-epoch)

    with _phase(listener, "Stripping"):
        stripped = strip_pruning(wrapped)
    with _phase(listener, "Evaluating"):
        final = evaluate_keras(stripped, dataset, compile_settings, settings.batch_size)
    if "accuracy" in baseline and "accuracy" in final:
        guard.baseline = baseline["accuracy"]
        guard.check(final["accuracy"], sparsity_snapshot(wrapped)[0], where="Test accuracy after the fine-tune",
                    limit=FINAL_DROP_WARNING)
    listener.on_log(f"Done: accuracy {_metric(baseline, outputs)} before, {_metric(final, outputs)} after.")
    result = FineTuneResult(
        wrapped_model=wrapped,
        stripped_model=stripped,
        baseline=baseline,
        final=final,
        history=_history(history.history, renamed),
        stopped=run.stopped,
        skipped=dict(pruned.skipped),
        sparsity=sparsity_snapshot(wrapped)[2],
    )
    listener.on_run_end(result)
    return result


def _history(history: dict, renamed: "OutputNames") -> dict[str, list[float]]:
    """Per-epoch lists under the model's own output names, plus the headline accuracy."""
    epochs = len(next(iter(history.values()), []))
    rows = [renamed.logs({k: float(v[i]) for k, v in history.items()}) for i in range(epochs)]
    return {k: [row[k] for row in rows] for k in (rows[0] if rows else {})}


def _own_validation(dataset: Any, settings: TrainingSettings, validation: tuple[Any, Any] | None):
    """The held-out examples with labels by the unpruned model's own output names (the wrapped
    model's ``validation`` may key them by its renamed outputs)."""
    y = getattr(dataset, "y_train", None)
    if validation is None or not isinstance(y, dict):
        return validation
    _, _, x_val, y_val = split_validation(dataset.x_train, y, settings.validation_split)
    return x_val, y_val


def _validation_accuracy(model: "keras.Model", validation: tuple[Any, Any] | None, batch_size: int,
                         outputs: list[str] = ()) -> float | None:
    """The unpruned model's (headline) accuracy on the held-out examples, the guard's yardstick."""
    if validation is None or len(tf.nest.flatten(validation[0])[0]) == 0:
        return None
    values = with_headline(model.evaluate(*validation, batch_size=batch_size, verbose=0, return_dict=True),
                           list(outputs))
    return float(values["accuracy"]) if "accuracy" in values else None


def _metric(metrics: dict[str, float], outputs: list[str] = ()) -> str:
    value = metrics.get("accuracy")
    if value is None:
        return f"loss {metrics.get('loss', float('nan')):.4f}"
    each = per_output_accuracy(metrics, outputs) if len(outputs) > 1 else {}
    return f"{value:.2%}" + (f" ({', '.join(f'{k} {v:.2%}' for k, v in each.items())})" if each else "")

"""What happens at each epoch end of a fine-tune: fresh BatchNorm statistics, validation, the guard.

Keras would validate with the BatchNormalization moving statistics as they are, which lag the
masks the epoch just applied, so validation accuracy would read far lower than what the model
scores once exported (after its statistics are re-estimated). :class:`EpochCheck` runs instead
of Keras's own validation: it re-estimates the statistics (a phase of the run), evaluates the
held-out examples, adds ``val_*`` to the epoch's logs (the History and the listener see them
as usual) and lets the :class:`~prune_studio.training.guard.AccuracyGuard` look at them.
"""

from __future__ import annotations

import math
import time
from typing import Any

from prune_studio.compat import keras, tf
from prune_studio.training.batchnorm import BatchNormEstimator, training_sample

PHASE_BATCHNORM = "Re-estimating BatchNorm statistics"


def split_validation(x: Any, y: Any, validation_split: float) -> tuple[Any, Any, Any, Any]:
    """``(x_train, y_train, x_val, y_val)``: the last share held out, as ``Model.fit`` does it.

    ``x`` and ``y`` may be arrays or lists/dicts of arrays (several inputs or outputs).
    """
    size = len(tf.nest.flatten(x)[0])
    held = int(size * validation_split)
    cut = size - held

    def head(a):
        return a[:cut]

    def tail(a):
        return a[cut:]

    return (tf.nest.map_structure(head, x), tf.nest.map_structure(head, y),
            tf.nest.map_structure(tail, x), tf.nest.map_structure(tail, y))


class BatchNormPhase:
    """Re-estimates one model's BatchNormalization statistics and reports it as a run phase."""

    def __init__(self, model: "keras.Model", dataset: Any, listener: Any, num_samples: int = 512):
        self.estimator = BatchNormEstimator(model)
        self.listener = listener
        self.sample = training_sample(dataset, num_samples) if self.estimator.layers else None

    @property
    def active(self) -> bool:
        return bool(self.estimator.layers)

    def __call__(self) -> float:
        """Re-estimate now; returns the seconds it took (0 when the model has no BatchNorm)."""
        if not self.active:
            return 0.0
        self.listener.on_phase(PHASE_BATCHNORM, None)
        start = time.monotonic()
        self.estimator(self.sample)
        seconds = time.monotonic() - start
        self.listener.on_phase(PHASE_BATCHNORM, seconds)
        return seconds


class EpochCheck(keras.callbacks.Callback):
    """At each epoch end: re-estimate BatchNorm (when asked), validate, and run the guard.

    Must come before the callback that forwards epoch logs to the listener.

    Args:
        batchnorm: a :class:`BatchNormPhase`, or ``None`` to leave the statistics alone.
        validation: ``(x_val, y_val)`` or ``None``.
        batch_size: the evaluation batch size.
        guard: an :class:`~prune_studio.training.guard.AccuracyGuard` or ``None``.
        sparsity: a function returning the overall zeros share now.
        headline: turns the evaluation's metrics into the model's own names plus the headline
            ``accuracy`` (for several outputs, the mean of theirs), which the guard checks.
    """

    def __init__(self, batchnorm: BatchNormPhase | None, validation: tuple[Any, Any] | None, batch_size: int,
                 guard: Any = None, sparsity: Any = None, headline: Any = None):
        super().__init__()
        self.headline = headline or (lambda values: values)
        self.batchnorm = batchnorm
        self.validation = validation
        self.batch_size = batch_size
        self.guard = guard
        self.sparsity = sparsity or (lambda: 0.0)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        loss = logs.get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            return  # the run is about to report the NaN
        if self.batchnorm is not None:
            self.batchnorm()
        if self.validation is None:
            return
        x_val, y_val = self.validation
        if len(tf.nest.flatten(x_val)[0]) == 0:
            return
        values = self.model.evaluate(x_val, y_val, batch_size=self.batch_size, verbose=0, return_dict=True)
        logs.update({f"val_{k}": float(v) for k, v in values.items()})
        named = self.headline({k: float(v) for k, v in values.items()})
        if self.guard is not None and "accuracy" in named:
            self.guard.check(float(named["accuracy"]), self.sparsity())

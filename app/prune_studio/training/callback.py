"""The Keras callback that connects a fit to a listener and a :class:`RunControl`.

It forwards batch and epoch logs, reads the engine's sparsity report at most ~10 times a
second, honours stop (``model.stop_training = True``, the way ``TerminateOnNaN`` ends a fit)
and pause (blocks between batches), and stops on a NaN loss so the run can report it.
"""

from __future__ import annotations

import math
import time
from typing import Any

from prune_studio.compat import keras
from prune_studio.pruning.report import sparsity_report
from prune_studio.training.control import RunControl
from prune_studio.training.listener import TrainingListener

SPARSITY_INTERVAL_S = 0.1


def sparsity_snapshot(model: "keras.Model") -> tuple[float, float, dict[str, float]]:
    """``(overall, target, per-layer)`` zeros share of the wrapped layers, weighted by size."""
    layers = sparsity_report(model)
    total = sum(layer.total for layer in layers)
    if not total:
        return 0.0, 0.0, {}
    overall = sum(layer.sparsity * layer.total for layer in layers) / total
    target = sum(layer.target * layer.total for layer in layers) / total
    return float(overall), float(target), {layer.name: float(layer.sparsity) for layer in layers}


class RunCallback(keras.callbacks.Callback):
    """Reports a fit to ``listener`` and obeys ``control``.

    Attributes:
        step: batches finished so far in this run.
        nan_at: ``(step, epoch)`` of the first non-finite loss, or ``None``.
    """

    def __init__(self, listener: TrainingListener, control: RunControl, translate=None):
        """``translate(logs) -> logs`` renames per-output metrics (see ``metrics.OutputNames``)."""
        super().__init__()
        self._translate = translate or (lambda logs: logs)
        self.listener = listener
        self.control = control
        self.step = 0
        self.epoch = 0
        self.nan_at: tuple[int, int] | None = None
        self.stopped = False
        self._last_sparsity = -math.inf

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.step += 1
        values = self._translate(_floats(logs))
        loss = values.get("loss")
        if loss is not None and not math.isfinite(loss):
            self.nan_at = (self.step, self.epoch)
            self.model.stop_training = True
            return
        self.listener.on_batch_end(self.step, self.epoch, values)
        self.report_sparsity()
        if self.control.paused and not self.control.stopped:
            self.listener.on_log(f"Paused after step {self.step}.")
            self.control.wait_while_paused()
            if not self.control.stopped:
                self.listener.on_log("Resumed.")
        if self.control.stopped and not self.stopped:
            self.stopped = True
            self.listener.on_log(f"Stopped after step {self.step}.")
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.nan_at is None:
            self.listener.on_epoch_end(epoch, self._translate(_floats(logs)))

    def report_sparsity(self, force: bool = False) -> None:
        """Send the sparsity snapshot, unless one went out less than 0.1 s ago (or ``force``)."""
        now = time.monotonic()
        if not force and now - self._last_sparsity < SPARSITY_INTERVAL_S:
            return
        self._last_sparsity = now
        overall, target, layers = sparsity_snapshot(self.model)
        self.listener.on_sparsity(self.step, overall, target, layers)


def _floats(logs: Any) -> dict[str, float]:
    return {k: float(v) for k, v in (logs or {}).items()}

"""Run a fine-tune in a worker thread and bring its events to the GUI at a bounded rate.

The training thread only appends events to a :class:`RunFeed` (a locked list); a 100 ms
timer on the GUI thread drains it and emits one Qt signal per kind. However fast batches
come, the GUI handles at most ten bursts a second, and the GUI thread never touches
TensorFlow.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from PySide6.QtCore import QObject, QTimer, Signal

from prune_studio.ui.worker import Worker

log = logging.getLogger(__name__)
DRAIN_INTERVAL_MS = 100


class RunFeed:
    """Thread-safe list of ``(kind, args)`` events written by the training thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[tuple[str, tuple]] = []

    def put(self, kind: str, *args: Any) -> None:
        with self._lock:
            self._events.append((kind, args))

    def drain(self) -> list[tuple[str, tuple]]:
        with self._lock:
            events, self._events = self._events, []
        return events


def make_listener(feed: RunFeed):
    """A :class:`~prune_studio.training.TrainingListener` that writes every call to ``feed``.

    Imported lazily so the window starts before the training package loads.
    """
    from prune_studio.training.listener import TrainingListener

    class FeedListener(TrainingListener):
        def on_run_start(self, total_steps, steps_per_epoch, epochs):
            feed.put("run_start", total_steps, steps_per_epoch, epochs)

        def on_baseline(self, metrics):
            feed.put("baseline", dict(metrics))

        def on_batch_end(self, step, epoch, logs):
            feed.put("batch", step, epoch, dict(logs))

        def on_epoch_end(self, epoch, logs):
            feed.put("epoch", epoch, dict(logs))

        def on_sparsity(self, step, overall, target, layers):
            feed.put("sparsity", step, overall, target, dict(layers))

        def on_log(self, message):
            feed.put("log", message)

        def on_phase(self, name, seconds):
            feed.put("phase", name, seconds)

        def on_warning(self, kind, message):
            feed.put("warning", kind, message)

    return FeedListener()


class RunController(QObject):
    """Owns one run at a time: its worker thread, its :class:`RunControl` and its feed.

    ``start(task)`` calls ``task(listener, control)`` in a thread; the task returns the run's
    result (a ``FineTuneResult``) or raises.
    """

    runStarted = Signal(int, int, int)  # total steps, steps per epoch, epochs
    baseline = Signal(dict)
    batches = Signal(list)  # [(step, epoch, logs), ...] since the last drain
    epochEnded = Signal(int, dict)
    sparsity = Signal(int, float, float, dict)
    logLine = Signal(str)
    phase = Signal(str, object)  # phase name, seconds (None when it starts)
    warning = Signal(str, str)  # kind ("accuracy_drop"), one sentence
    finished = Signal(object)  # the task's result
    failed = Signal(object)  # the exception
    stateChanged = Signal(str)  # idle | running | paused | stopping

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._worker: Worker | None = None
        self._control = None
        self._feed = RunFeed()
        self._state = "idle"
        self._outcome: tuple[str, Any] | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(DRAIN_INTERVAL_MS)
        self._timer.timeout.connect(self._drain)

    @property
    def state(self) -> str:
        return self._state

    @property
    def running(self) -> bool:
        return self._worker is not None

    def start(
        self, task: Callable[[Any, Any], Any], defer: Callable[[Callable[[], None]], None] | None = None
    ) -> None:
        """Start ``task(listener, control)`` in a worker thread (one run at a time).

        The run counts as started at once. ``defer(start_thread)``, when given, decides when the
        thread itself starts: the window starts it after the charts have been painted, so that
        paint does not compete for the GIL with TensorFlow building the training graph.
        """
        if self.running:
            raise RuntimeError("a run is already in progress")
        from prune_studio.training.control import RunControl

        self._feed = RunFeed()
        self._control = RunControl()
        listener = make_listener(self._feed)
        worker = Worker(task, listener, self._control, pass_report=False)
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_errored)
        worker.done.connect(self._on_done)
        self._worker = worker
        # Full garbage collections (0.3-1.3 s with the GIL held once TensorFlow has traced a
        # model) wait until no worker runs: see prune_studio.ui.idle_gc.
        self._set_state("running")
        self._timer.start()
        if defer is None:
            worker.start()
        else:
            defer(worker.start)

    def pause(self) -> None:
        if self._control is not None and self._state == "running":
            self._control.pause()
            self._set_state("paused")

    def resume(self) -> None:
        if self._control is not None and self._state == "paused":
            self._control.resume()
            self._set_state("running")

    def stop(self) -> None:
        """Ask the run to stop at the next batch (also releases a pause)."""
        if self._control is not None and self.running:
            self._control.stop()
            self._set_state("stopping")

    def wait(self, msecs: int = 60000) -> bool:
        """Block until the worker thread has ended (for shutdown paths); True when it did."""
        return self._worker.wait(msecs) if self._worker is not None else True

    def _set_state(self, state: str) -> None:
        self._state = state
        self.stateChanged.emit(state)

    def _drain(self) -> None:
        batch: list = []
        for kind, args in self._feed.drain():
            if kind == "batch":
                batch.append(args)
                continue
            if batch:
                self.batches.emit(batch)
                batch = []
            if kind == "run_start":
                self.runStarted.emit(*args)
            elif kind == "baseline":
                self.baseline.emit(*args)
            elif kind == "epoch":
                self.epochEnded.emit(*args)
            elif kind == "sparsity":
                self.sparsity.emit(*args)
            elif kind == "log":
                self.logLine.emit(*args)
            elif kind == "phase":
                self.phase.emit(*args)
            elif kind == "warning":
                self.warning.emit(*args)
        if batch:
            self.batches.emit(batch)

    def _on_returned(self, result: Any) -> None:
        self._drain()
        self._outcome = ("finished", result)

    def _on_errored(self, exc: BaseException) -> None:
        self._drain()
        self._outcome = ("failed", exc)

    def _on_done(self) -> None:
        worker, self._worker = self._worker, None
        self._timer.stop()
        self._drain()
        if worker is not None:
            worker.wait()
            worker.deleteLater()
        self._control = None
        self._set_state("idle")
        kind, value = self._outcome or ("failed", RuntimeError("the run ended without a result"))
        self._outcome = None
        (self.finished if kind == "finished" else self.failed).emit(value)

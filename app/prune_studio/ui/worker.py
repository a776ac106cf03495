"""Run long core work off the GUI thread, with a standard set of signals.

The core reports through plain callbacks; :class:`Worker` turns them into queued Qt
signals. Cancellation is cooperative: the task receives a :class:`threading.Event`-like
``control`` object and checks it (see :class:`prune_studio.training.control.RunControl`).

Example::

    worker = Worker(fn, arg1, kw=2)   # fn(*args, report=..., **kw)
    worker.returned.connect(on_done)
    worker.errored.connect(on_error)
    worker.start()
"""

from __future__ import annotations

import logging
import os
import threading
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal

log = logging.getLogger(__name__)

#: How much lower than the GUI thread background work runs (Unix nice steps). Threads that
#: TensorFlow starts from a worker inherit it, so on a busy machine the GUI keeps its share of
#: the CPU and stays responsive while a fine-tune uses every core.
BACKGROUND_NICENESS = 10


def _lower_this_threads_priority(steps: int) -> None:
    """Make the calling thread (only it, on Linux) ``steps`` nicer; a no-op where unsupported."""
    if steps <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + steps))
    except OSError as exc:  # not permitted or not supported: run at normal priority
        log.debug("could not lower the worker thread's priority: %s", exc)


class _Signals(QObject):
    started = Signal()
    progress = Signal(object)  # whatever the task passes to report(...)
    returned = Signal(object)
    errored = Signal(object)  # the exception; its traceback is logged
    finished = Signal()


#: Workers started and not yet finished, so the application can wait for them before it exits.
_running: set["Worker"] = set()


def busy() -> bool:
    """Whether any :class:`Worker` is running."""
    return bool(_running)


def wait_for_all() -> None:
    """Block until every running :class:`Worker` has returned (at application exit).

    A QThread destroyed while it runs aborts the process ("QThread: Destroyed while thread is
    still running"); a window closed while a model is still being built in the background
    must not crash on the way out.
    """
    for worker in list(_running):
        worker.wait()


class Worker(QThread):
    """Calls ``fn(*args, report=callable, **kwargs)`` in a thread.

    ``report(value)`` may be called from the task any number of times; each value arrives
    on the GUI thread through :attr:`progress`. Pass ``pass_report=False`` for a task that
    takes no ``report`` argument.
    """

    def __init__(self, fn: Callable[..., Any], *args: Any, pass_report: bool = True, **kwargs: Any):
        super().__init__()
        self._fn, self._args, self._kwargs = fn, args, kwargs
        self._pass_report = pass_report
        self.signals = _Signals()
        self.progress = self.signals.progress
        self.returned = self.signals.returned
        self.errored = self.signals.errored
        self.done = self.signals.finished  # QThread.finished exists too; this one fires after returned/errored
        self.result: Any = None
        self.error: BaseException | None = None
        self.finished.connect(lambda: _running.discard(self))

    def start(self, *args: Any) -> None:
        _running.add(self)
        super().start(*args)

    def run(self) -> None:  # runs in the thread
        _lower_this_threads_priority(BACKGROUND_NICENESS)
        threading.current_thread().name = f"worker:{getattr(self._fn, '__name__', 'task')}"  # for stack dumps
        self.signals.started.emit()
        kwargs = dict(self._kwargs)
        if self._pass_report:
            kwargs["report"] = self.signals.progress.emit
        try:
            self.result = self._fn(*self._args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - everything is reported to the GUI
            self.error = exc
            log.error("background task failed:\n%s", traceback.format_exc())
            self.signals.errored.emit(exc)
        else:
            self.signals.returned.emit(self.result)
        finally:
            self.signals.finished.emit()

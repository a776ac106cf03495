"""Python's full garbage collections, run only while the window is idle.

A full (generation 2) collection walks every tracked object with the GIL held. After
TensorFlow has traced a model there are hundreds of thousands of them: measured with
``tests/benchmarks/gil_calls.py``, collections during MobileNetV2's run start-up took up to
430 ms, four times, in the worker thread, and the window froze each time. Freezing the heap at
run start (what the window did before) only postponed them: objects made while tracing still
filled the old generation, and unfreezing at the end put everything back for the next
collection to walk.

So the window turns automatic full collections off (young generations are still collected
automatically: that walk is bounded by a few thousand objects) and runs one itself when no
background work has run for :data:`IDLE_MS` and the collector would have wanted one by its
default rule (ten young collections since the last full one).

Idle means the user is idle too: no key, click, wheel or mouse move in any of the
application's windows for :data:`INPUT_QUIET_MS` (after a MobileNetV2 run a full collection
takes 250-600 ms; one started 3 s after the run ended caught the user's click on Export). And
each collection freezes what survived it (``gc.freeze``), so the next one walks only the objects
made since: measured after MobileNetV2 runs, 250 ms of CPU instead of 360 ms after the first
run and ~1 s after a few. The window thaws them (:meth:`IdleCollector.thaw`) when it opens
another model, so the old model's cycles are freed by the next idle collection.
"""

from __future__ import annotations

import gc
import time

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtGui import QGuiApplication

#: Quiet time (no worker thread running) before a full collection, in ms.
IDLE_MS = 3000
#: No user input for this long (ms) before a full collection.
INPUT_QUIET_MS = 5000
#: A threshold no young-collection count reaches: generation 2 is never collected automatically.
_NEVER = 1 << 30
#: Python's thresholds before any collector changed them.
_DEFAULT = gc.get_threshold()


_INPUT = frozenset({QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease, QEvent.Type.MouseButtonDblClick,
                    QEvent.Type.MouseMove, QEvent.Type.Wheel, QEvent.Type.KeyPress, QEvent.Type.KeyRelease,
                    QEvent.Type.TouchBegin, QEvent.Type.TouchUpdate, QEvent.Type.TabletPress})


class InputWatch(QObject):
    """When the user last touched a key, a mouse button, the wheel or moved the mouse.

    It filters the events of the application's top-level windows (``QWindow``: the window
    system delivers input there first), not of every object: an application-wide Python filter
    would run for every timer and paint event too. :meth:`watch_windows` picks up new windows
    (dialogs, menus); the collector calls it each time it checks.
    """

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.last_input = time.monotonic()
        app = QGuiApplication.instance()
        if app is not None:
            app.focusWindowChanged.connect(self._watch)
        self.watch_windows()

    def watch_windows(self) -> None:
        for window in QGuiApplication.topLevelWindows():
            self._watch(window)

    def _watch(self, window) -> None:
        if window is not None:
            window.installEventFilter(self)  # installing twice keeps one filter

    def eventFilter(self, _obj, event) -> bool:  # noqa: N802 - Qt override
        if event.type() in _INPUT:
            self.last_input = time.monotonic()
        return False

    def quiet_ms(self) -> float:
        return (time.monotonic() - self.last_input) * 1000


class IdleCollector(QObject):
    """Checks every second; collects generation 2 when the workers and the user have been quiet long enough."""

    def __init__(self, parent: QObject | None = None, idle_ms: int = IDLE_MS, input_quiet_ms: int = INPUT_QUIET_MS):
        super().__init__(parent)
        self.idle_ms = idle_ms
        self.input_quiet_ms = input_quiet_ms
        self.collections = 0
        self.last_seconds = 0.0
        self.input = InputWatch(self)
        self._quiet_since = time.monotonic()
        self._default, self._previous = _DEFAULT, gc.get_threshold()
        gc.set_threshold(self._default[0], self._default[1], _NEVER)
        self._timer = QTimer(self)
        self._timer.setInterval(min(1000, max(50, idle_ms // 3)))
        self._timer.timeout.connect(self.check)
        self._timer.start()

    def pending(self) -> bool:
        """Whether the default rule would have collected generation 2 by now."""
        return gc.get_count()[2] > self._default[2]

    def check(self) -> bool:
        """Collect now if nothing runs in the background and has not for ``idle_ms``; True if it did."""
        from prune_studio.ui.worker import busy

        now = time.monotonic()
        if busy():
            self._quiet_since = now
            return False
        if not self.pending() or (now - self._quiet_since) * 1000 < self.idle_ms:
            return False
        self.input.watch_windows()
        if self.input.quiet_ms() < self.input_quiet_ms:
            return False
        start = time.perf_counter()
        gc.collect()
        gc.freeze()  # the survivors: the next collection walks only what is made from now on
        self.last_seconds = time.perf_counter() - start
        self.collections += 1
        return True

    def thaw(self) -> None:
        """Let the next collection walk every object again (the window opened another model:
        the previous one's objects may be garbage now, and frozen ones are never freed)."""
        gc.unfreeze()

    def pause(self) -> None:
        """Stop checking until :meth:`resume` (the thresholds stay as they are)."""
        self._timer.stop()

    def resume(self) -> None:
        self._timer.start()

    def uninstall(self) -> None:
        """Stop; the thresholds are again what they were before this collector."""
        self._timer.stop()
        gc.unfreeze()
        gc.set_threshold(*self._previous)


_installed: IdleCollector | None = None


def thaw() -> None:
    """:meth:`IdleCollector.thaw` of the application's collector, when there is one."""
    if _installed is not None:
        _installed.thaw()


def install(app: QObject) -> IdleCollector:
    """Install the collector once per application (later calls return it)."""
    global _installed
    if _installed is None:
        _installed = IdleCollector(app)
    return _installed

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
"""

from __future__ import annotations

import gc
import time

from PySide6.QtCore import QObject, QTimer

#: Quiet time (no worker thread running) before a full collection, in ms.
IDLE_MS = 3000
#: A threshold no young-collection count reaches: generation 2 is never collected automatically.
_NEVER = 1 << 30
#: Python's thresholds before any collector changed them.
_DEFAULT = gc.get_threshold()


class IdleCollector(QObject):
    """Checks every second; collects generation 2 when the workers have been quiet long enough."""

    def __init__(self, parent: QObject | None = None, idle_ms: int = IDLE_MS):
        super().__init__(parent)
        self.idle_ms = idle_ms
        self.collections = 0
        self.last_seconds = 0.0
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
        start = time.perf_counter()
        gc.collect()
        self.last_seconds = time.perf_counter() - start
        self.collections += 1
        return True

    def pause(self) -> None:
        """Stop checking until :meth:`resume` (the thresholds stay as they are)."""
        self._timer.stop()

    def resume(self) -> None:
        self._timer.start()

    def uninstall(self) -> None:
        """Stop; the thresholds are again what they were before this collector."""
        self._timer.stop()
        gc.set_threshold(*self._previous)


_installed: IdleCollector | None = None


def install(app: QObject) -> IdleCollector:
    """Install the collector once per application (later calls return it)."""
    global _installed
    if _installed is None:
        _installed = IdleCollector(app)
    return _installed

"""Run something just after a widget has next been painted.

Work that starts a TensorFlow-heavy worker thread is started this way, so the paint it follows
(a freshly filled tree, cleared charts) does not compete with that thread for the GIL: every
Qt call a Python paint path makes gives the GIL away and then waits to get it back.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QWidget


class _AfterPaint(QObject):
    """Calls ``fn`` once, just after ``target``'s next paint (or after ``timeout_ms`` without one)."""

    def __init__(self, target: QWidget, fn, timeout_ms: int):
        super().__init__(target)
        self._target, self._fn = target, fn
        target.installEventFilter(self)
        QTimer.singleShot(timeout_ms, self, self._fire)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Paint:
            QTimer.singleShot(0, self, self._fire)  # runs once this paint is done
        return False

    def _fire(self) -> None:
        if self._fn is None:
            return
        fn, self._fn = self._fn, None
        self._target.removeEventFilter(self)
        self.deleteLater()
        fn()


def call_after_paint(target: QWidget, fn, timeout_ms: int = 300) -> None:
    """Call ``fn()`` once ``target`` has next been painted (at most ``timeout_ms`` later)."""
    _AfterPaint(target, fn, timeout_ms)

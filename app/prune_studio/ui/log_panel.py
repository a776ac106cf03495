"""The log panel: run messages and the ``prune_studio`` logger, shown in the window.

Log records may come from any thread; a queued signal carries them to the GUI thread.
"""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QPlainTextEdit, QWidget


class _Bridge(QObject):
    line = Signal(str)


class _QtHandler(logging.Handler):
    def __init__(self, bridge: _Bridge):
        super().__init__(logging.INFO)
        self.bridge = bridge
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.bridge.line.emit(self.format(record).splitlines()[0])
        except RuntimeError:  # the panel is gone
            pass


class LogPanel(QPlainTextEdit):
    """Read-only, bounded log view attached to the ``prune_studio`` logger."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(5000)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self._bridge = _Bridge(self)
        self._bridge.line.connect(self.append_line)
        self._handler = _QtHandler(self._bridge)
        logging.getLogger("prune_studio").addHandler(self._handler)

    def append_line(self, text: str) -> None:
        self.appendPlainText(f"{time.strftime('%H:%M:%S')}  {text}")

    def detach(self) -> None:
        """Stop listening to the logger (the window is closing)."""
        logging.getLogger("prune_studio").removeHandler(self._handler)

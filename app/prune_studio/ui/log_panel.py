"""The log panel: what happened, in sentences, with the developers' log one click away.

:meth:`LogPanel.append_line` adds a sentence for people ("Opened digits_demo.keras: ...").
The ``prune_studio`` logger's records (``INFO prune_studio.export.exporter: ...``) go to a
separate details view, hidden until the user presses "Show details". Log records may come
from any thread; a queued signal carries them to the GUI thread.
"""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QHBoxLayout, QPlainTextEdit, QPushButton, QSplitter, QVBoxLayout, QWidget

MAX_LINES = 5000


class _Bridge(QObject):
    line = Signal(str)


class _QtHandler(logging.Handler):
    def __init__(self, bridge: _Bridge):
        super().__init__(logging.DEBUG)
        self.bridge = bridge
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.bridge.line.emit(self.format(record))
        except RuntimeError:  # the panel is gone
            pass


def _text_view(fixed: bool) -> QPlainTextEdit:
    view = QPlainTextEdit()
    view.setReadOnly(True)
    view.setMaximumBlockCount(MAX_LINES)
    if fixed:
        view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    # Two lines at least (Qt's own minimum is about four): the run's warning banner takes the
    # top of the log dock without the dock growing into the panes above it.
    view.setMinimumHeight(2 * view.fontMetrics().lineSpacing() + 2 * view.frameWidth() + 8)
    return view


class LogPanel(QWidget):
    """Sentences for people above, the ``prune_studio`` logger behind "Show details"."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.messages = _text_view(fixed=False)
        self.messages.setPlaceholderText("What Prune Studio does appears here.")
        self.details = _text_view(fixed=True)
        self.details.setPlaceholderText("Developer log (the prune_studio logger).")
        self.details.hide()
        # The newest line stays in view when the view gets shorter (the warning banner takes the
        # top of the dock) as long as the user had not scrolled up.
        bar = self.messages.verticalScrollBar()
        self._at_end = True
        bar.valueChanged.connect(lambda value: setattr(self, "_at_end", value >= bar.maximum()))
        bar.rangeChanged.connect(lambda _lo, hi: bar.setValue(hi) if self._at_end else None)
        self.details_button = QPushButton("Show details")
        self.details_button.setCheckable(True)
        self.details_button.setToolTip("Show the developers' log: every message of the prune_studio logger.")
        self.details_button.toggled.connect(self.show_details)
        splitter = QSplitter()
        splitter.addWidget(self.messages)
        splitter.addWidget(self.details)
        splitter.setChildrenCollapsible(False)
        buttons = QVBoxLayout()
        buttons.addWidget(self.details_button)
        buttons.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 4)
        layout.addWidget(splitter, 1)
        layout.addLayout(buttons)
        self._bridge = _Bridge(self)
        self._bridge.line.connect(self._append_detail)
        self._handler = _QtHandler(self._bridge)
        logger = logging.getLogger("prune_studio")
        logger.addHandler(self._handler)
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)

    def append_line(self, text: str) -> None:
        """Add a sentence for people."""
        self.messages.appendPlainText(f"{time.strftime('%H:%M:%S')}  {text}")

    def _append_detail(self, text: str) -> None:
        self.details.appendPlainText(f"{time.strftime('%H:%M:%S')}  {text}")

    def show_details(self, shown: bool) -> None:
        """Show or hide the developers' log beside the sentences."""
        self.details.setVisible(shown)
        self.details_button.setText("Hide details" if shown else "Show details")
        if self.details_button.isChecked() != shown:
            self.details_button.setChecked(shown)

    def toPlainText(self) -> str:  # noqa: N802 - mirrors QPlainTextEdit for callers
        """The sentences shown (not the details)."""
        return self.messages.toPlainText()

    def detach(self) -> None:
        """Stop listening to the logger (the window is closing)."""
        logging.getLogger("prune_studio").removeHandler(self._handler)

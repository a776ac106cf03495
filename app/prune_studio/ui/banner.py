"""A warning banner: one sentence and a close button, across the top of the log dock.

The run shows it when training reports a problem the user should act on (validation accuracy
collapsing, with what to change); it stays until dismissed or the next run starts. The window
places it (``layout.place_banner``) where showing it moves neither the layer tree nor the charts.
"""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget


class Banner(QFrame):
    """Hidden until :meth:`show_message`; ``dismiss`` hides it."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("warningBanner")
        self.setStyleSheet("QFrame#warningBanner { background: #fff4ce; border: 1px solid #e0b400; border-radius: 3px; }"
                           "QFrame#warningBanner QLabel { color: #3d2e00; }")
        self.icon = QLabel("⚠")
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.dismiss = QPushButton("Dismiss")
        self.dismiss.setToolTip("Hide this warning")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.addWidget(self.icon)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.dismiss)
        self.hide()

    def show_message(self, message: str) -> None:
        self.text.setText(message)
        self.show()

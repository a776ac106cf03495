"""Errors reach the user as one sentence; unexpected ones are logged with their traceback."""

from __future__ import annotations

import logging

from PySide6.QtWidgets import QMainWindow

from prune_studio.errors import PruneStudioError
from prune_studio.ui.notify import show_error, user_message


def test_expected_errors_are_shown_as_written():
    assert user_message(PruneStudioError("Model file 'x.keras' was not found.")) == "Model file 'x.keras' was not found."


def test_unexpected_errors_point_to_the_log(qtbot, caplog):
    window = QMainWindow()
    qtbot.addWidget(window)
    window.setProperty("modalErrors", False)
    try:
        raise KeyError("conv9")
    except KeyError as exc:
        with caplog.at_level(logging.ERROR, logger="prune_studio"):
            shown = show_error(window, "Open model", exc)
    assert "KeyError" in shown and "log panel" in shown and "Traceback" not in shown
    assert "Traceback" in caplog.text
    assert window.statusBar().currentMessage() == f"Open model: {shown}"

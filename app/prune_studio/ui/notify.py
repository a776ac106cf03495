"""The one place that shows errors and notices to the user.

A :class:`~prune_studio.errors.PruneStudioError` carries a sentence written for the user and
is shown as it is. Anything else is a bug: its traceback goes to the log, and the user sees
a short sentence pointing to the log panel, never a traceback.
"""

from __future__ import annotations

import logging
import traceback

from PySide6.QtWidgets import QMessageBox, QWidget

from prune_studio.errors import PruneStudioError

log = logging.getLogger("prune_studio")


def user_message(exc: BaseException) -> str:
    """The sentence to show for ``exc``: its own message for expected errors."""
    if isinstance(exc, PruneStudioError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "The computer ran out of memory; try a smaller batch size or model."
    return f"Something went wrong ({type(exc).__name__}: {exc}); the log panel has the details."


def show_error(parent: QWidget | None, title: str, exc: BaseException, modal: bool = True) -> str:
    """Log ``exc`` with its traceback and show its message; returns the message shown.

    ``modal=False`` (used by tests and the self-test) shows it in the status bar only.
    """
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if isinstance(exc, PruneStudioError):
        log.warning("%s: %s", title, exc)
        log.debug("%s", tb)
    else:
        log.error("%s: unexpected error\n%s", title, tb)
    message = user_message(exc)
    log_panel = getattr(parent, "log_panel", None)
    if log_panel is not None:
        log_panel.append_line(f"{title}: {message}")
    status = getattr(parent, "statusBar", None)
    if callable(status):
        status().showMessage(f"{title}: {message}", 15000)
    if modal and parent is not None and parent.property("modalErrors") is not False:
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, parent)
        box.setModal(True)
        box.open()
    return message

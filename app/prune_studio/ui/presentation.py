"""Presentation mode (View > Presentation mode, F11): full screen, large charts, keyboard control.

For showing pruning to an audience: the window goes full screen, the log dock steps aside,
charts and result cards are drawn 1.5 times larger, and single keys drive the run: Space runs
or pauses, S stops, E exports, Esc (or F11) leaves.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence

SCALE = 1.5
HINT = "Presentation mode: Space run / pause · S stop · E export · Esc or F11 to leave"


def _key_action(w, text: str, key, slot) -> QAction:
    action = QAction(text, w)
    action.setShortcut(QKeySequence(key))
    action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    action.triggered.connect(lambda _checked=False: slot())
    action.setEnabled(False)  # only while presenting
    w.addAction(action)
    return action


def run_or_pause(w) -> None:
    """Space: start a run when idle, else pause or resume it."""
    if w.run.running:
        w.toggle_pause()
    elif w.act_run.isEnabled():
        w.start_run()


def export_now(w) -> None:
    """E: export the current model to the export tab's folder and show the results there."""
    panel = w.export_panel
    if panel is not None and panel.export_button.isEnabled():
        from prune_studio.ui.layout import show_tab

        show_tab(w, panel)
        panel.start_export()


def setup(w) -> None:
    """Create the mode's actions on the window ``w`` (the View menu gets the toggle)."""
    w.act_present = QAction("Presentation mode", w)
    w.act_present.setCheckable(True)
    w.act_present.setShortcut(QKeySequence(Qt.Key.Key_F11))
    w.act_present.setToolTip("Full screen, larger charts, single-key Run/Pause/Stop/Export (F11)")
    w.act_present.toggled.connect(lambda on: set_presenting(w, on))
    w.addAction(w.act_present)
    w.present_keys = [
        _key_action(w, "Run or pause", Qt.Key.Key_Space, lambda: run_or_pause(w)),
        _key_action(w, "Stop", Qt.Key.Key_S, w.stop_run),
        _key_action(w, "Export", Qt.Key.Key_E, lambda: export_now(w)),
        _key_action(w, "Leave presentation mode", Qt.Key.Key_Escape, lambda: w.act_present.setChecked(False)),
    ]


def set_presenting(w, on: bool) -> None:
    """Enter or leave presentation mode."""
    if on == getattr(w, "presenting", False):
        return
    w.presenting = on
    for action in w.present_keys:
        action.setEnabled(on)
    if on:
        w._log_was_visible = w.log_dock.isVisible()
        w.log_dock.hide()
        w.showFullScreen()
        w.statusBar().showMessage(HINT)
    else:
        w.log_dock.setVisible(getattr(w, "_log_was_visible", True))
        w.showNormal()
        w.statusBar().clearMessage()
    scale = SCALE if on else 1.0
    w.charts.set_scale(scale)
    w.results.set_scale(scale)
    if w.act_present.isChecked() != on:
        w.act_present.setChecked(on)

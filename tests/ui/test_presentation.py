"""Presentation mode: F11 goes full screen with large charts; single keys run, pause, stop, export."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from prune_studio.export import ExportSettings

pytestmark = pytest.mark.slow


def _tick_size(plot):
    return plot.getAxis("bottom").style["tickFont"].pointSizeF() if plot.getAxis("bottom").style["tickFont"] else None


def test_keys_drive_a_demo_in_presentation_mode(qtbot, demo_as_opened, tmp_path):
    w = demo_as_opened
    w.settings_panel.epochs.setValue(30)
    w.export_panel.apply_settings(ExportSettings(keras=False, h5=False, tflite=("float32",), sparse=False))
    w.export_panel.folder_edit.setText(str(tmp_path / "out"))
    assert not w.act_present.isChecked() and w.act_present.shortcut().toString() == "F11"
    assert w.act_present in w.menuBar().actions()[3].menu().actions()  # View menu
    qtbot.keyClick(w, Qt.Key.Key_F11)
    assert w.presenting and w.isFullScreen() and not w.log_dock.isVisible()
    assert _tick_size(w.charts.loss_plot) == pytest.approx(8.5 * 1.5)
    assert "Space run" in w.statusBar().currentMessage()

    with qtbot.waitSignal(w.run.batches, timeout=60_000):
        qtbot.keyClick(w, Qt.Key.Key_Space)  # run
    qtbot.keyClick(w, Qt.Key.Key_Space)  # pause
    assert w.run.state == "paused"
    qtbot.keyClick(w, Qt.Key.Key_Space)  # resume
    assert w.run.state == "running"
    with qtbot.waitSignal(w.runFinished, timeout=60_000) as blocker:
        qtbot.keyClick(w, Qt.Key.Key_S)  # stop
    assert blocker.args[0].stopped

    with qtbot.waitSignal(w.export_panel.exportFinished, timeout=120_000):
        qtbot.keyClick(w, Qt.Key.Key_E)  # export the pruned model
    qtbot.waitUntil(lambda: not w.export_panel.is_running() and not w.results.filling(), timeout=10_000)
    assert w.tabs.currentWidget().isAncestorOf(w.results) and w.results.cards
    assert w.results.cards[0].numbers.font().pointSizeF() == pytest.approx(w.results.cards[0].title.font().pointSizeF() * 1.2)
    assert w.results.scale == 1.5

    # the export and its result view keep the window active (no card became a window of its own),
    # so the single keys still work right after an export
    assert w.isActiveWindow()
    with qtbot.waitSignal(w.runFinished, timeout=120_000):
        qtbot.keyClick(w, Qt.Key.Key_Space)  # run again
        qtbot.keyClick(w, Qt.Key.Key_S)  # and stop it
    qtbot.keyClick(w, Qt.Key.Key_Escape)
    assert not w.presenting and not w.isFullScreen() and w.log_dock.isVisible()
    assert _tick_size(w.charts.loss_plot) == pytest.approx(8.5)
    qtbot.keyClick(w, Qt.Key.Key_Space)  # outside the mode Space is not Run
    assert not w.run.running

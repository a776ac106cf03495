"""What a run reports besides numbers: phases in the status area, warnings as a banner."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from prune_studio.training.listener import TrainingListener

pytestmark = pytest.mark.slow
DROP = "Validation accuracy fell from 98% to 41%: the learning rate is probably too high; try 0.0001."


def test_a_warning_shows_a_banner_and_phases_show_in_the_status_bar(qtbot, demo_window):
    from prune_studio.training import TrainingError

    w = demo_window
    seen = []
    w.run.phase.connect(lambda name, seconds: seen.append((name, seconds, w.status_text.text())))

    def run_with_a_collapse(listener, control):  # the training thread's side, through the real feed
        listener.on_phase("Re-estimating BatchNorm statistics", None)
        listener.on_phase("Re-estimating BatchNorm statistics", 0.4)
        listener.on_warning("accuracy_drop", DROP)
        raise TrainingError("The run was stopped after the accuracy collapsed.")

    assert not w.banner.isVisible()
    with qtbot.waitSignal(w.runFinished, timeout=30_000):
        w.run.start(run_with_a_collapse)
    assert w.banner.isVisible() and w.banner.text.text() == DROP
    assert seen[0] == ("Re-estimating BatchNorm statistics", None, "Re-estimating BatchNorm statistics…")
    assert "Re-estimating BatchNorm statistics: done in 0.4 s." in w.log_panel.toPlainText()
    assert f"Warning: {DROP}" in w.log_panel.toPlainText()
    qtbot.mouseClick(w.banner.dismiss, Qt.MouseButton.LeftButton)
    assert not w.banner.isVisible()


@pytest.mark.skipif(not hasattr(TrainingListener, "on_phase"), reason="the training core reports phases once merged")
def test_a_real_run_reports_its_phases(qtbot, demo_as_opened):
    w = demo_as_opened
    w.settings_panel.epochs.setValue(1)
    w.settings_panel.batch.setValue(128)
    phases = []
    w.run.phase.connect(lambda name, seconds: phases.append(name) if seconds is None else None)
    with qtbot.waitSignal(w.runFinished, timeout=120_000):
        w.start_run()
    assert "Fine-tuning" in phases and "Evaluating" in phases
    assert "done in" in w.log_panel.toPlainText()

"""GUI responsiveness while the demo fine-tunes: the event loop's longest stall.

A 10 ms timer records how late each tick fires while the window runs a real fine-tune of
the demo model in its worker thread; the longest lateness is the longest time the GUI
could not respond. Target: under 50 ms. Run with ``make bench`` (prints the figures).
"""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QTimer

TICK_MS = 10


def test_event_loop_stall_during_fine_tune(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from prune_studio.ui.app import create_window

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path))
    window = create_window(demo=True)
    window.setProperty("modalErrors", False)
    window.show()
    with qtbot.waitSignal(window.dataReady, timeout=120_000):
        pass
    window.settings_panel.epochs.setValue(4)
    window.prune_all_prunable()

    lateness: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        lateness.append(max(0.0, (now - last[0]) * 1000 - TICK_MS))
        last[0] = now

    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(tick)
    with qtbot.waitSignal(window.runFinished, timeout=300_000) as blocker:
        window.start_run()
        last[0] = time.perf_counter()
        timer.start()
    timer.stop()
    assert blocker.args[0] is not None and not blocker.args[0].stopped
    late = np.array(lateness)
    print(
        f"\nGUI event loop during a {window._run_total}-step demo fine-tune: {len(late)} ticks, "
        f"longest stall {late.max():.1f} ms (target < 50 ms), p99 {np.percentile(late, 99):.1f} ms, "
        f"median {np.median(late):.1f} ms, chart points {window.charts.points_received}"
    )
    window._dirty = False
    window.close()
    window.deleteLater()
    assert len(late) > 50

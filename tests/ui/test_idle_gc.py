"""Full garbage collections wait until no background work runs (they hold the GIL for long)."""

from __future__ import annotations

import gc
import threading

from prune_studio.ui import idle_gc
from prune_studio.ui.idle_gc import IdleCollector
from prune_studio.ui.worker import Worker, busy


def _long_lived_objects(release: threading.Event, keep: list) -> None:
    """Make enough surviving objects that Python's default rule would collect generation 2."""
    for _ in range(120_000):
        keep.append([None])
    release.wait(10)


def test_full_collections_wait_until_the_workers_are_done(qtbot):
    # Earlier tests in this process may have left the application's own collector running, and
    # a worker of theirs finishing: this test's collector must be the only one, starting idle.
    app_collector = idle_gc._installed
    if app_collector is not None:
        app_collector.pause()
    qtbot.waitUntil(lambda: not busy(), timeout=60_000)
    collector = IdleCollector(idle_ms=300, input_quiet_ms=300)
    try:
        before = gc.get_stats()[2]["collections"]
        release, keep = threading.Event(), []
        worker = Worker(_long_lived_objects, release, keep, pass_report=False)
        worker.start()
        qtbot.waitUntil(lambda: len(keep) == 120_000, timeout=10_000)
        qtbot.wait(700)  # longer than idle_ms: only the running worker holds the collection back
        assert collector.pending(), "the default rule would have collected by now"
        assert gc.get_stats()[2]["collections"] == before and collector.collections == 0
        release.set()
        qtbot.waitUntil(lambda: not worker.isRunning(), timeout=10_000)
        qtbot.waitUntil(lambda: collector.collections == 1, timeout=5_000)
        assert gc.get_stats()[2]["collections"] == before + 1
        assert not collector.pending()
        worker.wait()
    finally:
        collector.uninstall()
        if app_collector is not None:
            app_collector.resume()


def _pause_the_apps_collector(qtbot):
    app_collector = idle_gc._installed
    if app_collector is not None:
        app_collector.pause()
    qtbot.waitUntil(lambda: not busy(), timeout=60_000)
    return app_collector


def test_no_full_collection_while_the_user_is_at_work(qtbot):
    # One ran ~570 ms on the GUI thread 3 s after a run, as the user was about to click Export.
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtWidgets import QPushButton

    app_collector = _pause_the_apps_collector(qtbot)
    button = QPushButton("Export")
    qtbot.addWidget(button)
    button.resize(200, 60)
    button.show()
    qtbot.waitExposed(button)
    collector = IdleCollector(idle_ms=100, input_quiet_ms=800)
    keep = [[None] for _ in range(120_000)]
    try:
        gc.collect()  # earlier tests' garbage aside: from here on only ``keep`` makes it pending
        gc.unfreeze()
        keep.extend([None] for _ in range(120_000))
        for _ in range(12):  # 2.4 s of the user moving the mouse and pressing keys: all input goes to the window
            qtbot.mouseMove(button.windowHandle(), QPoint(20 + _ % 5, 30))
            qtbot.keyClick(button.windowHandle(), Qt.Key.Key_Shift)
            qtbot.wait(200)
            collector.check()
        assert collector.pending() and collector.collections == 0
        qtbot.waitUntil(lambda: collector.collections == 1, timeout=5_000)  # then the user rests
        assert collector.input.quiet_ms() >= 800
        # What survived is frozen: the next collection walks only newer objects.
        assert gc.get_freeze_count() >= len(keep)
        collector.thaw()
        assert gc.get_freeze_count() == 0
    finally:
        collector.uninstall()
        if app_collector is not None:
            app_collector.resume()

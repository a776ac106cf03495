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
    collector = IdleCollector(idle_ms=300)
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

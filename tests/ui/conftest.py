"""Fixtures for the window tests: isolated settings, the demo window, clean teardown."""

from __future__ import annotations

import gc

import pytest
from PySide6.QtCore import QSettings


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path):
    """Recent files and other QSettings go to a temporary folder, not the user's."""
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    for fmt in (QSettings.Format.IniFormat, QSettings.Format.NativeFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    yield


def close_cleanly(qtbot, window) -> None:
    """Stop any run, close the window, and check no worker or timer is left alive."""
    if window.run.running:
        with qtbot.waitSignal(window.runFinished, timeout=60_000):
            window.run.stop()
    qtbot.waitUntil(lambda: not window.is_busy(), timeout=60_000)
    window._dirty = False
    window.close()
    window.deleteLater()
    assert not window.run.running and not window._loaders
    assert not window.run._timer.isActive()
    assert not window.charts._timer.isActive()


@pytest.fixture
def make_window(qtbot):
    """Factory: ``make_window(demo=True)`` returns a shown window once its data is loaded."""
    from prune_studio.ui.app import create_window

    windows = []

    def factory(**kwargs):
        window = create_window(**kwargs)
        window.setProperty("modalErrors", False)
        windows.append(window)
        window.show()
        if kwargs.get("demo"):
            with qtbot.waitSignal(window.dataReady, timeout=60_000):
                pass
        return window

    yield factory
    for window in windows:
        close_cleanly(qtbot, window)
    # Collect the closed windows' Python wrappers here, on the GUI thread: left to a later
    # automatic collection, they may be freed in a worker thread, which crashes Qt.
    windows.clear()
    gc.collect()


@pytest.fixture
def demo_as_opened(make_window):
    """The demo exactly as ``--demo`` shows it: every prunable layer on, ready to run."""
    return make_window(demo=True)


@pytest.fixture
def demo_window(qtbot, make_window, demo_model_file):
    """The demo model and data opened as plain files: no plan yet, so a test builds the one it checks."""
    window = make_window()
    with qtbot.waitSignal(window.dataReady, timeout=60_000):
        window.open_model(demo_model_file, data_spec={"kind": "digits", "path": None, "options": {}})
    return window

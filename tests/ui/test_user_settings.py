"""What the window remembers across restarts: recent files and each model's export folder.

Each "restart" is a second window instance reading the same INI file the first one wrote.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from PySide6.QtCore import Qt

from prune_studio.export import ExportSettings
from prune_studio.resources import resources_dir
from prune_studio.ui.user_settings import app_settings, is_inside_installation

pytestmark = pytest.mark.slow
DIGITS = {"kind": "digits", "path": None, "options": {}}


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh home folder, so Documents is ``<home>/Documents``."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    return home


def _open(qtbot, window, path, data=True):
    signal = window.dataReady if data else window.modelReady
    with qtbot.waitSignal(signal, timeout=60_000):
        window.open_model(path, data_spec=DIGITS if data else None)
    qtbot.waitUntil(lambda: not window.is_busy(), timeout=60_000)


def _recent(window) -> list[str]:
    return [a.toolTip() for a in window.recent_menu.actions()]


_FIRST_RUN = """
import sys
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, sys.argv[1])
app = QApplication([])
from prune_studio.ui.app import create_window
window = create_window()
window.setProperty("modalErrors", False)
window.modelReady.connect(window.close)
window.modelReady.connect(app.quit)
window.open_model(sys.argv[2])
app.exec()
"""


def test_recent_files_survive_a_restart_with_one_entry(qtbot, make_window, demo_model_file, tmp_path):
    """One process opens a file and quits; the next (this one) opens another: both are listed."""
    first, second = tmp_path / "first.keras", tmp_path / "second.keras"
    shutil.copy(demo_model_file, first)
    shutil.copy(demo_model_file, second)
    ini = app_settings().fileName()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    run = subprocess.run([sys.executable, "-c", _FIRST_RUN, str(tmp_path / "settings"), str(first)],
                         env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-2000:]
    assert str(first) in open(ini, encoding="utf-8").read()  # a one-element list, read back as a str
    w2 = make_window()  # the restart
    assert _recent(w2) == [str(first)]
    _open(qtbot, w2, second, data=False)
    assert _recent(w2) == [str(second), str(first)]
    w2.close()
    w3 = make_window()  # another window instance on the same file
    assert _recent(w3) == [str(second), str(first)]
    assert [a.text() for a in w3.recent_menu.actions()] == ["second.keras", "first.keras"]
    assert ", /, t" not in open(ini, encoding="utf-8").read()


def test_the_demo_exports_to_documents_not_into_the_app(make_window, home):
    w = make_window(demo=True)  # the demo model lives in resources/samples
    folder = w.export_panel.folder_edit.text()
    assert folder == str(home / "Documents" / "Prune Studio" / "digits_demo")
    assert not is_inside_installation(folder) and resources_dir() not in __import__("pathlib").Path(folder).parents


def test_a_model_inside_an_installed_package_exports_to_documents(qtbot, make_window, demo_model_file, home, tmp_path):
    package = tmp_path / "venv" / "lib" / "python3.11" / "site-packages" / "somepkg"
    package.mkdir(parents=True)
    shutil.copy(demo_model_file, package / "shipped.keras")
    w = make_window()
    _open(qtbot, w, package / "shipped.keras")
    assert w.export_panel.folder_edit.text() == str(home / "Documents" / "Prune Studio" / "shipped")


def test_a_model_in_a_writable_folder_exports_beside_it(qtbot, make_window, demo_model_file, home, tmp_path):
    shutil.copy(demo_model_file, tmp_path / "mine.keras")
    w = make_window()
    _open(qtbot, w, tmp_path / "mine.keras")
    assert w.export_panel.folder_edit.text() == str(tmp_path / "mine_export")


def test_the_export_folder_is_remembered_per_model(qtbot, make_window, demo_model_file, home, tmp_path):
    a, b = tmp_path / "a.keras", tmp_path / "b.keras"
    shutil.copy(demo_model_file, a)
    shutil.copy(demo_model_file, b)
    w = make_window()
    _open(qtbot, w, a)
    panel = w.export_panel
    panel.apply_settings(ExportSettings(keras=True, h5=False, tflite=(), sparse=False))
    chosen = tmp_path / "chosen for a"
    panel.folder_edit.setText(str(chosen))
    with qtbot.waitSignal(panel.exportFinished, timeout=60_000):
        qtbot.mouseClick(panel.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=10_000)
    assert (chosen / "model.keras").is_file() or any(chosen.iterdir())
    _open(qtbot, w, b)
    assert panel.folder_edit.text() == str(tmp_path / "b_export")  # another model: its own default
    w.close()
    again = make_window()  # after a restart
    _open(qtbot, again, a)
    assert again.export_panel.folder_edit.text() == str(chosen)

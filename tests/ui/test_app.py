"""Start-up: the window shows before TensorFlow loads; themes, icon and arguments."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from prune_studio.ui.app import _parse
from prune_studio.ui.theme import app_icon, apply_theme


def test_window_shows_before_tensorflow_is_imported():
    code = textwrap.dedent(
        """
        import os, sys, time
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        start = time.perf_counter()
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from prune_studio.ui.app import create_window
        window = create_window()
        window.show()
        app.processEvents()
        print("tf" if "tensorflow" in sys.modules else "no-tf", round(time.perf_counter() - start, 2))
        window.close()
        window.deleteLater()
        del window
        app.sendPostedEvents(None, 0)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    verdict, seconds = out.stdout.split()[-2:]
    assert verdict == "no-tf"
    assert float(seconds) < 20


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_both_themes_load_their_style_sheet(qapp, scheme):
    try:
        assert apply_theme(qapp, scheme) == scheme
        assert "QTreeView" in qapp.styleSheet()
    finally:
        apply_theme(qapp, "light")


def test_app_icon_comes_from_resources(qapp):
    assert not app_icon().isNull()


def test_arguments():
    args = _parse(["model.keras", "--trust"])
    assert args.model == "model.keras" and args.trust and not args.demo and not args.self_test
    assert _parse(["--demo"]).demo and _parse(["--self-test"]).self_test


def test_create_window_needs_an_application(monkeypatch):
    from prune_studio.ui import app as app_module

    monkeypatch.setattr(app_module.QApplication, "instance", staticmethod(lambda: None))
    with pytest.raises(RuntimeError, match="QApplication"):
        app_module.create_window()

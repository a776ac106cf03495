"""A missing Qt system library: ``prune-studio`` prints the README's apt-get line, not Qt's message."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from prune_studio.ui.qt_check import APT_LINE, missing_platform_library

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def plugin_without_its_library(tmp_path):
    """A ``platforms/libqxcb.so`` that needs ``libxcb-studio-test.so.0`` (a name no system has), which is then removed."""
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc to build a plugin with a missing dependency")
    lib, plugins = tmp_path / "lib", tmp_path / "platforms"
    lib.mkdir()
    plugins.mkdir()
    (tmp_path / "dep.c").write_text("int xcb_cursor_stub(void) { return 1; }\n")
    (tmp_path / "plugin.c").write_text("int xcb_cursor_stub(void);\nint plugin_entry(void) { return xcb_cursor_stub(); }\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-Wl,-soname,libxcb-studio-test.so.0", "-o", str(lib / "libxcb-studio-test.so.0"),
                    str(tmp_path / "dep.c")], check=True)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(plugins / "libqxcb.so"), str(tmp_path / "plugin.c"),
                    "-L", str(lib), "-l:libxcb-studio-test.so.0"], check=True)
    (lib / "libxcb-studio-test.so.0").unlink()
    return plugins


def test_the_missing_library_is_named(plugin_without_its_library):
    env = {"QT_QPA_PLATFORM": "xcb", "QT_QPA_PLATFORM_PLUGIN_PATH": str(plugin_without_its_library)}
    assert missing_platform_library(env) == "libxcb-studio-test.so.0"
    assert missing_platform_library({"QT_QPA_PLATFORM": "offscreen"}) is None  # not the xcb plugin


def test_prune_studio_prints_the_apt_get_line_and_exits(plugin_without_its_library):
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "QT_QPA_PLATFORM_PLUGIN_PATH": str(plugin_without_its_library),
           "DISPLAY": ":99"}
    env.pop("WAYLAND_DISPLAY", None)
    out = subprocess.run([sys.executable, "-c", "import sys; from prune_studio.ui.app import main; sys.exit(main([]))"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert "libxcb-studio-test.so.0" in out.stderr and APT_LINE in out.stderr
    assert "Could not load the Qt platform plugin" not in out.stderr and "Traceback" not in out.stderr
    assert "tensorflow" not in out.stderr.lower()


def test_the_line_is_the_readme_s():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"sudo apt-get install -y python3-venv make (.+?)\n```", readme, re.S).group(1)
    assert APT_LINE.split("-y ", 1)[1].split() == block.replace("\\", " ").split()

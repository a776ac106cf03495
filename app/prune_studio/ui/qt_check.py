"""Say which system library is missing before Qt fails to open a window.

Without, say, ``libxcb-cursor0``, Qt prints a paragraph about the "xcb" platform plugin and
aborts. :func:`missing_platform_library` loads the plugin Qt is about to use the way Qt loads it
(``dlopen``), before any ``QApplication`` exists; when that fails it names the missing library,
and :func:`problem_message` turns it into the one ``apt-get install`` line of the README.
Loading the plugin takes a few milliseconds and loads nothing that starting Qt would not.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

#: The README's line for a fresh Debian/Ubuntu machine (without python3-venv and make).
APT_LINE = ("sudo apt-get install -y libegl1 libgl1 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 "
            "libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 libfontconfig1 libdbus-1-3")


def _platform_plugin(environ) -> Path | None:
    """The xcb plugin Qt will load, or None when Qt will use another platform."""
    if not sys.platform.startswith("linux"):
        return None
    platform = environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith("xcb"):
        return None
    if not platform and environ.get("WAYLAND_DISPLAY"):
        return None  # Qt tries its Wayland plugin first
    folder = environ.get("QT_QPA_PLATFORM_PLUGIN_PATH")
    if not folder:
        from PySide6.QtCore import QLibraryInfo

        folder = str(Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms")
    plugin = Path(folder) / "libqxcb.so"
    return plugin if plugin.exists() else None


def missing_platform_library(environ=None) -> str | None:
    """The file name of a library the window system plugin needs and cannot find, else None."""
    plugin = _platform_plugin(os.environ if environ is None else environ)
    if plugin is None:
        return None
    try:
        ctypes.CDLL(str(plugin), mode=os.RTLD_LAZY | os.RTLD_LOCAL)
    except OSError as exc:
        text = str(exc)
        name = text.split(":", 1)[0].strip()
        return name if name and "/" not in name else (text or "a system library")
    return None


def problem_message(missing: str) -> str:
    """What to tell someone whose machine lacks ``missing``."""
    return (f"Prune Studio cannot open a window: the system library {missing}, which Qt needs, is missing.\n"
            f"Install Qt's system libraries and start it again:\n\n    {APT_LINE}\n")

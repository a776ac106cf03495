"""What the window remembers between sessions: recent files and each model's export folder.

Everything lives in one INI file (``QSettings``, user scope). INI settings have one quirk this
module hides: a list of one element comes back as a plain ``str`` after a restart, so every list
is read through :func:`as_list`.

Exports never go into the application itself. The default folder for a model is, in order:
the folder the user last exported that model to; ``<model>_export`` beside the model when that
folder is writable and not part of an installation (``resources/``, ``site-packages``, a
bundle); else ``<Documents>/Prune Studio/<model name>``.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths

MAX_RECENT = 8
_INSTALL_DIR_NAMES = {"site-packages", "dist-packages"}


def app_settings() -> QSettings:
    """The application's settings file (INI, per user)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "PruneStudio", "Prune Studio")


def as_list(value) -> list[str]:
    """A settings value as a list of strings (a one-element list comes back from INI as a ``str``)."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def recent_files(store: QSettings) -> list[str]:
    """The recently opened files, newest first."""
    return as_list(store.value("recent", []))


def add_recent(store: QSettings, path: str) -> list[str]:
    """Put ``path`` first in the recent files (kept to :data:`MAX_RECENT`); returns the list."""
    recent = [path] + [p for p in recent_files(store) if p != path]
    store.setValue("recent", recent[:MAX_RECENT])
    store.sync()
    return recent[:MAX_RECENT]


def _key(model_path: str | Path) -> str:
    digest = hashlib.sha1(str(Path(model_path).resolve()).encode("utf-8")).hexdigest()[:16]
    return f"exportFolders/{digest}"


def remember_export_folder(store: QSettings, model_path: str | Path, folder: str | Path) -> None:
    """Remember ``folder`` as where ``model_path``'s files are exported."""
    store.setValue(_key(model_path), str(folder))
    store.sync()


def is_inside_installation(path: str | Path) -> bool:
    """True for a path inside Prune Studio's resources, a ``site-packages`` folder or a bundle."""
    resolved = Path(path).resolve()
    if _INSTALL_DIR_NAMES & set(resolved.parts):
        return True
    roots = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        roots.append(Path(bundle))
    try:
        from prune_studio.resources import resources_dir

        roots.append(resources_dir())
    except FileNotFoundError:
        pass
    return any(resolved == root.resolve() or root.resolve() in resolved.parents for root in roots)


def documents_folder() -> Path:
    """``<Documents>/Prune Studio`` (the home folder's when the platform names no Documents)."""
    docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return Path(docs or Path.home()) / "Prune Studio"


def default_export_folder(model_path: str | Path) -> Path:
    """Where a model's exports go when the user has not chosen (see the module docstring)."""
    model = Path(model_path)
    parent = model.parent
    if not is_inside_installation(model) and os.access(parent, os.W_OK):
        return parent / f"{model.stem}_export"
    return documents_folder() / model.stem


def export_folder_for(store: QSettings, model_path: str | Path) -> Path:
    """The folder remembered for ``model_path``, else :func:`default_export_folder`."""
    remembered = store.value(_key(model_path))
    if remembered and not is_inside_installation(remembered):
        return Path(str(remembered))
    return default_export_folder(model_path)

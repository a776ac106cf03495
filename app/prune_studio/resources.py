"""Find the files under ``resources/`` the same way from every kind of install.

- a source checkout or editable install: ``<repo>/resources``
- an installed wheel: ``prune_studio/_resources`` (the wheel maps ``resources/`` there)
- a PyInstaller bundle: ``<bundle>/resources`` (``sys._MEIPASS``)
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def resources_dir() -> Path:
    """The folder that holds ``icons/``, ``style/`` and ``samples/``."""
    here = Path(__file__).resolve().parent
    candidates = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.append(Path(bundle) / "resources")
    candidates += [here / "_resources", here.parents[1] / "resources"]
    for candidate in candidates:
        if (candidate / "samples").is_dir():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"Prune Studio's resources folder was not found (looked in {tried}).")


def resource_path(*parts: str) -> Path:
    """Path of one resource, e.g. ``resource_path("samples", "digits.npz")``."""
    return resources_dir().joinpath(*parts)


def digits_path() -> Path:
    """The built-in sample data set (UCI handwritten digits, 8x8, 10 classes)."""
    return resource_path("samples", "digits.npz")


def demo_model_path() -> Path:
    """The demo model trained on the digits sample (tf-keras ``.keras`` file)."""
    return resource_path("samples", "digits_demo.keras")

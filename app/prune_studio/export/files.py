"""Safe file writing: atomic replacement, never over the opened model.

A file appears under its final name only once it is complete: it is written to a temporary
file in the same folder (so the rename stays on one file system) and moved into place with
:func:`os.replace`, which is atomic on POSIX and Windows.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from prune_studio.export.settings import ExportError, TargetExistsError


def temp_path_beside(target: str | Path) -> Path:
    """A fresh, unused path in ``target``'s folder that keeps its extension.

    Keras picks the save format from the extension, so ``model.keras`` becomes
    ``.model.<random>.tmp.keras``.
    """
    target = Path(target)
    fd, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    os.close(fd)
    os.unlink(name)
    return Path(name)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new, never half."""
    path = Path(path)
    tmp = temp_path_beside(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def check_targets(targets: list[Path], baseline_path: str | Path | None, overwrite: bool) -> None:
    """Refuse targets that are the opened model, and existing ones unless ``overwrite``.

    Raises:
        ExportError: a target is the opened model file (even with ``overwrite``).
        TargetExistsError: targets exist and ``overwrite`` is false.
    """
    if baseline_path is not None:
        base = Path(baseline_path).resolve()
        for t in targets:
            if t.resolve() == base:
                raise ExportError(
                    f"The export would overwrite the opened model {base}; choose another output folder."
                )
    existing = [str(t) for t in targets if t.exists()]
    if existing and not overwrite:
        raise TargetExistsError(existing)

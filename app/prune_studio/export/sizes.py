"""Gzip sizes of exported files, measured on threads (zlib releases the GIL while it deflates).

Deflating at the tutorial's level is most of an export's time for big models (ResNet50: 15
files of 24-283 MB, 123 of 443 s of CPU here), and the exact figure is the report's promise,
so the work is not cut but moved: the opened file is measured in the background from the
start of the export (while the model is traced and converted) and the exported files two at a
time once nothing is being timed any more (a deflating thread beside a timed run would take a
core from it).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from prune_studio.export.report import gzip_size

#: Files deflated at once: the machine this is measured on has two cores.
WORKERS = 2


def in_background(path: str | Path) -> Future:
    """Start measuring ``path``'s gzip size on a thread of its own; ``.result()`` waits for it."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gzip-size")
    try:
        return pool.submit(gzip_size, path)
    finally:
        pool.shutdown(wait=False)  # the thread ends when the measure does


def gzip_sizes(paths: list[str | Path], workers: int = WORKERS) -> list[int]:
    """:func:`~prune_studio.export.report.gzip_size` of each of ``paths``, ``workers`` at a time."""
    if len(paths) <= 1 or workers <= 1:
        return [gzip_size(p) for p in paths]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gzip-size") as pool:
        return list(pool.map(gzip_size, paths))

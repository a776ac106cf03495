"""Gzip sizes of exported files, measured on threads (zlib releases the GIL while it deflates).

Deflating at the tutorial's level is most of an export's time for big models (ResNet50: 15
files of 24-283 MB, ~45 s of CPU at 27 MB/s here), and the exact figure is the report's
promise, so the work is not cut but moved: the opened file is measured in the background from
the start of the export (while the model is traced and converted), and each exported file on
one thread (:class:`Deflater`) from the moment it is in place, while the next files are
verified; what is left is measured two at a time at the end. One deflating thread beside a
timed TFLite run (one thread) left its latency within noise here (0.88-1.04x, ResNet50 files);
a conversion beside one did not (it uses every core).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

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


class Deflater:
    """Gzip sizes of files as they are finished: one file at a time on a thread of its own, the
    ones still waiting ``workers`` at a time in :meth:`sizes`."""

    def __init__(self):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gzip-size")
        self._jobs: list[tuple[Any, str | Path, Future]] = []

    def add(self, key, path: str | Path) -> None:
        """Start measuring ``path`` (queued behind the files added before); ``key`` names it in :meth:`sizes`."""
        self._jobs.append((key, path, self._pool.submit(gzip_size, path)))

    def __len__(self) -> int:
        return len(self._jobs)

    def sizes(self, workers: int = WORKERS) -> list[tuple[Any, int]]:
        """``(key, gzip size)`` of every added file, in the order added, once all are measured."""
        waiting = {i: path for i, (_, path, future) in enumerate(self._jobs) if future.cancel()}
        measured = dict(zip(waiting, gzip_sizes(list(waiting.values()), workers)))
        try:
            return [(key, measured[i] if i in measured else future.result())
                    for i, (key, _, future) in enumerate(self._jobs)]
        finally:
            self._pool.shutdown()

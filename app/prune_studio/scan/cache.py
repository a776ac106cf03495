"""Remember scan results per model and data, so re-opening a model shows them at once.

A result is keyed by a hash of the model's weights, of the data sample it was measured on
and of the sparsities. Changing any weight, the sample or the sparsities gives a new key, so
a stale result is never shown. Files are small JSON documents in the user cache folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from prune_studio.scan.result import ScanResult

log = logging.getLogger(__name__)

# Bump when the way points are measured changes, so old files stop matching.
_FORMAT = "scan-v2"  # v2: BatchNorm statistics re-estimated at every point


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/prune-studio/scan``, by default ``~/.cache/prune-studio/scan``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "prune-studio" / "scan"


def _arrays(value) -> list:
    """One array, or the arrays of a dict by input/output name (in name order, names hashed too)."""
    if isinstance(value, dict):
        return [np.frombuffer(name.encode(), np.uint8) if k % 2 == 0 else value[name]
                for name in sorted(value) for k in range(2)]
    return [value]


def scan_key(weights: Iterable[np.ndarray], x: np.ndarray, y: np.ndarray,
             sparsities: Sequence[float], mode: str = "") -> str:
    """A hex digest naming one (model weights, data sample, sparsities, measuring mode) combination."""
    digest = hashlib.sha256((_FORMAT + mode).encode())
    for array in (*weights, *_arrays(x), *_arrays(y)):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    digest.update(json.dumps([round(float(s), 6) for s in sparsities]).encode())
    return digest.hexdigest()[:32]


def load(cache_dir: Path, key: str) -> ScanResult | None:
    """The cached result for ``key``, or None when there is none or it cannot be read."""
    path = Path(cache_dir) / f"{key}.json"
    try:
        return ScanResult.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring unreadable scan cache %s: %s", path, exc)
        return None


def save(cache_dir: Path, key: str, result: ScanResult) -> None:
    """Write ``result`` atomically; a cache that cannot be written is only logged."""
    path = Path(cache_dir) / f"{key}.json"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(result.to_dict()))
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("could not write scan cache %s: %s", path, exc)

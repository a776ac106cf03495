"""Python children that speak JSON lines: how the parent starts one and how the child talks back.

The TFLite converter (:mod:`prune_studio.export.tflite_worker`) and the window's fine-tune
(:mod:`prune_studio.training.run_child`) run in children of their own, so their TensorFlow
work never holds the window's GIL. Both sides of that arrangement are here once:

- :func:`start_module` (parent): ``python -m <module>`` with this package importable, stdin and
  stdout as line-buffered text pipes, stderr into a temporary file (native code is chatty).
- :func:`reply_channel` (child): the real stdout kept for the replies, file descriptor 1 pointed
  at stderr, so nothing printed by Python or C++ can break a reply line.
- :func:`last_line` (parent): the last line the child wrote to stderr, for the one-sentence
  message when it died.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, Any


def start_module(module: str) -> tuple[subprocess.Popen, IO[bytes]]:
    """Start ``python -m module``; the process and the temporary file holding its stderr.

    Raises:
        OSError: the process could not be started.
    """
    package_root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    stderr = tempfile.TemporaryFile()
    try:
        process = subprocess.Popen([sys.executable, "-m", module], env=env, stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=stderr, text=True, bufsize=1)
    except OSError:
        stderr.close()
        raise
    return process, stderr


def last_line(stderr: IO[bytes] | None, limit: int = 200) -> str:
    """The last non-blank line in a child's stderr file ('' when there is none)."""
    if stderr is None:
        return ""
    try:
        stderr.seek(0)
        lines = [ln for ln in stderr.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except (OSError, ValueError):
        return ""
    return lines[-1][:limit] if lines else ""


def reply_channel() -> IO[str]:
    """In the child: the stream to write replies to; everything else printed goes to stderr.

    Also ignores Ctrl-C (a terminal's interrupt is the parent's to handle) and quiets
    TensorFlow's C++ logging.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return replies


def kill(process: subprocess.Popen | None) -> None:
    """End ``process`` now, if it still runs, and close its pipes."""
    if process is None:
        return
    if process.poll() is None:
        process.kill()
        process.wait()
    for stream in (process.stdin, process.stdout):
        try:
            stream.close()
        except (OSError, AttributeError):
            pass


def let_end(process: subprocess.Popen | None, timeout: float = 10.0) -> None:
    """Close ``process``'s stdin (its cue to finish) and wait for it; kill it after ``timeout`` s."""
    if process is None:
        return
    try:
        process.stdin.close()
        process.wait(timeout=timeout)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        process.kill()
        process.wait()
    try:
        process.stdout.close()
    except OSError:
        pass


class ChildOwner:
    """What the owner of one child process shares: it keeps the process in ``_process`` and
    starts, sends to and stops it under ``_lock`` (both set by the subclass)."""

    _process: subprocess.Popen | None
    _lock: Any

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _take(self) -> subprocess.Popen | None:
        with self._lock:
            process, self._process = self._process, None
        return process

    def stop(self) -> None:
        """End the child now (what it was doing is dropped); the next ``start()`` makes a new one."""
        kill(self._take())

    def close(self) -> None:
        """Let the child finish and end (its stdin closes); kill it if it does not within 10 s."""
        let_end(self._take())

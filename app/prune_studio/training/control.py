"""Cooperative stop and pause for a run in another thread.

The window (or a signal handler) calls :meth:`RunControl.stop` / :meth:`pause` /
:meth:`resume`; the training loop checks it between batches. Stop takes effect at the next
batch boundary; pause blocks the training thread there until resumed or stopped.

Example::

    control = RunControl()
    threading.Thread(target=fine_tune, args=(...), kwargs={"control": control}).start()
    control.pause(); ...; control.resume(); control.stop()
"""

from __future__ import annotations

import threading


class RunControl:
    """Thread-safe stop/pause flags for one run."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._stopped = False
        self._paused = False
        self._holding = False

    @property
    def stopped(self) -> bool:
        return self._stopped

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def holding(self) -> bool:
        """Whether the run is held at a batch boundary now (paused, and the batch in flight done)."""
        return self._holding

    def stop(self) -> None:
        """Ask the run to end at the next batch; also releases a pause."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def pause(self) -> None:
        """Hold the run at the next batch boundary until :meth:`resume` or :meth:`stop`."""
        with self._cond:
            self._paused = True
            self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def wait_while_paused(self, timeout: float | None = None) -> bool:
        """Block while paused (and not stopped). Returns ``True`` once the run may go on.

        Args:
            timeout: give up after this many seconds and return ``False`` (``None``: wait).
        """
        with self._cond:
            self._holding = self._paused and not self._stopped
            try:
                return self._cond.wait_for(lambda: self._stopped or not self._paused, timeout)
            finally:
                self._holding = False

"""A one-line progress bar on stderr for CLI runs, drawn only when stderr is a terminal."""

from __future__ import annotations

import sys
import time

from prune_studio.training.listener import TrainingListener

WIDTH = 28
MIN_INTERVAL_S = 0.1


class ProgressBar(TrainingListener):
    """Draws ``[#####.....]  40%  step 12/30  loss 0.123  accuracy 95.1%  zeros 63%``.

    Log messages go to stderr as lines in both cases; the bar itself only on a terminal, so
    logs and pipes stay clean.
    """

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.draw = self.stream.isatty()
        self.total = 0
        self.zeros = 0.0
        self._last = 0.0
        self._drawn = False

    def on_run_start(self, total_steps: int, steps_per_epoch: int, epochs: int) -> None:
        self.total = total_steps
        self.on_log(f"Fine-tuning: {epochs} epoch(s), {steps_per_epoch} steps each.")

    def on_sparsity(self, step, overall, target, layers) -> None:
        self.zeros = overall

    def on_batch_end(self, step: int, epoch: int, logs: dict) -> None:
        now = time.monotonic()
        if not self.draw or (now - self._last < MIN_INTERVAL_S and step < self.total):
            return
        self._last = now
        fraction = min(1.0, step / self.total) if self.total else 0.0
        filled = int(WIDTH * fraction)
        parts = [f"[{'#' * filled}{'.' * (WIDTH - filled)}] {fraction:4.0%}", f"step {step}/{self.total}"]
        if "loss" in logs:
            parts.append(f"loss {logs['loss']:.4f}")
        if "accuracy" in logs:
            parts.append(f"accuracy {logs['accuracy']:.1%}")
        parts.append(f"zeros {self.zeros:.0%}")
        self.stream.write("\r" + "  ".join(parts) + "\033[K")
        self.stream.flush()
        self._drawn = True

    def on_phase(self, name: str, seconds: float | None) -> None:
        if seconds is not None:
            self.on_log(f"{name}: {seconds:.1f} s.")

    def on_warning(self, kind: str, message: str) -> None:
        self.on_log(f"Warning: {message}")

    def on_log(self, message: str) -> None:
        if self._drawn:
            self.stream.write("\n")
            self._drawn = False
        self.stream.write(message + "\n")
        self.stream.flush()

    def phase(self, label: str):
        """A ``progress(fraction, text)`` callback for a stage such as the export or the scan.

        On a terminal it redraws one line in place; otherwise it logs a line per new tenth.
        """
        printed = set()

        def progress(fraction: float, text: str) -> None:
            line = f"{label} {fraction:4.0%}: {text}"
            if self.draw:
                self.stream.write("\r" + line + "\033[K")
                self.stream.flush()
                self._drawn = True
            elif int(fraction * 10) not in printed:
                printed.add(int(fraction * 10))
                self.on_log(line)

        return progress


class StepLines:
    """A ``progress(fraction, text)`` callback: redraws one line on a terminal; otherwise prints
    plain lines: one per layer (the text before " with "; its first measurement), one every
    ``heartbeat_s`` during a long layer, and the last one, so pipes, logs and CI see the run
    advance without a line per measurement.
    """

    def __init__(self, stream=None, heartbeat_s: float = 30.0):
        self.stream = stream or sys.stderr
        self.draw = self.stream.isatty()
        self.heartbeat_s = heartbeat_s
        self._subject = None
        self._last = -1e9

    def __call__(self, fraction: float, text: str) -> None:
        line = f"[{fraction:4.0%}] {text}"
        if self.draw:
            self.stream.write("\r" + line + "\033[K")
            self.stream.flush()
            return
        subject = text.split(" with ")[0]
        now = time.monotonic()
        if subject != self._subject or now - self._last >= self.heartbeat_s or fraction >= 1.0:
            self.stream.write(line + "\n")
            self.stream.flush()
            self._last, self._subject = now, subject

    def finish(self) -> None:
        """Clear the redrawn line (terminal only)."""
        if self.draw:
            self.stream.write("\r\033[K")
            self.stream.flush()

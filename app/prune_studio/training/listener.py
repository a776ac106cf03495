"""What a fine-tune run tells its observer (the window's charts, the CLI's progress bar).

Every method is a no-op here; subclass and override the ones you need. All calls come from
the thread that runs :func:`prune_studio.training.fine_tune`, so a GUI must forward them
to its own thread (the window queues them as signals).
"""

from __future__ import annotations

from typing import Any


class TrainingListener:
    """Callbacks of one run, in the order they happen."""

    def on_run_start(self, total_steps: int, steps_per_epoch: int, epochs: int) -> None:
        """Training is about to start (after the baseline evaluation)."""

    def on_baseline(self, metrics: dict[str, float]) -> None:
        """The unpruned model's test metrics, e.g. ``{"loss": 0.05, "accuracy": 0.98}``."""

    def on_batch_end(self, step: int, epoch: int, logs: dict[str, float]) -> None:
        """One batch done; ``step`` counts from 1 over the whole run, ``epoch`` from 0."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        """One epoch done, with its training and validation metrics."""

    def on_sparsity(self, step: int, overall: float, target: float, layers: dict[str, float]) -> None:
        """Current zeros share overall, the schedules' target, and per layer (at most ~10/s)."""

    def on_log(self, message: str) -> None:
        """A line for the run's log."""

    def on_phase(self, name: str, seconds: float | None) -> None:
        """A phase of the run starts (``seconds=None``) or ends (``seconds``: how long it took).

        Names: ``"Evaluating"``, ``"Fine-tuning"``, ``"Re-estimating BatchNorm statistics"``,
        ``"Stripping"``.
        """

    def on_warning(self, kind: str, message: str) -> None:
        """Something the user should act on; ``message`` is one sentence saying what to change.

        ``kind == "accuracy_drop"``: validation accuracy fell far below the baseline.
        """

    def on_run_end(self, result: Any) -> None:
        """The run's :class:`~prune_studio.training.FineTuneResult`."""

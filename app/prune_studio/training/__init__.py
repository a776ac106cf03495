"""Fine-tune with pruning: settings, listener callbacks, cooperative stop/pause.

The window runs :func:`fine_tune` in a worker thread; ``prune-studio-cli prune`` runs it in
the main thread. ``TrainingSettings``, ``RunControl`` and ``TrainingListener`` import without
TensorFlow; ``fine_tune`` and ``FineTuneResult`` load it on first use.
"""

from prune_studio.training.control import RunControl
from prune_studio.training.errors import TrainingError
from prune_studio.training.listener import TrainingListener
from prune_studio.training.settings import TrainingSettings, steps_for, steps_per_epoch

__all__ = [
    "FineTuneResult",
    "RunControl",
    "TrainingError",
    "TrainingListener",
    "TrainingSettings",
    "fine_tune",
    "steps_for",
    "steps_per_epoch",
]


def __getattr__(name: str):
    """Load the TensorFlow-backed names lazily, so the window starts before TF has loaded."""
    if name in ("fine_tune", "FineTuneResult"):
        from prune_studio.training import run

        globals()[name] = getattr(run, name)
        return globals()[name]
    raise AttributeError(f"module 'prune_studio.training' has no attribute {name!r}")

"""Fine-tune settings and the step arithmetic a pruning schedule needs.

Kept free of TensorFlow so the window and the recipe can use them before TF has loaded.

Example::

    settings = TrainingSettings(epochs=2, batch_size=32)
    end_step = steps_for(settings, num_train=1437)   # 82: where a schedule should end
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from prune_studio.training.errors import TrainingError

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "nadam", "adagrad")


@dataclass
class TrainingSettings:
    """How to fine-tune: epochs, batch size, optimizer, learning rate, validation share.

    ``reestimate_batchnorm`` (on by default) measures BatchNormalization moving statistics
    afresh at each epoch end and at the end of the run, so pruned masks do not leave them stale.
    ``learning_rate`` defaults to 1e-4, a fine-tuning rate rather than a from-scratch one
    (``tests/benchmarks/test_bench_accuracy.py`` measures both on three architectures).
    """

    epochs: int = 2
    batch_size: int = 32
    optimizer: str = "adam"
    learning_rate: float = 1e-4
    validation_split: float = 0.1
    reestimate_batchnorm: bool = True

    def problems(self) -> list[tuple[str, str]]:
        """Every invalid field as ``(field, problem)``; empty when the settings are usable."""
        found = []
        if not _is_int(self.epochs) or self.epochs < 1:
            found.append(("epochs", f"must be a whole number of at least 1, got {self.epochs!r}"))
        if not _is_int(self.batch_size) or self.batch_size < 1:
            found.append(("batch_size", f"must be a whole number of at least 1, got {self.batch_size!r}"))
        if self.optimizer not in OPTIMIZERS:
            found.append(("optimizer", f"must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}"))
        if not _is_number(self.learning_rate) or not 0 < self.learning_rate < 10:
            found.append(("learning_rate", f"must be a number above 0 and below 10, got {self.learning_rate!r}"))
        if not _is_number(self.validation_split) or not 0 <= self.validation_split < 1:
            found.append(
                ("validation_split", f"must be a number from 0 up to (not including) 1, got {self.validation_split!r}")
            )
        if not isinstance(self.reestimate_batchnorm, bool):
            found.append(("reestimate_batchnorm", f"must be true or false, got {self.reestimate_batchnorm!r}"))
        return found

    def validate(self) -> "TrainingSettings":
        """Raise :class:`TrainingError` naming the first invalid field; return self otherwise."""
        for field, problem in self.problems():
            raise TrainingError(f"Training setting '{field}' {problem}.", field=field)
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainingSettings":
        """Build and validate; unknown keys raise :class:`TrainingError` naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TrainingError(
                f"Unknown training setting '{unknown[0]}'; valid settings are {', '.join(sorted(known))}.",
                field=unknown[0],
            )
        return cls(**data).validate()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def steps_per_epoch(settings: TrainingSettings, num_train: int) -> int:
    """Batches per epoch once the validation share is held out (as ``Model.fit`` counts them)."""
    held_out = int(num_train * settings.validation_split)
    return max(1, math.ceil((num_train - held_out) / settings.batch_size))


def steps_for(settings: TrainingSettings, num_train: int) -> int:
    """Total training steps of a run: where a pruning schedule should reach its target."""
    return settings.epochs * steps_per_epoch(settings, num_train)

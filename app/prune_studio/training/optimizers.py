"""Build the optimizer a fine-tune run trains with.

The pruning engine keeps pruned weights at zero through each weight's ``constraint``. The
legacy tf-keras optimizers (``keras.optimizers.legacy.*``) refuse a constraint on a variable
whose gradient is sparse (``IndexedSlices``, as an ``Embedding`` table's is) with "Cannot use a
constraint function on a sparse variable"; the current optimizers apply the constraint after
every update, sparse or dense. ``keras.optimizers.get({"class_name": "adam", "config": {...}})``
returns the *legacy* class whenever the config is not empty, so the classes are named here.

Example::

    optimizer = make_optimizer(TrainingSettings(optimizer="adamw", learning_rate=1e-4))
"""

from __future__ import annotations

from prune_studio.compat import keras
from prune_studio.training.settings import OPTIMIZERS, TrainingSettings

_CLASSES = {
    "adam": "Adam",
    "adamw": "AdamW",
    "sgd": "SGD",
    "rmsprop": "RMSprop",
    "nadam": "Nadam",
    "adagrad": "Adagrad",
}


def make_optimizer(settings: TrainingSettings) -> "keras.optimizers.Optimizer":
    """A fresh (non-legacy) optimizer named by ``settings``, at its learning rate."""
    cls = getattr(keras.optimizers, _CLASSES[settings.optimizer])
    return cls(learning_rate=settings.learning_rate)


def is_legacy(optimizer) -> bool:
    """Whether ``optimizer`` is one of tf-keras's legacy optimizers (no constraints on sparse updates)."""
    return isinstance(optimizer, keras.optimizers.legacy.Optimizer)

"""Re-estimate BatchNormalization moving statistics after the weights under them changed.

Magnitude pruning changes what every layer after a pruned one sees, but a BatchNormalization
layer keeps normalising with the moving mean and variance it learned on the dense model. At
inference those stale statistics can wreck accuracy (an 80%-sparse DenseNet121 scored 0.255
with them and 0.995 once they were re-measured), while fine-tuning alone repairs them slowly
(momentum 0.99 forgets at 1% a batch).

:func:`reestimate_batchnorm` measures them afresh: forward passes over a sample of training
data with every BatchNormalization layer normalising by its batch (as in training) and every
other layer in inference mode (no dropout, no pruning step counted, no weight update). Each
layer's moving statistics become the cumulative average of the batch statistics it saw, the
way ``torch.optim.swa_utils.update_bn`` does it; a momentum-only update would need hundreds
of batches to forget the old values (measured in ``tests/benchmarks/test_bench_accuracy.py``).

Example::

    changed = reestimate_batchnorm(model, dataset)          # 512 training samples
    changed = reestimate_batchnorm(model, (x, None))        # or arrays
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator
from typing import Any

import numpy as np

from prune_studio.compat import keras, tf

#: How many training samples a re-estimation looks at by default.
DEFAULT_SAMPLES = 512
#: Batch size of the re-estimation passes (batch statistics need a reasonable batch).
DEFAULT_BATCH = 64


def batchnorm_layers(model: "keras.Model") -> list["keras.layers.Layer"]:
    """Every BatchNormalization layer of ``model`` (nested models and wrappers included)."""
    found, seen = [], set()
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if _is_batchnorm(layer) and id(layer) not in seen:
            seen.add(id(layer))
            found.append(layer)
    return found


def has_batchnorm(model: "keras.Model") -> bool:
    """Whether ``model`` holds at least one BatchNormalization layer with moving statistics."""
    return bool(batchnorm_layers(model))


def _is_batchnorm(layer: Any) -> bool:
    names = {cls.__name__ for cls in type(layer).__mro__}
    stats = hasattr(layer, "moving_mean") and hasattr(layer, "moving_variance")
    return stats and bool(names & {"BatchNormalizationBase", "BatchNormalization", "SyncBatchNormalization"})


def training_sample(dataset: Any, num_samples: int = DEFAULT_SAMPLES, seed: int = 0) -> Any:
    """Up to ``num_samples`` training inputs of ``dataset``, drawn at random (fixed seed).

    Arrays are sampled across the whole split (data sorted by class would otherwise give one
    class's statistics); streamed data gives its first examples.
    """
    x = getattr(dataset, "x_train", None)
    if x is None:
        return dataset.sample(int(num_samples), split="train")[0]
    size = _length(x)
    take = np.sort(np.random.default_rng(seed).permutation(size)[: int(num_samples)])
    return tf.nest.map_structure(lambda a: np.asarray(a)[take], x)


def _length(x: Any) -> int:
    return len(tf.nest.flatten(x)[0])


def _batches(x: Any, batch_size: int) -> Iterator[Any]:
    size = _length(x)
    for start in range(0, size, batch_size):
        part = tf.nest.map_structure(lambda a: a[start:start + batch_size], x)
        if _length(part) >= 2 or size < 2:  # a batch of one has no variance to measure
            yield part


@contextlib.contextmanager
def _batch_statistics(layers: list, momentum: float | None = 0.0) -> Iterator[None]:
    """Inside, each layer in ``layers`` normalises by its batch and updates its moving stats.

    Momentum 0 (the default) makes the moving statistics equal the last batch's, so the caller
    can read each batch's statistics and average them; ``None`` keeps each layer's own
    momentum. The other layers stay in inference mode.
    """
    saved = [(layer.momentum, layer.__dict__.get("_get_training_value")) for layer in layers]
    try:
        for layer in layers:
            if momentum is not None:
                layer.momentum = momentum
            layer._get_training_value = types.MethodType(lambda self, training=None: True, layer)
        yield
    finally:
        for layer, (momentum, own) in zip(layers, saved):
            layer.momentum = momentum
            if own is None:
                del layer._get_training_value
            else:
                layer._get_training_value = own


class BatchNormEstimator:
    """Re-estimates one model's BatchNormalization statistics, as often as asked.

    The forward pass is traced once (with the BatchNormalization layers in batch-statistics
    mode baked in), so the sensitivity scan can re-estimate after every point cheaply.
    """

    def __init__(self, model: "keras.Model", batch_size: int = DEFAULT_BATCH):
        self.model = model
        self.layers = batchnorm_layers(model)
        self.batch_size = int(batch_size)
        self._forward = None

    def momentum_passes(self, x: Any, passes: int = 1) -> int:
        """The alternative to :meth:`__call__`: batch passes with each layer's own momentum.

        Kept for ``tests/benchmarks/test_bench_accuracy.py``, which measures both ways.
        """
        if not self.layers or _length(x) == 0:
            return 0
        model = self.model
        with _batch_statistics(self.layers, momentum=None):
            forward = tf.function(lambda batch: model(batch, training=False), reduce_retracing=True)
            for _ in range(int(passes)):
                for batch in _batches(x, self.batch_size):
                    forward(tf.nest.map_structure(tf.constant, batch))
        return len(self.layers)

    def __call__(self, x: Any) -> int:
        """Re-estimate from the inputs ``x``; returns how many layers changed (0: none ran)."""
        if not self.layers or _length(x) == 0:
            return 0
        sums: list = [None] * len(self.layers)
        count = 0
        with _batch_statistics(self.layers):
            if self._forward is None:
                model = self.model
                self._forward = tf.function(lambda batch: model(batch, training=False), reduce_retracing=True)
            for batch in _batches(x, self.batch_size):
                self._forward(tf.nest.map_structure(tf.constant, batch))
                n = _length(batch)
                for i, layer in enumerate(self.layers):
                    mean, var = layer.moving_mean.numpy() * n, layer.moving_variance.numpy() * n
                    sums[i] = (mean, var) if sums[i] is None else (sums[i][0] + mean, sums[i][1] + var)
                count += n
        if not count:
            return 0
        for layer, (mean_sum, var_sum) in zip(self.layers, sums):
            layer.moving_mean.assign(mean_sum / count)
            layer.moving_variance.assign(var_sum / count)
        return len(self.layers)


def reestimate_batchnorm(model: "keras.Model", data: Any, num_samples: int = DEFAULT_SAMPLES,
                         batch_size: int = DEFAULT_BATCH, seed: int = 0) -> int:
    """Replace every BatchNormalization layer's moving mean and variance by fresh estimates.

    Args:
        model: a built tf-keras model (wrapped for pruning or not). Only the BatchNormalization
            moving statistics change; weights, optimizer state and pruning steps do not.
        data: a :class:`prune_studio.data.Dataset` (its training split is sampled) or the
            model inputs themselves (an array, or a list/dict of arrays for several inputs).
        num_samples: how many training examples to look at (a dataset is sampled at random).
        batch_size: examples per forward pass.
        seed: the sampling seed, so two runs give the same statistics.

    Returns:
        How many BatchNormalization layers were re-estimated (0 when the model has none, and
        then nothing runs).
    """
    estimator = BatchNormEstimator(model, batch_size)
    if not estimator.layers:
        return 0
    x = training_sample(data, num_samples, seed) if hasattr(data, "num_train") else data
    return estimator(x)


def save_statistics(model: "keras.Model") -> list[tuple[np.ndarray, np.ndarray]]:
    """The moving statistics of every BatchNormalization layer, to put back with :func:`restore_statistics`."""
    return [(layer.moving_mean.numpy(), layer.moving_variance.numpy()) for layer in batchnorm_layers(model)]


def restore_statistics(model: "keras.Model", saved: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """Undo a re-estimation (the scan measures one point, then restores the model)."""
    for layer, (mean, variance) in zip(batchnorm_layers(model), saved):
        layer.moving_mean.assign(mean)
        layer.moving_variance.assign(variance)

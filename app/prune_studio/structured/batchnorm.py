"""Re-estimate BatchNormalization statistics after the weights changed (fine-tuning, surgery).

Surgery keeps the statistics of every kept channel exact, but a short fine-tune moves the
weights faster than the moving averages follow (MobileNetV2 uses momentum 0.999): evaluation
then sees stale statistics. Forward passes in training mode over a few hundred samples, with no
weight update, set each moving mean and variance to the average over those batches.
"""

from __future__ import annotations

import math

import numpy as np

from prune_studio.compat import keras


def _batchnorms(model) -> list:
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)
            if isinstance(layer, keras.layers.BatchNormalization)]


def recalibrate_batchnorm(model, x: np.ndarray, batch_size: int = 64, max_samples: int = 512) -> int:
    """Set every BatchNormalization's moving statistics from ``x``; returns the number of layers.

    Only the moving mean and variance change; the model's weights are untouched.
    """
    layers = _batchnorms(model)
    if not layers or x is None or len(x) == 0:
        return 0
    x = np.asarray(x[:max_samples], dtype=np.float32)
    saved = [layer.momentum for layer in layers]
    try:
        for i in range(math.ceil(len(x) / batch_size)):
            for layer in layers:
                layer.momentum = i / (i + 1)  # running average over the batches so far
            model(x[i * batch_size:(i + 1) * batch_size], training=True)
    finally:
        for layer, momentum in zip(layers, saved):
            layer.momentum = momentum
    return len(layers)

"""Re-estimate BatchNormalization statistics after the weights changed (fine-tuning, surgery).

Surgery keeps the statistics of every kept channel exact, but the layers after a thinned one see
other inputs, and a short fine-tune moves the weights faster than the moving averages follow
(MobileNetV2 uses momentum 0.999): evaluation then sees stale statistics. Forward passes over a
few hundred samples, with the BatchNormalization layers normalising by their batch and every
other layer in inference mode (no dropout), no weight update, set each moving mean and variance
to the average over those batches (``prune_studio.training.batchnorm`` does the work).
"""

from __future__ import annotations

import numpy as np


def recalibrate_batchnorm(model, x: np.ndarray, batch_size: int = 64, max_samples: int = 512) -> int:
    """Set every BatchNormalization's moving statistics from ``x``; returns the number of layers.

    Only the moving mean and variance change; the model's weights are untouched. ``x`` is an
    array of inputs (its first ``max_samples``) or a ``prune_studio.data.Dataset`` (a random
    sample of its training split).
    """
    from prune_studio.training.batchnorm import reestimate_batchnorm

    if x is None:
        return 0
    if hasattr(x, "num_train"):
        return reestimate_batchnorm(model, x, num_samples=max_samples, batch_size=batch_size)
    if len(x) == 0:
        return 0
    return reestimate_batchnorm(model, x[:max_samples], batch_size=batch_size)

"""tfmot module name ``pruning_utils``: checks on pruned weights."""

import numpy as np


def is_pruned_m_by_n(weights, m_by_n=(2, 4), last_channel="C_OUT"):
    """True when every ``n`` consecutive input-channel weights hold at least ``m`` zeros.

    Args:
        weights: a weight tensor or array, ``[..., in, out]`` (``last_channel='C_OUT'``, Keras'
            layout) or ``[out, ..., in]`` (``'C_IN'``, TFLite's).
        m_by_n: ``(m, n)`` with ``m <= n``.
        last_channel: ``'C_OUT'`` or ``'C_IN'``.

    Raises:
        ValueError: ``m > n`` or another ``last_channel``.
    """
    zeros, n = m_by_n
    if zeros > n:
        raise ValueError(f"m_by_n={tuple(m_by_n)!r} asks for more zeros ({zeros}) than weights per group ({n}).")
    values = np.asarray(weights)
    if last_channel == "C_OUT":
        values = np.moveaxis(values, -1, 0) if values.ndim > 1 else values  # [out, ..., in]
    elif last_channel != "C_IN":
        raise ValueError(f"last_channel must be 'C_OUT' or 'C_IN', got last_channel={last_channel!r}.")
    rows = values.reshape(-1, values.shape[-1]) if values.ndim > 1 else values.reshape(1, -1)
    for start in range(0, rows.shape[1], n):
        group = rows[:, start : start + n]
        if np.any(np.count_nonzero(group, axis=1) > n - zeros):
            return False
    return True


__all__ = ["is_pruned_m_by_n"]

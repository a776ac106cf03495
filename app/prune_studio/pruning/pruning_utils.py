"""tfmot module name ``pruning_utils``: its block and m-by-n helpers, and checks on pruned weights.

The helpers take and return tensors with tfmot's signatures; the engine's masks use the same
code (:mod:`prune_studio.pruning.masks`).
"""

import numpy as np

from prune_studio.compat import tf
from prune_studio.pruning import masks


def kronecker_product(mat1, mat2):
    """The Kronecker product of two rank-2 tensors: ``mat1[i, j] * mat2`` at block ``(i, j)``."""
    mat1, mat2 = tf.convert_to_tensor(mat1), tf.convert_to_tensor(mat2)
    m, n = mat1.shape
    p, q = mat2.shape
    return tf.reshape(mat1[:, None, :, None] * mat2[None, :, None, :], [m * p, n * q])


def expand_tensor(tensor, block_size):
    """Each value of a rank-2 ``tensor`` repeated over a ``block_size`` (rows, columns) block."""
    return masks.expand_blocks(tf.convert_to_tensor(tensor), convert_to_tuple_of_two_int(block_size, "block_size"))


def factorized_pool(input_tensor, window_shape, pooling_type, strides, padding, name=None):
    """``tf.nn.pool`` of a rank-2 tensor seen as one single-channel image, returned as rank 2.

    As in tfmot, ``strides`` equal ``window_shape`` (blocks that do not overlap); ``name`` is
    accepted for its signature.
    """
    del name
    window = convert_to_tuple_of_two_int(window_shape, "window_shape")
    if convert_to_tuple_of_two_int(strides, "strides") != window:
        raise ValueError(f"strides must equal window_shape, got strides={strides!r} and window_shape={window_shape!r}.")
    return masks.pool_blocks(tf.convert_to_tensor(input_tensor), window, pooling_type, padding)


def convert_to_tuple_of_two_int(value, name):
    """``value`` (an iterable of two integers) as a tuple; ValueError naming ``name`` otherwise."""
    try:
        pair = tuple(value)
        ok = len(pair) == 2 and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair)
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"{name} must be an iterable of two integers, got {name}={value!r}.")
    return tuple(int(v) for v in pair)


def weights_rearrange(weights):
    """A Dense ``[in, out]`` or Conv2D ``[h, w, in, out]`` kernel as rows of input channels.

    Returns ``[out, in]``, or ``[out * h * w, in]`` (TFLite's order), the layout :func:`generate_m_by_n_mask`
    groups along. Raises ValueError for other ranks.
    """
    weights = tf.convert_to_tensor(weights)
    if weights.shape.rank not in (2, 4):
        raise ValueError(f"weights_rearrange takes rank-2 (Dense) or rank-4 (Conv2D) weights, got shape {weights.shape}.")
    return masks.input_channel_rows(weights)


def m_by_n_sparsity_mask_prepare(mask, weights_shape):
    """A mask made on :func:`weights_rearrange`'s rows, put back in the kernel's ``weights_shape``.

    Raises ValueError unless the mask is rank 2 and the shape rank 2 or 4, and
    ``tf.errors.InvalidArgumentError`` when their sizes differ.
    """
    mask = tf.convert_to_tensor(mask)
    shape = tf.TensorShape(weights_shape)
    if mask.shape.rank != 2:
        raise ValueError(f"The mask must be rank 2 (rows of input channels), got shape {mask.shape}.")
    if shape.rank not in (2, 4):
        raise ValueError(f"weights_shape must be rank 2 (Dense) or rank 4 (Conv2D), got {shape}.")
    tf.debugging.assert_equal(tf.size(mask), shape.num_elements(),
                              message=f"The mask's size differs from that of weights of shape {shape}.")
    return masks.from_input_channel_rows(mask, shape.as_list())


def generate_m_by_n_mask(weights, m_by_n=(2, 4)):
    """0/1 mask keeping the ``n - m`` largest magnitudes of every ``n`` values along the last axis.

    ``weights`` are rows as :func:`weights_rearrange` makes them. ``tf.errors.InvalidArgumentError``
    unless ``m < n``.
    """
    zeros, n = convert_to_tuple_of_two_int(m_by_n, "m_by_n")
    tf.debugging.assert_less(zeros, n, message=f"m_by_n={m_by_n!r}: m must be smaller than n.")
    weights = tf.convert_to_tensor(weights)
    if not weights.dtype.is_floating:
        weights = tf.cast(weights, tf.float32)
    magnitudes = tf.reshape(tf.abs(weights), [-1, weights.shape[-1]])
    return tf.reshape(masks.keep_largest_in_groups(magnitudes, n, n - zeros), tf.shape(weights))


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


__all__ = [
    "convert_to_tuple_of_two_int", "expand_tensor", "factorized_pool", "generate_m_by_n_mask", "is_pruned_m_by_n",
    "kronecker_product", "m_by_n_sparsity_mask_prepare", "weights_rearrange",
]

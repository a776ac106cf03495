"""Mask rules: which weights a pruning step keeps.

The magnitude rule is the reference's: keep ``k = max(1, round(n * (1 - sparsity)))`` weights
and every weight whose magnitude is at least the k-th largest (so ties at the threshold are kept,
exactly as the reference's ``abs(w) >= threshold``). The reference sorts the whole tensor to find
that k-th value; :func:`kth_largest` finds the same value by bracketing it with a strided sample
and selecting only inside the bracket, falling back to a full selection when the bracket misses.
"""

from prune_studio.compat import tf

#: Below this many values a plain ``top_k`` is as cheap as anything cleverer.
_SMALL = 1 << 16
#: Sample size used to bracket the k-th value of a large tensor.
_SAMPLE = 1 << 16
#: Half-width of the bracket in sample ranks (about 8 standard errors of the rank).
_MARGIN = 512


def keep_count(n, sparsity):
    """``k = max(1, round(n * (1 - sparsity)))`` computed in float32 like the reference."""
    k = tf.math.round(tf.cast(n, tf.float32) * (1.0 - tf.cast(sparsity, tf.float32)))
    return tf.cast(tf.maximum(k, 1.0), tf.int32)


def _top_k_value(values, k):
    return tf.gather(tf.math.top_k(values, k=k, sorted=True).values, k - 1)


def kth_largest(values, k):
    """The k-th largest entry (1-based, duplicates counted) of a 1-D tensor.

    Equal to ``sort(values, descending)[k - 1]`` for every input; large inputs avoid the sort.
    """
    n = values.shape[0]
    if n is not None and n <= _SMALL:
        return _top_k_value(values, k)
    size = tf.size(values)
    # Select from whichever end is nearer: the k-th largest is the (n-k+1)-th largest of -x.
    flip = k > size // 2
    x = tf.where(flip, -values, values)
    rank_k = tf.where(flip, size - k + 1, k)
    stride = tf.maximum(size // _SAMPLE, 1)
    sample = x[::stride]
    m = tf.size(sample)
    ordered = tf.math.top_k(sample, k=m, sorted=True).values
    # Sample rank (0-based) expected to hold the wanted value, and a bracket around it.
    rank = tf.cast(tf.cast(rank_k, tf.int64) * tf.cast(m, tf.int64) // tf.cast(size, tf.int64), tf.int32)
    inf = tf.constant(float("inf"), values.dtype)
    hi = tf.where(rank - _MARGIN < 0, inf, tf.gather(ordered, tf.maximum(rank - _MARGIN, 0)))
    lo = tf.where(rank + _MARGIN >= m, -inf, tf.gather(ordered, tf.minimum(rank + _MARGIN, m - 1)))
    above = tf.reduce_sum(tf.cast(x > hi, tf.int32))
    candidates = tf.boolean_mask(x, tf.logical_and(x <= hi, x >= lo))
    need = rank_k - above
    found = tf.logical_and(need >= 1, need <= tf.size(candidates))
    value = tf.cond(
        found,
        lambda: _top_k_value(candidates, tf.maximum(need, 1)),
        lambda: _top_k_value(x, rank_k),
    )
    return tf.where(flip, -value, value)


def magnitude_mask(weights, sparsity):
    """``(threshold, mask)``: keep the largest-magnitude weights as the reference does."""
    abs_w = tf.abs(weights)
    flat = tf.reshape(abs_w, [-1])
    k = keep_count(tf.size(flat), sparsity)
    threshold = kth_largest(flat, k)
    return threshold, tf.cast(abs_w >= threshold, weights.dtype)


def block_mask(weights, sparsity, block_size, pooling_type):
    """``(threshold, mask)`` pruning whole ``block_size`` blocks of a rank-2 weight.

    Blocks are scored by the AVG or MAX of ``|w|`` (windows with SAME padding, as the
    reference), pruned by :func:`magnitude_mask` on the scores, and expanded back.
    """
    rows, cols = weights.shape
    abs_w = tf.abs(weights)
    pooled = tf.nn.pool(
        tf.reshape(abs_w, [1, rows, cols, 1]),
        window_shape=list(block_size),
        pooling_type=pooling_type,
        strides=list(block_size),
        padding="SAME",
    )
    pooled = tf.reshape(pooled, tf.shape(pooled)[1:3])
    threshold, small_mask = magnitude_mask(pooled, sparsity)
    expanded = tf.repeat(tf.repeat(small_mask, block_size[0], axis=0), block_size[1], axis=1)
    return threshold, expanded[:rows, :cols]


def m_by_n_mask(weights, m_by_n):
    """Mask with ``m`` zeros in every ``n`` consecutive weights along the input-channel axis.

    The input-channel axis is the second to last (Dense ``[in, out]``, Conv ``[..., in, out]``);
    groups run along it for each output channel and kernel position, as TFLite lays them out.
    The ``n - m`` largest magnitudes of each group are kept.
    """
    zeros, n = m_by_n
    keep = n - zeros
    shape = weights.shape
    c_in = shape[-2]
    rank = len(shape)
    perm = [rank - 1] + list(range(rank - 2)) + [rank - 2]
    moved = tf.transpose(tf.abs(weights), perm)  # [out, ..., in]
    rows = tf.reshape(moved, [-1, c_in])
    pad = (-c_in) % n
    padded = tf.pad(rows, [[0, 0], [0, pad]], constant_values=-1.0)
    groups = tf.reshape(padded, [-1, n])
    kth = tf.math.top_k(groups, k=keep, sorted=True).values[:, keep - 1 : keep]
    # Keep exactly `keep` per group: the strictly larger ones, then the first ties by position.
    greater = groups > kth
    ties = tf.equal(groups, kth)
    tie_rank = tf.cumsum(tf.cast(ties, tf.int32), axis=1)
    room = keep - tf.reduce_sum(tf.cast(greater, tf.int32), axis=1, keepdims=True)
    chosen = tf.logical_or(greater, tf.logical_and(ties, tie_rank <= room))
    chosen = tf.logical_and(chosen, groups >= 0.0)
    mask_rows = tf.reshape(tf.cast(chosen, weights.dtype), [-1, c_in + pad])[:, :c_in]
    inverse = [0] * rank
    for i, p in enumerate(perm):
        inverse[p] = i
    moved_shape = [shape[p] for p in perm]
    return tf.zeros([], weights.dtype), tf.transpose(tf.reshape(mask_rows, moved_shape), inverse)

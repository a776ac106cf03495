"""Mask rules: which weights a pruning step keeps.

The magnitude rule is the reference's: keep ``k = max(1, round(n * (1 - sparsity)))`` weights
and every weight whose magnitude is at least the k-th largest (so ties at the threshold are kept,
exactly as the reference's ``abs(w) >= threshold``). The reference sorts the whole tensor to find
that k-th value; :func:`kth_largest` finds the same value by radix selection in linear time.
"""

from prune_studio.compat import tf

#: Below this many values a plain ``top_k`` is as cheap as anything cleverer.
_SMALL = 4096
#: Radix-selection digits of a non-negative float32's 31 value bits: (shift, bins). The first
#: digit (8 exponent bits and 4 mantissa bits) usually leaves a few hundred candidates.
_DIGITS = ((19, 4096), (9, 1024), (0, 512))


def keep_count(n, sparsity):
    """``k = max(1, round(n * (1 - sparsity)))`` computed in float32 like the reference."""
    k = tf.math.round(tf.cast(n, tf.float32) * (1.0 - tf.cast(sparsity, tf.float32)))
    return tf.cast(tf.maximum(k, 1.0), tf.int32)


def _top_k_value(values, k):
    return tf.gather(tf.math.top_k(values, k=k, sorted=True).values, k - 1)


def _radix_step(candidates, remaining, prefix, shift, bins):
    """One radix digit: the bin holding the ``remaining``-th largest, and the values in it."""
    digit = tf.bitwise.bitwise_and(tf.bitwise.right_shift(candidates, shift), bins - 1)
    # The raw op: tf.math.bincount adds range checks that cost as much as the count itself,
    # and every digit is in [0, bins) by construction.
    counts = tf.raw_ops.Bincount(arr=digit, size=bins, weights=tf.zeros([0], tf.int32))
    chosen, above = _bin_of_rank(counts, remaining, bins)
    remaining -= above
    prefix = tf.bitwise.bitwise_or(prefix, tf.bitwise.left_shift(chosen, shift))
    return tf.boolean_mask(candidates, tf.equal(digit, chosen)), remaining, prefix


def _bin_of_rank(counts, rank, bins):
    """``(bin, values above it)``: the bin holding the ``rank``-th largest of the counted values.

    Found in two levels (rows of bins, then bins in the chosen row), because TensorFlow's
    cumulative sum is slow on CPU: one over 4096 bins cost more than the whole count.
    """
    cols = 1 << ((bins.bit_length() - 1) // 2)
    grid = tf.reshape(counts, [bins // cols, cols])
    row_counts = tf.reduce_sum(grid, axis=1)
    row, above_row = _last_at_least(row_counts, rank)
    col, above_col = _last_at_least(tf.gather(grid, row), rank - above_row)
    return row * cols + col, above_row + above_col


def _last_at_least(counts, rank):
    """The last index whose suffix sum (it and all after it) is at least ``rank``, and the sum after it."""
    at_least = tf.cumsum(counts, reverse=True)
    index = tf.reduce_sum(tf.cast(at_least >= rank, tf.int32)) - 1
    return index, tf.gather(at_least, index) - tf.gather(counts, index)


def _radix_select(values, k):
    """The k-th largest of non-negative float32 ``values`` by radix selection on their bits.

    Bit patterns of non-negative floats order like their values. After the first digit the
    few candidates left are usually finished with a small ``top_k``; when many share it (a
    tensor of equal values, say) the remaining digits keep the cost linear.
    """
    (shift, bins), rest = _DIGITS[0], _DIGITS[1:]
    candidates, remaining, prefix = _radix_step(
        tf.bitcast(values, tf.int32), tf.cast(k, tf.int32), tf.zeros([], tf.int32), shift, bins
    )

    def finish_by_top_k():
        return _top_k_value(tf.bitcast(candidates, tf.float32), remaining)

    def finish_by_digits():
        c, r, p = candidates, remaining, prefix
        for shift_, bins_ in rest:
            c, r, p = _radix_step(c, r, p, shift_, bins_)
        return tf.bitcast(p, tf.float32)

    return tf.cond(tf.size(candidates) <= _SMALL, finish_by_top_k, finish_by_digits)


def kth_largest(values, k):
    """The k-th largest entry (1-based, duplicates counted) of a 1-D non-negative tensor.

    Equal to ``sort(values, descending)[k - 1]``, found without a sort:

    * when at most ``k`` entries are positive (pruned weights are exactly zero, so this is
      every update after the first under a constant target) the answer is the smallest
      positive entry, or 0 when fewer than ``k`` are positive: one pass;
    * otherwise float32 tensors are searched by radix selection (:func:`_radix_select`) in
      linear time, and other dtypes or small tensors by ``top_k``.
    """
    n = values.shape[0]
    k = tf.cast(k, tf.int32)
    positive = values > 0
    num_positive = tf.reduce_sum(tf.cast(positive, tf.int32))

    def from_positives():
        smallest = tf.reduce_min(tf.where(positive, values, tf.constant(float("inf"), values.dtype)))
        return tf.where(num_positive < k, tf.zeros([], values.dtype), smallest)

    def search():
        if values.dtype != tf.float32 or n is None or n <= _SMALL:
            return _top_k_value(values, k)
        return _radix_select(values, k)

    return tf.cond(num_positive <= k, from_positives, search)


def kth_largest_each(values, ks):
    """``[kth_largest(values[i], ks[i]) for i]`` for float32 tensors, with few ops per tensor.

    ``values`` are 1-D non-negative float32 tensors of known sizes; ``ks`` an int32 vector with
    ``1 <= ks[i] <= size(values[i])``. The same value as :func:`kth_largest`, found with a
    handful of ops per tensor and the rest shared, instead of a few dozen per tensor (per-op
    cost, not arithmetic, is most of a small model's mask update):

    * a histogram of each tensor's leading 12 value bits gives, for all tensors at once, the
      bin holding each one's k-th largest and its rank within that bin;
    * the nonzero values in the chosen bins (usually a few hundred per tensor) are sorted
      together, by tensor and then by value, and each tensor's answer is picked by its rank.
      Zeros are left out of that sort (after a pruning step most values are zero); a rank
      beyond the bin's nonzero values means the answer is 0.
    """
    count = len(values)
    bins, shift, cols = 4096, 19, 64  # bits 19-30 of a non-negative float32: exponent + 4 mantissa bits
    bits = [tf.bitcast(v, tf.int32) for v in values]
    digits = [tf.bitwise.right_shift(b, shift) for b in bits]
    no_weights = tf.zeros([0], tf.int32)
    counts = tf.stack([tf.raw_ops.Bincount(arr=d, size=bins, weights=no_weights) for d in digits])
    ks = tf.cast(ks, tf.int32)
    grid = tf.reshape(counts, [count, bins // cols, cols])
    row, above_row = _last_at_least_each(tf.reduce_sum(grid, axis=2), ks)
    col, above_col = _last_at_least_each(tf.gather(grid, row, batch_dims=1), ks - above_row)
    chosen = row * cols + col
    rank = ks - above_row - above_col  # 1-based rank of the answer among the chosen bin's values
    keys, nonzero = [], []
    for i, (b, d) in enumerate(zip(bits, digits)):
        candidates = tf.boolean_mask(b, tf.logical_and(tf.equal(d, chosen[i]), b > 0))
        nonzero.append(tf.size(candidates))
        # Descending keys: tensor 0's values first, each tensor's largest first.
        keys.append(tf.cast(candidates, tf.int64) + (count - 1 - i) * (1 << 31))
    keys = tf.concat(keys, 0)
    ordered = tf.concat([tf.math.top_k(keys, k=tf.size(keys), sorted=True).values, tf.zeros([1], tf.int64)], 0)
    nonzero = tf.stack(nonzero)
    start = tf.cumsum(nonzero, exclusive=True)
    found = rank <= nonzero
    key = tf.gather(ordered, tf.where(found, start + rank - 1, tf.size(keys)))  # the appended 0 when not
    offsets = tf.constant([(count - 1 - i) * (1 << 31) for i in range(count)], tf.int64)
    answer = tf.where(found, key - offsets, 0)
    return tf.bitcast(tf.cast(answer, tf.int32), tf.float32)


def _last_at_least_each(counts, ranks):
    """:func:`_last_at_least` for each row of ``counts`` [rows, n] with its own rank."""
    at_least = tf.cumsum(counts, axis=1, reverse=True)
    index = tf.reduce_sum(tf.cast(at_least >= ranks[:, None], tf.int32), axis=1) - 1
    after = tf.gather(at_least, index, batch_dims=1) - tf.gather(counts, index, batch_dims=1)
    return index, after


def magnitude_mask(weights, sparsity):
    """``(threshold, mask)``: keep the largest-magnitude weights as the reference does."""
    abs_w = tf.abs(weights)
    flat = tf.reshape(abs_w, [-1])
    k = keep_count(tf.size(flat), sparsity)
    threshold = kth_largest(flat, k)
    return threshold, tf.cast(abs_w >= threshold, weights.dtype)


def pool_blocks(values, window_shape, pooling_type, padding="SAME"):
    """AVG or MAX of each ``window_shape`` block of a rank-2 tensor (strides equal to the window)."""
    rows, cols = values.shape
    pooled = tf.nn.pool(
        tf.reshape(values, [1, rows, cols, 1]),
        window_shape=list(window_shape),
        pooling_type=pooling_type,
        strides=list(window_shape),
        padding=padding,
    )
    return tf.reshape(pooled, tf.shape(pooled)[1:3])


def expand_blocks(values, block_size):
    """Each value of a rank-2 tensor repeated over a ``block_size`` block (a Kronecker product with ones)."""
    return tf.repeat(tf.repeat(values, block_size[0], axis=0), block_size[1], axis=1)


def block_mask(weights, sparsity, block_size, pooling_type):
    """``(threshold, mask)`` pruning whole ``block_size`` blocks of a rank-2 weight.

    Blocks are scored by the AVG or MAX of ``|w|`` (windows with SAME padding, as the
    reference), pruned by :func:`magnitude_mask` on the scores, and expanded back.
    """
    rows, cols = weights.shape
    pooled = pool_blocks(tf.abs(weights), block_size, pooling_type)
    threshold, small_mask = magnitude_mask(pooled, sparsity)
    return threshold, expand_blocks(small_mask, block_size)[:rows, :cols]


def keep_largest_in_groups(rows, n, keep):
    """0/1 mask of ``rows`` (``[R, C]``, non-negative): the ``keep`` largest of every ``n`` along C.

    The last group of a row is short when ``n`` does not divide C. Ties are kept by position,
    so every full group keeps exactly ``keep`` values.
    """
    cols = rows.shape[-1]
    pad = (-cols) % n
    padded = tf.pad(rows, [[0, 0], [0, pad]], constant_values=-1.0)  # never chosen over a weight
    groups = tf.reshape(padded, [-1, n])
    kth = tf.math.top_k(groups, k=keep, sorted=True).values[:, keep - 1 : keep]
    # Keep exactly `keep` per group: the strictly larger ones, then the first ties by position.
    greater = groups > kth
    ties = tf.equal(groups, kth)
    tie_rank = tf.cumsum(tf.cast(ties, tf.int32), axis=1)
    room = keep - tf.reduce_sum(tf.cast(greater, tf.int32), axis=1, keepdims=True)
    chosen = tf.logical_or(greater, tf.logical_and(ties, tie_rank <= room))
    chosen = tf.logical_and(chosen, groups >= 0.0)
    return tf.reshape(tf.cast(chosen, rows.dtype), [-1, cols + pad])[:, :cols]


def _channels_first(rank):
    """The transpose that puts a kernel's output channels first and input channels last."""
    return [rank - 1] + list(range(rank - 2)) + [rank - 2]


def input_channel_rows(weights):
    """A kernel (``[..., in, out]``) as rows of input channels, ``[out * ..., in]`` (TFLite's order)."""
    moved = tf.transpose(weights, _channels_first(len(weights.shape)))  # [out, ..., in]
    return tf.reshape(moved, [-1, weights.shape[-2]])


def from_input_channel_rows(rows, shape):
    """:func:`input_channel_rows` undone: ``rows`` back into a kernel of ``shape``."""
    perm = _channels_first(len(shape))
    inverse = [perm.index(i) for i in range(len(shape))]
    return tf.transpose(tf.reshape(rows, [shape[p] for p in perm]), inverse)


def m_by_n_mask(weights, m_by_n):
    """Mask with ``m`` zeros in every ``n`` consecutive weights along the input-channel axis.

    The input-channel axis is the second to last (Dense ``[in, out]``, Conv ``[..., in, out]``);
    groups run along it for each output channel and kernel position, as TFLite lays them out.
    The ``n - m`` largest magnitudes of each group are kept.
    """
    zeros, n = m_by_n
    mask_rows = keep_largest_in_groups(input_channel_rows(tf.abs(weights)), n, n - zeros)
    return tf.zeros([], weights.dtype), from_input_channel_rows(mask_rows, weights.shape)

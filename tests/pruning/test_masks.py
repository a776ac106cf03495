"""Mask rules against a plain numpy statement of the reference's rules."""

import numpy as np
import pytest

from prune_studio.compat import tf
from prune_studio.pruning import masks


def _reference_mask(w, sparsity):
    """Reference: k = max(1, round(n*(1-s))) in float32; keep |w| >= the k-th largest |w|."""
    a = np.abs(w)
    k = int(max(1.0, np.round(np.float32(a.size) * (np.float32(1.0) - np.float32(sparsity)))))
    threshold = np.sort(a.ravel())[::-1][k - 1]
    return (a >= threshold).astype(w.dtype)


@pytest.mark.parametrize("size", [7, 1000, 70_000, 300_001])
@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.5, 0.8, 0.99])
def test_magnitude_mask_equals_reference_rule(size, sparsity):
    rng = np.random.default_rng(size)
    w = rng.normal(size=size).astype(np.float32)
    _, mask = masks.magnitude_mask(tf.constant(w), sparsity)
    np.testing.assert_array_equal(mask.numpy(), _reference_mask(w, sparsity))


@pytest.mark.parametrize("size", [50, 200_000])
def test_ties_at_the_threshold_are_kept_like_the_reference(size):
    rng = np.random.default_rng(1)
    w = rng.integers(-3, 4, size=size).astype(np.float32)  # many equal magnitudes
    for sparsity in (0.3, 0.6, 0.9):
        _, mask = masks.magnitude_mask(tf.constant(w), sparsity)
        np.testing.assert_array_equal(mask.numpy(), _reference_mask(w, sparsity))


def test_kth_largest_handles_structured_tensors_with_fallback():
    # Sorted values defeat a strided sample's bracket; the fallback keeps the answer exact.
    values = np.concatenate([np.zeros(100_000), np.linspace(1, 2, 100_000)]).astype(np.float32)
    for k in (1, 5, 99_999, 100_000, 100_001, 150_000, 200_000):
        got = masks.kth_largest(tf.constant(values), tf.constant(k)).numpy()
        assert got == np.sort(values)[::-1][k - 1], k


@pytest.mark.parametrize("size", [300, 50_000])
def test_kth_largest_when_at_most_k_entries_are_positive(size):
    # The state after a pruning step: the pruned entries are exactly zero.
    rng = np.random.default_rng(5)
    values = rng.random(size).astype(np.float32) * (rng.random(size) < 0.2)
    positives = int((values > 0).sum())
    for k in (positives, positives + 1, size):
        got = masks.kth_largest(tf.constant(values), tf.constant(k)).numpy()
        assert got == np.sort(values)[::-1][k - 1], k
    assert masks.kth_largest(tf.zeros([size]), tf.constant(3)).numpy() == 0.0


def test_kth_largest_inside_a_compiled_function():
    fn = tf.function(lambda x, k: masks.kth_largest(x, k))
    x = np.random.default_rng(2).random(100_000).astype(np.float32)
    assert fn(tf.constant(x), tf.constant(1234)).numpy() == np.sort(x)[::-1][1233]


def _reference_block_mask(w, sparsity, block, pooling):
    rows, cols = w.shape
    br, bc = block
    out_r, out_c = -(-rows // br), -(-cols // bc)
    pad_r, pad_c = out_r * br - rows, out_c * bc - cols
    top, left = pad_r // 2, pad_c // 2  # SAME padding puts the smaller half first
    a = np.abs(w)
    scores = np.zeros((out_r, out_c), np.float32)
    for i in range(out_r):
        for j in range(out_c):
            r0, c0 = i * br - top, j * bc - left
            patch = a[max(r0, 0) : r0 + br, max(c0, 0) : c0 + bc]
            scores[i, j] = patch.mean() if pooling == "AVG" else patch.max()
    small = _reference_mask(scores, sparsity)
    return np.kron(small, np.ones(block, np.float32))[:rows, :cols]


@pytest.mark.parametrize("pooling", ["AVG", "MAX"])
@pytest.mark.parametrize("shape, block", [((8, 12), (2, 4)), ((6, 6), (1, 3)), ((5, 7), (2, 2))])
def test_block_mask_prunes_whole_blocks(pooling, shape, block):
    w = np.random.default_rng(3).normal(size=shape).astype(np.float32)
    _, mask = masks.block_mask(tf.constant(w), 0.5, block, pooling)
    expected = _reference_block_mask(w, 0.5, block, pooling)
    np.testing.assert_allclose(mask.numpy(), expected)


@pytest.mark.parametrize("shape", [(8, 5), (3, 3, 8, 4), (5, 4, 6)])
@pytest.mark.parametrize("m_by_n", [(2, 4), (1, 4), (3, 4), (1, 2)])
def test_m_by_n_mask_keeps_the_largest_of_each_group_along_input_channels(shape, m_by_n):
    m, n = m_by_n
    w = np.random.default_rng(4).normal(size=shape).astype(np.float32)
    _, mask = masks.m_by_n_mask(tf.constant(w), m_by_n)
    mask = mask.numpy()
    assert mask.shape == w.shape
    c_in = shape[-2]
    # Groups: for each output channel and kernel position, n consecutive input channels.
    rows = np.moveaxis(mask, -1, 0).reshape(-1, c_in)
    wrows = np.abs(np.moveaxis(w, -1, 0).reshape(-1, c_in))
    for row, wrow in zip(rows, wrows):
        for start in range(0, c_in, n):
            group, wgroup = row[start : start + n], wrow[start : start + n]
            keep = min(n - m, len(group))
            assert group.sum() == keep
            kept = np.sort(wgroup[group == 1])
            dropped = wgroup[group == 0]
            assert dropped.size == 0 or dropped.max() <= kept.min()


def test_keep_count_uses_round_half_to_even_in_float32():
    assert int(masks.keep_count(10, 0.75)) == 2  # 2.5 -> 2
    assert int(masks.keep_count(14, 0.75)) == 4  # 3.5 -> 4
    assert int(masks.keep_count(5, 0.99)) == 1  # never below one


def _tensors_of_every_kind(rng):
    """Tensors a mask update meets: dense, mostly zero, all equal, ties, denormals, all zero."""
    n = lambda: int(rng.integers(1, 6000))  # noqa: E731
    normal = lambda: np.abs(rng.normal(size=n())).astype(np.float32)  # noqa: E731
    pruned = normal()
    pruned[rng.random(pruned.size) < 0.7] = 0
    tiny = normal()
    tiny[rng.random(tiny.size) < 0.5] = np.float32(1e-40)
    return [normal(), pruned, np.full(n(), 0.5, np.float32), np.round(normal() * 4) / 4, tiny,
            np.zeros(n(), np.float32), np.linspace(0, 1, n()).astype(np.float32)]


@pytest.mark.parametrize("seed", range(4))
def test_kth_largest_each_equals_the_sorted_k_th_of_each_tensor(seed):
    rng = np.random.default_rng(seed)
    values = _tensors_of_every_kind(rng)
    rng.shuffle(values)
    for ks in ([1] * len(values), [v.size for v in values], [int(rng.integers(1, v.size + 1)) for v in values]):
        got = masks.kth_largest_each([tf.constant(v) for v in values], tf.constant(ks)).numpy()
        want = np.array([np.sort(v)[::-1][k - 1] for v, k in zip(values, ks)], np.float32)
        np.testing.assert_array_equal(got.view(np.int32), want.view(np.int32))  # bit for bit


def test_kth_largest_each_inside_a_compiled_function_matches_kth_largest():
    rng = np.random.default_rng(7)
    values = [rng.random(s).astype(np.float32) for s in (16_384, 32_768, 1_280)]
    values[1][:20_000] = 0
    fn = tf.function(lambda a, b, c, k: masks.kth_largest_each([a, b, c], k))
    for ks in ([5_000, 9_000, 640], [1, 13_000, 1_280]):
        got = fn(*values, tf.constant(ks)).numpy()
        want = [masks.kth_largest(tf.constant(v), tf.constant(k)).numpy() for v, k in zip(values, ks)]
        np.testing.assert_array_equal(got, want)

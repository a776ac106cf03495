"""The weights view: histogram and zeros map of a layer, drawn from real weight arrays."""

import numpy as np
import pytest
from PySide6.QtCore import Qt

from prune_studio.ui.weights_view import WeightsView, zero_map


def test_a_small_kernel_is_mapped_weight_by_weight():
    kernel = np.arange(1, 3 * 3 * 2 * 4 + 1, dtype=np.float32).reshape(3, 3, 2, 4)
    kernel[0, 0, 1, 2] = kernel[2, 1, 0, 3] = 0.0
    shown = zero_map(kernel)
    assert shown["matrix"] == (18, 4) and shown["block"] == (1, 1)
    expected = np.zeros((18, 4), np.float32)
    expected[1, 2] = expected[14, 3] = 1.0  # rows run over (kh, kw, in), columns over outputs
    np.testing.assert_array_equal(shown["map"], expected)


def test_a_large_kernel_is_mapped_in_blocks_with_their_share_of_zeros():
    kernel = np.ones((300, 200), np.float32)
    kernel[:150, :100] = 0.0  # a quarter of the weights, in one corner
    kernel[299, 199] = 0.0  # and one more, in the last (partial) block
    shown = zero_map(kernel, cells=128)
    assert shown["block"] == (3, 2) and shown["map"].shape == (100, 100)
    assert np.all(shown["map"][:50, :50] == 1.0) and np.all(shown["map"][50:99, 50:] == 0.0)
    assert shown["map"][99, 99] == pytest.approx(1 / 6)
    assert shown["map"].mean() == pytest.approx((kernel == 0).mean())  # blocks divide evenly here


def test_the_view_switches_between_histogram_and_zeros_map(qtbot):
    view = WeightsView()
    qtbot.addWidget(view)
    view.resize(500, 350)
    view.show()
    assert view.pages.currentWidget() is view.histogram and view.hist is None
    weights = np.random.default_rng(0).normal(size=(64, 32)).astype(np.float32)
    weights[np.abs(weights) < 0.5] = 0.0
    hist = {"name": "dense", "counts": np.histogram(np.abs(weights[weights != 0]), 10)[0],
            "edges": np.histogram(np.abs(weights[weights != 0]), 10)[1],
            "zeros": float((weights == 0).mean()), "size": weights.size, **zero_map(weights)}
    view.show_histogram(hist)
    qtbot.mouseClick(view.buttons.button(1), Qt.MouseButton.LeftButton)
    assert view.pages.currentWidget() is view.zero_map
    assert view.zero_map.image.image.shape == (64, 32)
    assert "where the" in view.zero_map.getPlotItem().titleLabel.text
    qtbot.mouseClick(view.buttons.button(0), Qt.MouseButton.LeftButton)
    assert view.pages.currentWidget() is view.histogram and view.hist is hist
    view.show_histogram(None)
    assert not view.zero_map.image.isVisible()

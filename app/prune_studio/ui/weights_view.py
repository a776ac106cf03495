"""The selected layer's weights: a histogram of their magnitudes, and a map of where the zeros are.

:func:`layer_weight_histogram` reads the weights (TensorFlow work) and runs in a worker
thread; :class:`WeightsView` (a :class:`WeightHistogram` and a :class:`ZeroMap` behind two
buttons) only draws the numbers it returns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QPushButton, QStackedWidget, QVBoxLayout, QWidget

from prune_studio.ui.empty_state import EmptyState

#: The zero map shows at most this many cells a side; bigger weights are shown in blocks.
MAP_CELLS = 128


def layer_weight_histogram(model: Any, name: str, bins: int = 50) -> dict | None:
    """Histogram of the non-zero |weights| of the layer's largest weight, and its zero share.

    Returns None when the model has no top-level layer ``name`` or the layer has no weights.
    """
    try:
        layer = model.get_layer(name)
    except ValueError:
        return None
    weights = [w for w in layer.get_weights() if np.ndim(w) >= 1]
    if not weights:
        return None
    largest = max(weights, key=np.size)
    kernel = np.abs(largest).ravel()
    nonzero = kernel[kernel != 0]
    counts, edges = np.histogram(nonzero, bins=bins) if nonzero.size else (np.zeros(bins), np.linspace(0, 1, bins + 1))
    return {"name": name, "counts": counts, "edges": edges, "zeros": 1.0 - nonzero.size / kernel.size,
            "size": int(kernel.size), **zero_map(largest)}


def zero_map(weight: np.ndarray, cells: int = MAP_CELLS) -> dict:
    """Where a weight's zeros are: ``{"map": share of zeros per cell, "block": (rows, cols)}``.

    The weight is laid out as a matrix with one column per output (the last axis) and one row
    per input and kernel position, like a Dense kernel. Matrices larger than ``cells`` a side
    are cut into blocks of ``block`` weights, each cell showing its block's share of zeros.
    """
    matrix = np.asarray(weight).reshape(-1, np.shape(weight)[-1]) if np.ndim(weight) > 1 else np.reshape(weight, (1, -1))
    zeros = (matrix == 0).astype(np.float32)
    rows, cols = zeros.shape
    block = (-(-rows // cells), -(-cols // cells))
    padded = np.full((-(-rows // block[0]) * block[0], -(-cols // block[1]) * block[1]), np.nan, np.float32)
    padded[:rows, :cols] = zeros
    grid = padded.reshape(padded.shape[0] // block[0], block[0], padded.shape[1] // block[1], block[1])
    return {"map": np.nanmean(grid, axis=(1, 3)), "block": block, "matrix": (rows, cols)}


class _LayerPlot(pg.PlotWidget):
    """A small plot of one layer's numbers (from :func:`layer_weight_histogram`).

    Subclasses make ``self.item`` and draw the numbers in ``_draw``; until a layer is chosen
    the item is hidden and the plot says ``EMPTY_TEXT`` under ``EMPTY_TITLE``, without tick numbers.
    """

    EMPTY_TITLE = ""
    EMPTY_TEXT = ""

    def __init__(self, bottom: str, left: str, parent=None):
        super().__init__(parent)
        self.setMinimumSize(200, 160)
        plot = self.getPlotItem()
        plot.setMenuEnabled(False)
        plot.setLabel("bottom", bottom)
        plot.setLabel("left", left)
        # "|weight| (x0.001)" reads badly: the empty state turns the SI prefix off for good
        self.empty_state = EmptyState(plot, self.EMPTY_TEXT)
        self.shown: dict | None = None

    def show_layer(self, hist: dict | None) -> None:
        """Draw one layer's numbers, or the empty state for None."""
        self.shown = hist
        self.item.setVisible(hist is not None)
        self.empty_state.set_empty(hist is None, autorange=False)
        if hist is not None:
            self._draw(hist)
            return
        plot = self.getPlotItem()
        plot.setTitle(self.EMPTY_TITLE)
        plot.setYRange(0, 1, padding=0)

    def _draw(self, hist: dict) -> None:
        raise NotImplementedError


class WeightHistogram(_LayerPlot):
    """Bar chart of one layer's weight magnitudes."""

    EMPTY_TITLE = "Weights"
    EMPTY_TEXT = "Select a layer to see its weights"

    def __init__(self, parent=None):
        super().__init__("|weight|", "count", parent)
        self.item = pg.PlotCurveItem([0, 1], [0], stepMode="center", fillLevel=0, brush=pg.mkBrush("#2f6fd680"), pen=pg.mkPen("#2f6fd6"))
        self.getPlotItem().addItem(self.item)
        self.show_layer(None)

    @property
    def hist(self) -> dict | None:
        """The numbers shown, or None."""
        return self.shown

    def show_histogram(self, hist: dict | None) -> None:
        self.show_layer(hist)

    def _draw(self, hist: dict) -> None:
        plot = self.getPlotItem()
        plot.enableAutoRange()
        plot.setTitle(f"{hist['name']} weights: {hist['zeros']:.0%} zeros")
        self.setToolTip(f"{hist['size']:,} weights; the histogram shows the non-zero ones.")
        self.item.setData(hist["edges"], hist["counts"], stepMode="center", fillLevel=0, brush=pg.mkBrush("#2f6fd680"))


class ZeroMap(_LayerPlot):
    """The weight matrix of one layer as an image: dark where the weights are zero."""

    EMPTY_TITLE = "Zeros"
    EMPTY_TEXT = "Select a layer to see where its zeros are"

    def __init__(self, parent=None):
        super().__init__("output", "input", parent)
        plot = self.getPlotItem()
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        plot.invertY(True)
        self.item = self.image = pg.ImageItem(axisOrder="row-major")
        # 0 (no zeros) light blue, 1 (all zeros) near black: pruned regions read as holes.
        self.image.setLookupTable(pg.ColorMap([0.0, 1.0], ["#9cc3f0", "#10151c"]).getLookupTable(nPts=256))
        self.image.setLevels((0.0, 1.0))
        plot.addItem(self.image)
        self.show_layer(None)

    def show_map(self, hist: dict | None) -> None:
        self.show_layer(hist)

    def _draw(self, hist: dict) -> None:
        plot = self.getPlotItem()
        rows, cols = hist["matrix"]
        block = hist["block"]
        self.image.setImage(hist["map"], levels=(0.0, 1.0), autoLevels=False)
        self.image.setRect(0, 0, cols, rows)  # axes in weights, whatever the block size
        plot.setXRange(0, cols, padding=0.02)
        plot.setYRange(0, rows, padding=0.02)
        zeros = hist["zeros"]
        plot.setTitle(f"{hist['name']}: where the {zeros:.0%} zeros are" if zeros else f"{hist['name']}: no zeros")
        each = "each pixel one weight" if block == (1, 1) else f"each pixel a block of {block[0]}×{block[1]} weights"
        self.setToolTip(f"{rows:,} × {cols:,} weights, {each}; darker means more zeros.")


class WeightsView(QWidget):
    """The selected layer's weights, as a histogram or as a map of its zeros (two buttons)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.histogram = WeightHistogram()
        self.zero_map = ZeroMap()
        self.pages = QStackedWidget()
        self.pages.addWidget(self.histogram)
        self.pages.addWidget(self.zero_map)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        group = QButtonGroup(self)
        for i, (text, tip) in enumerate((("Histogram", "How large the remaining weights are"),
                                          ("Zeros map", "Where in the layer the zeros are"))):
            button = QPushButton(text)
            button.setCheckable(True)
            button.setChecked(i == 0)
            button.setToolTip(tip)
            button.clicked.connect(lambda _checked=False, i=i: self.pages.setCurrentIndex(i))
            group.addButton(button, i)
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.buttons = group
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.pages, 1)

    @property
    def hist(self) -> dict | None:
        """What is shown (see :func:`layer_weight_histogram`), or None."""
        return self.histogram.hist

    def show_histogram(self, hist: dict | None) -> None:
        """Show one layer's numbers in both views."""
        self.histogram.show_histogram(hist)
        self.zero_map.show_map(hist)

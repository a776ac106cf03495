"""The selected layer's weight magnitudes: a histogram with the share of zeros.

:func:`layer_weight_histogram` reads the weights (TensorFlow work) and runs in a worker
thread; :class:`WeightHistogram` only draws the numbers it returns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg


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
    kernel = np.abs(max(weights, key=np.size)).ravel()
    nonzero = kernel[kernel != 0]
    counts, edges = np.histogram(nonzero, bins=bins) if nonzero.size else (np.zeros(bins), np.linspace(0, 1, bins + 1))
    return {"name": name, "counts": counts, "edges": edges, "zeros": 1.0 - nonzero.size / kernel.size, "size": int(kernel.size)}


class WeightHistogram(pg.PlotWidget):
    """Bar chart of one layer's weight magnitudes."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumSize(200, 160)
        plot = self.getPlotItem()
        plot.setMenuEnabled(False)
        plot.setLabel("bottom", "|weight|")
        plot.setLabel("left", "count")
        self.bars = pg.PlotCurveItem([0, 1], [0], stepMode="center", fillLevel=0, brush=pg.mkBrush("#2f6fd680"), pen=pg.mkPen("#2f6fd6"))
        plot.addItem(self.bars)
        self.hist: dict | None = None
        self.show_histogram(None)

    def show_histogram(self, hist: dict | None) -> None:
        plot = self.getPlotItem()
        self.hist = hist
        self.bars.setVisible(hist is not None)
        if hist is None:
            # Empty state: fixed unit axes instead of ranges fitted to a placeholder bar.
            plot.setTitle("Weights (select a layer)")
            plot.setXRange(0, 1, padding=0)
            plot.setYRange(0, 1, padding=0)
            return
        plot.enableAutoRange()
        plot.setTitle(f"{hist['name']} weights: {hist['zeros']:.0%} zeros")
        self.setToolTip(f"{hist['size']:,} weights; the histogram shows the non-zero ones.")
        self.bars.setData(hist["edges"], hist["counts"], stepMode="center", fillLevel=0, brush=pg.mkBrush("#2f6fd680"))

"""A chart's empty state: a grey sentence in the middle, no tick numbers, a unit range.

An empty pyqtgraph plot otherwise fits its axes to nothing (-0.5..0.5), and the axes then
scale their labels with an SI prefix, which on a step axis read "step (x0.001)" from -400 to
400. :class:`EmptyState` turns the prefix off for good and, while the plot is empty, hides
the tick numbers and says what will appear there.
"""

from __future__ import annotations

import pyqtgraph as pg

EMPTY_INK = "#8a9099"


class EmptyState:
    """Show or hide ``text`` over ``plot`` (a ``PlotItem``) with :meth:`set_empty`."""

    def __init__(self, plot: pg.PlotItem, text: str, size: str = "10pt"):
        self.plot = plot
        self.label = pg.LabelItem(text, color=EMPTY_INK, size=size)
        self.label.setParentItem(plot.getViewBox())
        self.label.anchor(itemPos=(0.5, 0.5), parentPos=(0.5, 0.5))
        for name in ("left", "bottom"):
            plot.getAxis(name).enableAutoSIPrefix(False)
        self.empty = False
        self.set_empty(True)

    @property
    def text(self) -> str:
        return self.label.text

    def set_empty(self, empty: bool, text: str | None = None, autorange: bool = True) -> None:
        """Show the empty state (with ``text`` if given) or the plot's own axes.

        Leaving it re-fits the x axis to the data unless ``autorange`` is False (the caller
        sets a range itself: fitting first would lay the plot out twice).
        """
        if text is not None:
            self.label.setText(text)
        self.label.setVisible(empty)
        if empty == self.empty:
            return
        self.empty = empty
        for name in ("left", "bottom"):
            self.plot.getAxis(name).setStyle(showValues=not empty)
        if empty:
            self.plot.setXRange(0, 1, padding=0)
        elif autorange:
            self.plot.enableAutoRange(axis="x")

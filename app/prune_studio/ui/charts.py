"""Live training charts: loss, accuracy, overall sparsity against its target, per layer.

Each curve is created once per run and fed from growing, preallocated numpy arrays
(:class:`Series`); data arrives in bursts from the run controller. A timer redraws one plot
per tick, round-robin, and only when its data changed: the redraw rate is bounded however
fast training steps come, and no single event repaints all four plots (that took 20-45 ms of
GUI time, too long next to a worker thread competing for the GIL). During a run the step axis
is fixed to the run's length, so axes are not laid out again at every redraw.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, QEvent, QRect, QTimer
from PySide6.QtWidgets import QVBoxLayout, QWidget

from prune_studio.ui.after_paint import call_after_paint
from prune_studio.ui.empty_state import EmptyState
from prune_studio.ui.theme import LINE_COLOURS

REDRAW_INTERVAL_MS = 250  # each plot is redrawn 4 times a second at most
LEGEND_LAYERS = 8  # above this many pruned layers the per-layer plot has no legend (select a layer instead)
CURVES_PER_TURN = 6  # curves :meth:`ChartPanel.prepare` creates per event-loop turn


def _tick_space(font) -> dict:
    """Room for tick labels such as "0.125" or "12,000" in ``font`` (the application's when None)."""
    from PySide6.QtGui import QFont, QFontMetrics

    metrics = QFontMetrics(font if font is not None else QFont())
    return {"tickTextWidth": metrics.horizontalAdvance("0.0000") + 4, "tickTextHeight": metrics.height() + 2}


class Series:
    """An (x, y) series in preallocated arrays that double when full."""

    def __init__(self, capacity: int = 1024):
        self.x = np.empty(capacity, dtype=np.float64)
        self.y = np.empty(capacity, dtype=np.float64)
        self.n = 0

    def append(self, x: float, y: float) -> None:
        if self.n == len(self.x):
            self.x = np.concatenate([self.x, np.empty_like(self.x)])
            self.y = np.concatenate([self.y, np.empty_like(self.y)])
        self.x[self.n], self.y[self.n] = x, y
        self.n += 1

    def view(self) -> tuple[np.ndarray, np.ndarray]:
        return self.x[: self.n], self.y[: self.n]


class _Curve:
    """One plot line bound to its :class:`Series`; redrawn only when dirty.

    ``light`` curves (one per pruned layer) are bare ``PlotCurveItem``s, a third of the cost of
    a ``PlotDataItem`` to create; ``name=None`` keeps a curve out of the legend.
    """

    def __init__(self, plot: pg.PlotItem, name: str | None, colour: str, width: float = 2, style=None, symbol=None,
                 light: bool = False, lane: "_Lane | None" = None):
        self.plot = plot
        self.lane = lane
        pen = pg.mkPen(colour, width=width, style=style) if style else pg.mkPen(colour, width=width)
        if lane is not None:  # drawn by its lane, with the other layers of its colour
            self.item = None
            lane.members.append(self)
        elif light:
            self.item = pg.PlotCurveItem(pen=pen, name=name)
            plot.addItem(self.item)
        else:
            self.item = plot.plot([], [], name=name, pen=pen, symbol=symbol, symbolSize=6, symbolBrush=colour)
        self.series = Series()
        self.colour, self.width = colour, width
        self.dirty = False

    def append(self, x: float, y: float) -> None:
        if np.isfinite(y):
            self.series.append(x, y)
            self.dirty = True

    def clear(self) -> None:
        self.series = Series()
        if self.lane is not None:
            self.lane.dirty = True
        else:
            self.item.setData([], [])
        self.dirty = False

    def redraw(self) -> None:
        if self.dirty:
            if self.lane is not None:
                self.lane.dirty = True
            else:
                x, y = self.series.view()
                self.item.setData(x, y, skipFiniteCheck=True)
            self.dirty = False


class _Lane:
    """The per-layer lines of one colour, drawn as one item (lines not joined across layers).

    A plan with more layers than a legend holds gets one lane per colour instead of an item
    per layer: each item costs its own bounds and paint at every redraw, and MobileNetV2's 53
    lines took 20-30 ms of GUI time per redraw of the per-layer plot; eight lanes take a few.
    """

    def __init__(self, plot: pg.PlotItem, colour: str):
        self.item = pg.PlotCurveItem(pen=pg.mkPen(colour, width=2))
        plot.addItem(self.item)
        self.colour = colour
        self.members: list[_Curve] = []
        self.dirty = False

    def redraw(self) -> None:
        if not self.dirty:
            return
        self.dirty = False
        views = [c.series.view() for c in self.members if c.series.n]
        if not views:
            self.item.setData([], [])
            return
        x = np.concatenate([v[0] for v in views])
        y = np.concatenate([v[1] for v in views])
        connect = np.ones(len(x), dtype=bool)
        connect[np.cumsum([len(v[0]) for v in views]) - 1] = False  # no line from one layer's end to the next
        self.item.setData(x, y, connect=connect, skipFiniteCheck=True)


class ChartPanel(QWidget):
    """Four live plots of a fine-tune run; see the module docstring for the update model."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.view = pg.GraphicsLayoutWidget()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self.loss_plot = self._plot("Loss", 0, 0, legend_at_bottom=False)
        self.acc_plot = self._plot("Accuracy", 0, 1)
        self.sparsity_plot = self._plot("Overall zeros (share of prunable weights)", 1, 0)
        self.layer_plot = self._plot("Zeros per layer", 1, 1)
        for plot in (self.sparsity_plot, self.layer_plot):
            plot.setYRange(0, 1.0, padding=0.02)
        self.curves: dict[str, _Curve] = {}
        self.layer_curves: dict[str, _Curve] = {}
        self._lanes: list[_Lane] = []
        # The highlighted layer's line, drawn thick over its lane (a big plan's layers share lanes).
        self._highlight_item = pg.PlotCurveItem()
        self._highlight_item.setZValue(10)
        self.layer_plot.addItem(self._highlight_item)
        self._target_item = self.sparsity_plot.plot([], [], pen=pg.mkPen("#888888", width=1.5, style=pg.QtCore.Qt.PenStyle.DashLine), name="schedule target")
        self._baseline_line = pg.InfiniteLine(angle=0, pen=pg.mkPen("#888888", width=1, style=pg.QtCore.Qt.PenStyle.DotLine), label="baseline", labelOpts={"position": 0.92, "anchors": [(1, 1), (1, 1)]})
        self._baseline_line.setVisible(False)
        self.acc_plot.addItem(self._baseline_line)
        self._make_metric_curves()
        self.highlighted: str | None = None
        self.points_received = 0
        self._plots = (self.loss_plot, self.acc_plot, self.sparsity_plot, self.layer_plot)
        what = ("the loss", "the accuracy", "the share of zeros", "each layer's zeros")
        self.empty_states = [EmptyState(p, f"Press Run: {w} appears here as the model trains.") for p, w in zip(self._plots, what)]
        self._next_plot = 0
        self._job = None  # a preparation under way (see prepare)
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_INTERVAL_MS // len(self._plots))
        self._timer.timeout.connect(self._redraw_next_plot)

    def set_scale(self, scale: float) -> None:
        """Presentation mode: titles, tick labels and legends ``scale`` times larger."""
        from PySide6.QtGui import QFont

        tick = QFont()
        tick.setPointSizeF(8.5 * scale)
        for plot in self._plots:
            plot.setTitle(plot.titleLabel.text, size=f"{10 * scale:.0f}pt")
            for name in ("bottom", "left"):
                plot.getAxis(name).setStyle(tickFont=tick, **_tick_space(tick))
            plot.getAxis("bottom").setLabel("step", **{"font-size": f"{9 * scale:.0f}pt"})
            if plot.legend is not None:
                for _sample, label in plot.legend.items:
                    label.setText(label.text, size=f"{8 * scale:.0f}pt")
        for empty in self.empty_states:
            empty.label.setText(empty.text, size=f"{10 * scale:.0f}pt")
        self.scale = scale

    def _plot(self, title: str, row: int, col: int, legend_at_bottom: bool = True) -> pg.PlotItem:
        plot = self.view.addPlot(row=row, col=col, title=title)
        # No grid: grid lines make each axis cover its whole plot, which doubled the cost of a
        # paint (20 -> 40 ms for the four plots), and the run's first paint is on the clock.
        # Tick labels get a fixed space: fitted to their text, an axis that drew new labels
        # changed size, and the plots were laid out and painted a second time (30-40 ms).
        for axis in ("bottom", "left"):
            plot.getAxis(axis).setStyle(maxTickLevel=1, autoExpandTextSpace=False, **_tick_space(None))
        plot.setLabel("bottom", "step")
        plot.setDownsampling(mode="peak")
        plot.setClipToView(True)
        plot.addLegend(offset=(-8, -8) if legend_at_bottom else (-8, 8), labelTextSize="8pt")
        plot.setMenuEnabled(False)
        return plot

    def _make_metric_curves(self) -> None:
        dash = pg.QtCore.Qt.PenStyle.DashLine
        self.curves = {
            "loss": _Curve(self.loss_plot, "training", LINE_COLOURS[0]),
            "val_loss": _Curve(self.loss_plot, "validation", LINE_COLOURS[1], symbol="o", style=dash),
            "accuracy": _Curve(self.acc_plot, "training", LINE_COLOURS[0]),
            "val_accuracy": _Curve(self.acc_plot, "validation", LINE_COLOURS[1], symbol="o", style=dash),
            "sparsity": _Curve(self.sparsity_plot, "actual", LINE_COLOURS[2], width=2.5),
        }

    # --- feeding -------------------------------------------------------------------------
    def reset(
        self,
        layer_names: list[str],
        target_curve: tuple[np.ndarray, np.ndarray] | None = None,
        total_steps: int | None = None,
    ) -> None:
        """Clear every series for a new run and have one per-layer curve per name.

        ``total_steps`` fixes the step axis of every plot to the run's length; without it the
        step axis follows the data.
        """
        self._job = None  # a preparation still under way is finished here, at once
        self._setup(list(layer_names), target_curve, total_steps)

    def _setup(self, layer_names: list[str], target_curve, total_steps: int | None) -> None:
        for curve in self.curves.values():
            curve.clear()
        for _ in self._layer_steps(layer_names, per_turn=len(layer_names) or 1):
            pass
        for plot, empty in zip(self._plots, self.empty_states):
            empty.set_empty(not total_steps, autorange=False)
            if total_steps:
                plot.setXRange(0, total_steps, padding=0.02)
        self.set_target_curve(target_curve)
        self._baseline_line.setVisible(False)
        self.points_received = 0
        self.highlight(self.highlighted)

    def _layer_steps(self, names: list[str], per_turn: int):
        """Have exactly one cleared curve per name (a generator: yields after each ``per_turn`` new curves)."""
        if list(self.layer_curves) == names:  # the same layers again: keep the curves and the legend
            for curve in self.layer_curves.values():
                curve.clear()
            return
        for curve in self.layer_curves.values():
            if curve.item is not None:
                self.layer_plot.removeItem(curve.item)
                self.layer_plot.legend.removeItem(curve.item)
        for lane in self._lanes:
            self.layer_plot.removeItem(lane.item)
        self.layer_curves, self._lanes = {}, []
        legend = len(names) <= LEGEND_LAYERS
        if not legend:
            self._lanes = [_Lane(self.layer_plot, colour) for colour in LINE_COLOURS]
        for i, name in enumerate(names):
            colour_at = (i + 3) % len(LINE_COLOURS)
            lane = None if legend else self._lanes[colour_at]
            self.layer_curves[name] = _Curve(self.layer_plot, name if legend else None, LINE_COLOURS[colour_at],
                                             light=True, lane=lane)
            if (i + 1) % per_turn == 0 and i + 1 < len(names):
                yield

    def prepare(self, layer_names: list[str], target_curve=None, total_steps: int | None = None) -> None:
        """Set the charts up for the run the plan describes, before Run is pressed.

        A curve per pruned layer (with its legend entry), axes fitted to the new run's length,
        and their first paint took 100-150 ms of GUI time when Run was pressed (600 ms for
        MobileNetV2's 52 layers). Done here instead, a few curves and one plot per event-loop
        turn while the window is idle, Run only clears the series. The plots show the planned
        run (its step axis, the dashed target) with the "Press Run" hint. Charts showing a run,
        live or finished, are left as they are.
        """
        if self._timer.isActive() or self.points_received:
            return
        self._job = self._prepare_steps(list(layer_names), target_curve, total_steps)
        QTimer.singleShot(0, self, self._step_job)

    def _step_job(self) -> None:
        if self._job is None:
            return
        try:
            next(self._job)
        except StopIteration:
            self._job = None
        else:
            QTimer.singleShot(0, self, self._step_job)

    def _prepare_steps(self, names: list[str], target_curve, total_steps: int | None):
        yield from self._layer_steps(names, CURVES_PER_TURN)
        yield
        self._setup(names, target_curve, total_steps)
        for empty in self.empty_states:
            empty.label.setVisible(True)  # still "Press Run: ...", over the planned run's axes
        if self.isVisible():
            return
        parent = self.parentWidget()
        if parent is not None:  # the size the tab will have, so showing it does not lay the plots out again
            self.resize(parent.size())
        axes = [plot.getAxis(name) for plot in self._plots for name in ("left", "bottom")]
        for _attempt in range(3):  # a first paint at a new size lays the plots out once more
            self.view.grab(QRect(0, 0, 1, 1))  # delivers a hidden widget's pending resize
            QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
            for plot in self._plots:  # paint each plot once, off screen: the axes keep what they drew
                yield
                self.view.grab(self.view.mapFromScene(plot.sceneBoundingRect()).boundingRect())
            QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
            if all(axis.picture is not None for axis in axes):
                break

    def set_target_curve(self, curve: tuple[np.ndarray, np.ndarray] | None) -> None:
        """The schedule's planned overall sparsity, drawn dashed under the actual one."""
        if curve is None:
            self._target_item.setData([], [])
        else:
            self._target_item.setData(np.asarray(curve[0]), np.asarray(curve[1]))

    def set_baseline(self, metrics: dict) -> None:
        acc = metrics.get("accuracy")
        if acc is not None:
            self._baseline_line.setValue(float(acc))
            self._baseline_line.setVisible(True)

    def add_batches(self, batches: list) -> None:
        """``[(step, epoch, logs), ...]``: training loss and accuracy per batch."""
        for step, _epoch, logs in batches:
            for key in ("loss", "accuracy"):
                if key in logs:
                    self.curves[key].append(step, float(logs[key]))
            self.points_received += 1

    def add_epoch(self, step: int, logs: dict) -> None:
        """Validation metrics at the end of an epoch (plotted at its last step)."""
        for key in ("val_loss", "val_accuracy"):
            if key in logs:
                self.curves[key].append(step, float(logs[key]))
                self.points_received += 1

    def add_sparsity(self, step: int, overall: float, target: float, layers: dict) -> None:
        self.curves["sparsity"].append(step, overall)
        for name, value in layers.items():
            curve = self.layer_curves.get(name)
            if curve is None:
                colour_at = (len(self.layer_curves) + 3) % len(LINE_COLOURS)
                lane = self._lanes[colour_at] if self._lanes else None
                curve = self.layer_curves[name] = _Curve(self.layer_plot, name if len(self.layer_curves) < LEGEND_LAYERS else None,
                                                         LINE_COLOURS[colour_at], light=True, lane=lane)
            curve.append(step, float(value))
        self.points_received += 1

    def highlight(self, name: str | None) -> None:
        """Draw the named layer's curve thick and the others thin."""
        self.highlighted = name
        for layer, curve in self.layer_curves.items():
            if curve.item is None:
                continue
            width = 4 if layer == name else (1 if name in self.layer_curves else 2)
            curve.item.setPen(pg.mkPen(curve.colour, width=width))
            curve.item.setZValue(10 if layer == name else 0)
        for lane in self._lanes:
            lane.item.setPen(pg.mkPen(lane.colour, width=1 if name in self.layer_curves else 2))
        self._draw_highlight()

    def _draw_highlight(self) -> None:
        """The highlighted layer's thick line, when its layer is drawn in a lane."""
        curve = self.layer_curves.get(self.highlighted) if self.highlighted is not None else None
        if curve is None or curve.lane is None:
            self._highlight_item.setData([], [])
            return
        x, y = curve.series.view()
        self._highlight_item.setPen(pg.mkPen(curve.colour, width=4))
        self._highlight_item.setData(x, y, skipFiniteCheck=True)

    # --- redrawing -----------------------------------------------------------------------
    def prime(self) -> None:
        """Paint the plots once off screen, so the first run does not pay for the first paint.

        The first paint of four plots (axis text layout, fonts) takes 70-90 ms on the GUI
        thread; without this it happens when a run switches to the charts tab.
        """
        self.view.grab()
        import numpy.ma  # noqa: F401 - pyqtgraph imports it on the first data; not at a run's start

    def call_after_paint(self, fn, timeout_ms: int = 300) -> None:
        """Call ``fn()`` once the plots have next been painted (at most ``timeout_ms`` later)."""
        call_after_paint(self.view.viewport(), fn, timeout_ms)

    def start_live(self) -> None:
        self._timer.start()

    def stop_live(self) -> None:
        self._timer.stop()
        self.redraw()

    def _all_curves(self) -> list[_Curve]:
        return list(self.curves.values()) + list(self.layer_curves.values())

    def _redraw_next_plot(self) -> None:
        index = self._next_plot
        self._next_plot = (self._next_plot + 1) % len(self._plots)
        self._redraw_plot(index)

    def _redraw_plot(self, index: int) -> None:
        plot, empty = self._plots[index], self.empty_states[index]
        curves = [c for c in self._all_curves() if c.plot is plot]
        for curve in curves:
            curve.redraw()
        if plot is self.layer_plot and any(lane.dirty for lane in self._lanes):
            for lane in self._lanes:
                lane.redraw()
            self._draw_highlight()
        if empty.empty and any(c.series.n for c in curves):  # data without a run's fixed axis
            empty.set_empty(False)
            plot.enableAutoRange(axis="x")

    def redraw(self) -> None:
        """Redraw every plot whose data changed."""
        for index in range(len(self._plots)):
            self._redraw_plot(index)

"""The "Which layers can lose how much?" panel: run a sensitivity scan, read it, get a plan.

The scan itself is :func:`prune_studio.scan.sensitivity_scan`, run in a
:class:`~prune_studio.ui.worker.Worker` thread; this panel only shows its progress, draws one
curve per layer (metric against the share of zeros in that layer), fills a table, and turns
the result into a suggested :class:`~prune_studio.pruning.plan.PruningPlan` that it emits
through :attr:`ScanPanel.planSuggested` for the layer tree to take over. When a model is set,
an earlier scan of the same weights and data is looked up in the cache and shown at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QDoubleSpinBox,
    QGroupBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from prune_studio.scan.result import DEFAULT_SPARSITIES, ScanResult
from prune_studio.ui.notify import user_message
from prune_studio.ui.theme import LINE_COLOURS, show_grid
from prune_studio.ui.worker import Worker

INTRO = (
    "Find out how much each layer can be thinned out before the model gets worse. Each layer is "
    "tried on its own with more and more of its smallest weights set to zero, without any "
    "retraining, and the model is tested on a sample of your data. Flat lines mean a layer "
    "can lose many weights; lines that drop early mean it needs care."
)


def _scan_task(model, dataset, sparsities, max_samples, cache_dir, control, report):
    from prune_studio.scan import sensitivity_scan

    return sensitivity_scan(model, dataset, sparsities=sparsities, max_samples=max_samples,
                            progress=lambda fraction, text: report((fraction, text)),
                            control=control, cache_dir=cache_dir)


def _cache_task(model, dataset, sparsities, max_samples, cache_dir):
    from prune_studio.scan import cached_scan

    return cached_scan(model, dataset, sparsities=sparsities, max_samples=max_samples, cache_dir=cache_dir)


def _suggest_task(model, dataset, result, max_drop, target_sparsity, begin_step, end_step):
    """The suggested plan; a ``max_drop`` one is checked with every layer pruned at once, as the CLI does."""
    from prune_studio.scan import checked_targets, plan_from_targets, projected_sparsity, suggest_plan, suggest_targets

    if max_drop is not None and model is not None and dataset is not None:
        targets, _ = checked_targets(model, dataset, result, max_drop, split="test")
        plan = plan_from_targets(result, targets, begin_step=begin_step, end_step=end_step)
    else:
        plan = suggest_plan(result, max_drop=max_drop, target_sparsity=target_sparsity,
                            begin_step=begin_step, end_step=end_step)
        targets = suggest_targets(result, max_drop=max_drop, target_sparsity=target_sparsity)
    return plan, targets, projected_sparsity(plan, result.params)


#: Layers the chart's legend names; with more, the table does.
LEGEND_MAX = 12
#: Lines drawn per event-loop turn (~0.35 ms each, plus a repaint of the chart between turns):
#: 40 a turn held the window up to ~50 ms here on a busy day, 20 a turn <= 36 ms (53 layers).
CURVES_PER_TURN = 20


def _colour(index: int, name: str, chosen: set[str]):
    """The colour of the ``index``-th layer's line and points: faded when other layers are chosen."""
    colour = pg.mkColor(LINE_COLOURS[index % len(LINE_COLOURS)])
    if chosen and name not in chosen:
        colour.setAlpha(60)
    return colour


class ScanPanel(QWidget):
    """Sensitivity scan with a chart, a table and "Suggest a plan" controls.

    Signals:
        planSuggested(object): a :class:`~prune_studio.pruning.plan.PruningPlan` the user asked for.
        scanFinished(object): the :class:`ScanResult` now shown (from a scan or the cache).
    """

    planSuggested = Signal(object)
    scanFinished = Signal(object)

    def __init__(self, parent: QWidget | None = None, cache_dir: str | Path | None = None,
                 sparsities=DEFAULT_SPARSITIES, max_samples: int = 512):
        super().__init__(parent)
        self._cache_dir, self._sparsities, self._max_samples = cache_dir, tuple(sparsities), max_samples
        self._model = self._dataset = self._description = None
        self._result: ScanResult | None = None
        self._jobs: dict[Any, tuple[Worker, int, Any]] = {}
        self._scan_worker: Worker | None = None
        self._control = None
        self._generation = 0
        self._steps = (0, 1000)
        self._cache_checked = False  # the lookup of an earlier scan for this context has answered
        self._goal: dict | None = None  # a recipe's {"max_drop": x} or {"target_sparsity": x}
        self._curves: dict[str, pg.PlotCurveItem] = {}
        self._points: pg.ScatterPlotItem | None = None  # every curve's points, once all are drawn
        self._build()
        self._update_buttons()

    # ----- public API -------------------------------------------------------------------
    @property
    def result(self) -> ScanResult | None:
        """The scan shown, or None."""
        return self._result

    def is_scanning(self) -> bool:
        """True while a scan runs; it changes the model's weights meanwhile, so the window
        should not train or export that model until it ends (``scanFinished``)."""
        return self._scanning()

    def set_context(self, model: Any, dataset: Any, description: Any = None) -> None:
        """Scan this model on this data from now on; shows a cached earlier scan if there is one."""
        self.stop_scan()
        self._generation += 1
        self._cache_checked, self._goal = False, None
        self._model, self._dataset, self._description = model, dataset, description
        self._show_result(None)
        name = getattr(description, "name", None) or getattr(model, "name", "the model")
        self.status.setText(f"Ready to scan {name}." if model is not None and dataset is not None
                            else "Open a model and data to scan.")
        if model is not None and dataset is not None:
            self._start(Worker(_cache_task, model, dataset, self._sparsities, self._max_samples,
                               self._cache_dir, pass_report=False), self._on_cached)
        self._update_buttons()

    def suggest_after_scan(self, goal: dict) -> None:
        """Suggest a plan for a recipe's ``goal`` as soon as a scan is shown.

        ``goal`` is ``{"max_drop": x}`` (in the metric's units: 0.01 is one accuracy point) or
        ``{"target_sparsity": x}``. The scan is the earlier one of this model and data when
        there is one, else a new scan starts now; :attr:`planSuggested` follows it.
        """
        self._goal = dict(goal)
        if "target_sparsity" in goal:
            self.by_target.setChecked(True)
            self.target_spin.setValue(round(goal["target_sparsity"] * 100))
        else:
            self.by_drop.setChecked(True)
        if self._result is not None:
            self._suggest_goal()
        elif self._cache_checked and not self._scanning():
            self.start_scan()
        # Otherwise the lookup of an earlier scan, under way, decides (_on_cached).

    def _suggest_goal(self) -> None:
        goal, self._goal = self._goal, None
        if "max_drop" in goal:
            self.drop_spin.setValue(goal["max_drop"] * 100 if self._is_accuracy() else goal["max_drop"])
        args = (self._model, self._dataset, self._result, goal.get("max_drop"), goal.get("target_sparsity"), *self._steps)
        self._start(Worker(_suggest_task, *args, pass_report=False), self._on_suggested)

    def set_schedule_steps(self, begin_step: int, end_step: int) -> None:
        """The training steps where suggested schedules start and reach their targets."""
        self._steps = (int(begin_step), int(end_step))

    def start_scan(self) -> None:
        """Start measuring in the background (the Scan button)."""
        if self._model is None or self._dataset is None or self._scanning():
            return
        from prune_studio.training.control import RunControl

        self._control = RunControl()
        self.progress.setValue(0)
        self.status.setText("Scanning… the first measurement waits for TensorFlow to start.")
        worker = Worker(_scan_task, self._model, self._dataset, self._sparsities, self._max_samples,
                        self._cache_dir, self._control)
        worker.progress.connect(self._on_progress)
        self._scan_worker = worker
        self._start(worker, self._on_scanned)
        self._update_buttons()

    def stop_scan(self) -> None:
        """Ask a running scan to stop after its current measurement (the Stop button)."""
        if self._control is not None:
            self._control.stop()
            self.status.setText("Stopping after the current measurement…")

    def suggest(self) -> None:
        """Build a plan from the chosen limit and emit :attr:`planSuggested` (the Suggest button)."""
        if self._result is None:
            return
        if self.by_drop.isChecked():
            points = self.drop_spin.value()
            max_drop = points / 100 if self._is_accuracy() else points
            args = (self._model, self._dataset, self._result, max_drop, None, *self._steps)
        else:
            args = (self._model, self._dataset, self._result, None, self.target_spin.value() / 100, *self._steps)
        self._start(Worker(_suggest_task, *args, pass_report=False), self._on_suggested)

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Stop background work and wait for it; call before the panel goes away."""
        self.stop_scan()
        for worker, _, _ in list(self._jobs.values()):
            worker.wait(timeout_ms)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        self.shutdown()
        super().closeEvent(event)

    # ----- layout -----------------------------------------------------------------------
    def _build(self) -> None:
        intro = QLabel(INTRO)
        intro.setWordWrap(True)
        self.scan_button = QPushButton("Scan layers")
        self.scan_button.setToolTip("Try every prunable layer at several shares of zeros and measure the model")
        self.scan_button.clicked.connect(self.start_scan)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop_scan)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.status = QLabel("Open a model and data to scan.")
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.scan_button)
        row.addWidget(self.stop_button)
        row.addWidget(self.progress, 1)

        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "Zeros in the layer (%)")
        self.plot.setLabel("left", "Accuracy (%)")
        show_grid(self.plot, x=True, y=True, alpha=0.3)
        self.plot.addLegend(offset=(-10, -10))
        self._baseline_line = pg.InfiniteLine(angle=0, pen=pg.mkPen("#888888", width=1, style=Qt.PenStyle.DashLine),
                                              label="original", labelOpts={"position": 0.05})

        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.itemSelectionChanged.connect(self._highlight_selected)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.plot)
        splitter.addWidget(self.table)
        splitter.setSizes([500, 400])
        # The chart and table take the height that is left: their own (tall) size hints would
        # make the panel taller than the window's pane and push "Suggest a plan" out of view.
        splitter.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Ignored)
        splitter.setMinimumHeight(220)

        box = QGroupBox("Suggest a plan")
        self.by_drop = QRadioButton("Keep accuracy within")
        self.drop_spin = QDoubleSpinBox()
        self.drop_spin.setRange(0.0, 50.0)
        self.drop_spin.setSingleStep(0.5)
        self.drop_spin.setValue(1.0)
        self.drop_spin.setSuffix(" points of the original")
        self.by_target = QRadioButton("Reach")
        self.target_spin = QSpinBox()
        self.target_spin.setRange(5, 99)
        self.target_spin.setValue(80)
        self.target_spin.setSuffix(" % zeros overall")
        self.by_drop.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.by_drop)
        group.addButton(self.by_target)
        self.suggest_button = QPushButton("Suggest a plan")
        self.suggest_button.setToolTip("Fill the layer list with a share of zeros for each layer; you can still edit every value")
        self.suggest_button.clicked.connect(self.suggest)
        self.suggestion = QLabel("")
        self.suggestion.setWordWrap(True)
        # Two rows, one per kind of limit, so the panel fits the window's right-hand pane.
        options = QGridLayout()
        options.addWidget(self.by_drop, 0, 0)
        options.addWidget(self.drop_spin, 0, 1)
        options.addWidget(self.by_target, 1, 0)
        options.addWidget(self.target_spin, 1, 1)
        options.addWidget(self.suggest_button, 0, 2, 2, 1, Qt.AlignmentFlag.AlignVCenter)
        options.setColumnStretch(3, 1)
        box_layout = QVBoxLayout(box)
        box_layout.addLayout(options)
        box_layout.addWidget(self.suggestion)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addWidget(splitter, 1)
        layout.addWidget(box)

    # ----- background work --------------------------------------------------------------
    def _start(self, worker: Worker, on_result) -> None:
        # Bound methods of this widget, so Qt queues the calls to the GUI thread; results of
        # a task started for an earlier model (an older generation) are dropped.
        self._jobs[worker.signals] = (worker, self._generation, on_result)
        worker.returned.connect(self._job_returned)
        worker.errored.connect(self._job_errored)
        worker.done.connect(self._job_done)
        worker.start()

    def _job_returned(self, value) -> None:
        worker, generation, on_result = self._jobs.get(self.sender(), (None, None, None))
        if generation == self._generation:
            on_result(value)

    def _job_errored(self, exc: BaseException) -> None:
        worker, generation, _ = self._jobs.get(self.sender(), (None, None, None))
        if generation == self._generation:
            self._goal = None
            self.status.setText(user_message(exc))

    def _job_done(self) -> None:
        worker, _, _ = self._jobs.pop(self.sender(), (None, None, None))
        if worker is None:
            return
        worker.wait()
        if worker is self._scan_worker:
            self._scan_worker, self._control = None, None
        self._update_buttons()

    def _scanning(self) -> bool:
        return self._scan_worker is not None

    def _on_progress(self, value) -> None:
        fraction, text = value
        self.progress.setValue(round(fraction * 1000))
        self.status.setText(text)

    def _on_cached(self, result: ScanResult | None) -> None:
        self._cache_checked = True
        if result is not None and self._result is None:
            self._show_result(result)
            self.status.setText("Showing the earlier scan of this model and data.")
        if self._goal is not None:
            if self._result is not None:
                self._suggest_goal()
            elif not self._scanning():
                self.start_scan()

    def _on_scanned(self, result: ScanResult) -> None:
        self._show_result(result)
        self.progress.setValue(0 if result.stopped else 1000)
        self.status.setText("Scan stopped; the layers measured so far are shown." if result.stopped
                            else "Scan finished. Pick a layer to highlight its line.")
        if self._goal is not None:
            if result.stopped:  # not every layer was measured: leave the suggestion to the user
                self._goal = None
                self.status.setText("Scan stopped, so no plan was suggested. Scan again, or press "
                                    "Suggest a plan to use the layers measured so far.")
            else:
                self._suggest_goal()

    def _on_suggested(self, value) -> None:
        plan, targets, overall = value
        kept = ", ".join(f"{name} {share:.0%}" for name, share in targets.items())
        self.suggestion.setText(f"Suggested: {overall:.0%} zeros overall ({kept}). "
                                "The layer list now shows these values; you can still change each one.")
        self.planSuggested.emit(plan)

    def _update_buttons(self) -> None:
        ready = self._model is not None and self._dataset is not None
        self.scan_button.setEnabled(ready and not self._scanning())
        self.stop_button.setEnabled(self._scanning())
        self.suggest_button.setEnabled(self._result is not None and bool(self._result.curves))

    # ----- chart and table --------------------------------------------------------------
    def _is_accuracy(self) -> bool:
        return self._result is not None and self._result.metric_name == "accuracy"

    def _scale(self, value: float) -> float:
        return value * 100 if self._is_accuracy() else value

    def _show_result(self, result: ScanResult | None) -> None:
        self._result = result
        self.plot.clear()
        self._curves.clear()
        self._points = None
        self.table.clear()
        self.table.setRowCount(0)
        self.suggestion.setText("")
        if result is not None:
            self._draw(result)  # emits scanFinished once every curve is drawn
        self._update_buttons()

    def _draw(self, result: ScanResult) -> None:
        label = "Accuracy (%)" if self._is_accuracy() else result.metric_name.capitalize()
        self.plot.setLabel("left", label)
        self._baseline_line.setValue(self._scale(result.baseline))
        self.plot.addItem(self._baseline_line)
        # A line per layer and one scatter for every layer's points, rather than a PlotDataItem
        # (line + scatter) each: MobileNetV2's 53 layers held the window for ~150 ms that way.
        # The lines go in CURVES_PER_TURN at a time, with one range update at the end.
        self.plot.getViewBox().disableAutoRange()
        # A legend of a big model's 53 layers would cover the chart: past LEGEND_MAX layers, the
        # table beside it names the curves (a click on either selects both).
        legend = len(result.curves) <= LEGEND_MAX
        self.plot.plotItem.legend.setVisible(legend)
        self._add_curves(result, list(enumerate(result.curves.items())), legend)
        sparsities = sorted({s for curve in result.curves.values() for s, _ in curve})
        limit = 0.01 if self._is_accuracy() else 0.0
        headers = ["Layer", "Weights", "Safe up to" if limit else "Unchanged up to"]
        headers += [f"{s:.0%} zeros" for s in sparsities]
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.horizontalHeaderItem(2).setToolTip(
            "The highest share of zeros that keeps accuracy within 1 point of the original")
        self.table.setRowCount(len(result.curves))
        for row, (name, curve) in enumerate(result.curves.items()):
            values = dict(curve)
            cells = [name, f"{result.params.get(name, 0):,}", f"{result.safe_sparsity(name, limit):.0%}"]
            cells += [self._format(values[s]) if s in values else "" for s in sparsities]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, column, item)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)

    def _add_curves(self, result: ScanResult, pending: list, legend: bool) -> None:
        """Draw the next CURVES_PER_TURN lines of ``pending``; the rest in the next event-loop turn."""
        if result is not self._result:
            return  # another result (or none) is shown now
        for i, (name, curve) in pending[:CURVES_PER_TURN]:
            item = pg.PlotCurveItem([s * 100 for s, _ in curve], [self._scale(m) for _, m in curve],
                                    pen=pg.mkPen(LINE_COLOURS[i % len(LINE_COLOURS)], width=2),
                                    name=name if legend else None)
            item.setClickable(True, width=8)
            item.sigClicked.connect(lambda _item, _event, layer=name: self._select(layer))
            self.plot.addItem(item)
            self._curves[name] = item
        rest = pending[CURVES_PER_TURN:]
        if rest:
            QTimer.singleShot(0, self, lambda: self._add_curves(result, rest, legend))
            return
        self._points = pg.ScatterPlotItem(size=6, pen=None)
        self._points.setZValue(5)  # over the lines; a selected line (10) goes over them
        self._points.sigClicked.connect(lambda _item, points, _event: self._select(points[0].data()))
        self._place_points(set())
        self.plot.addItem(self._points)
        self.plot.getViewBox().enableAutoRange()
        if self.table.selectionModel().hasSelection():  # a row picked while the curves came in
            self._highlight_selected()
        self.scanFinished.emit(result)

    def _place_points(self, chosen: set[str]) -> None:
        """Every layer's measured points, in its line's colour (faded when others are chosen)."""
        xs, ys, brushes, names = [], [], [], []
        for i, (name, curve) in enumerate(self._result.curves.items()):
            brush = pg.mkBrush(_colour(i, name, chosen))
            for s, m in curve:
                xs.append(s * 100)
                ys.append(self._scale(m))
                brushes.append(brush)
                names.append(name)
        self._points.setData(xs, ys, brush=brushes, data=names)

    def _format(self, value: float) -> str:
        return f"{value * 100:.1f}%" if self._is_accuracy() else f"{value:.4g}"

    def _select(self, layer: str) -> None:
        names = list(self._curves)
        if layer in names:
            self.table.selectRow(names.index(layer))

    def _highlight_selected(self) -> None:
        rows = {index.row() for index in self.table.selectionModel().selectedRows()}
        chosen = {self.table.item(row, 0).text() for row in rows if self.table.item(row, 0)}
        for i, (name, item) in enumerate(self._curves.items()):
            item.setPen(pg.mkPen(_colour(i, name, chosen), width=4 if name in chosen else 2))
            item.setZValue(10 if name in chosen else 0)
        if self._points is not None:
            self._place_points(chosen)

"""The result view's pictures: gzipped sizes, accuracy against size, and test samples.

All three draw an :class:`~prune_studio.export.ExportReport` they are given; nothing here runs
a model. The "see it work" strip shows the predictions the export stored in
``report.samples`` and stays hidden when there are none.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QFont, QImage, QPixmap
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QWidget

from prune_studio.export.report import class_text, input_text
from prune_studio.ui.empty_state import EmptyState
from prune_studio.ui.theme import CHART_COLOURS, KEEP_COLOURS, show_grid

INK = CHART_COLOURS["light"]["fg"]
BASE_COLOUR, FILE_COLOUR, BEST_COLOUR, BAD_COLOUR = "#9aa3ad", "#2b7bb9", "#1e8e3e", "#d93025"


def short_name(name: str) -> str:
    """``"TFLite full-integer int8"`` -> ``"int8"``: a label that fits under a dot or a sample."""
    text = name.replace("TFLite ", "").replace("full-integer ", "").replace("dynamic-range int8", "dynamic int8")
    for flavour, short in (("tf-keras", ""), ("Keras 3", " (Keras 3)")):
        text = text.replace(f"Keras .keras ({flavour}, stripped)", ".keras" + short)
        text = text.replace(f"Keras HDF5 ({flavour}, stripped)", ".h5" + short)
    text = text.replace("Keras model (.keras)", ".keras").replace("Keras HDF5 (.h5)", ".h5")
    return text.replace("Keras (stripped)", ".keras")


def _white_plot(title: str) -> pg.PlotWidget:
    """A white chart with dark ink in both themes (it is also what a screenshot shows)."""
    chart = pg.PlotWidget(background="w")
    chart.setProperty(KEEP_COLOURS, True)
    chart.setTitle(title, color=INK)
    chart.setMouseEnabled(x=False, y=False)
    chart.hideButtons()
    chart.setMenuEnabled(False)
    for axis in ("left", "bottom"):
        chart.getAxis(axis).setPen(INK)
        chart.getAxis(axis).setTextPen(INK)
    chart.setMinimumSize(280, 200)
    return chart


class _Chart(QWidget):
    """A chart that asks for little height: the result page's height-for-width layout (its
    text wraps) sizes the page from preferred heights, and a plot's large one pushed the
    charts below the window's edge at 1280x800."""

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(380, 220)


class SizeChart(_Chart):
    """Horizontal bars of each file's gzipped size, the baseline grey and first."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.chart = _white_plot("Gzipped size (KB)")
        self.chart.getPlotItem().invertY(True)
        show_grid(self.chart, x=True, alpha=0.25)
        self.bars = pg.BarGraphItem(x0=[], y=[], width=[], height=0.6, brushes=[])
        self.chart.addItem(self.bars)
        self.labels: list[pg.TextItem] = []
        self.empty = EmptyState(self.chart.getPlotItem(), "Export to compare sizes.")
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.chart)
        self.shown: list[tuple[str, float]] = []

    def show_rows(self, rows: list[dict]) -> None:
        sized = [r for r in rows if r.get("gzip_bytes")]
        for label in self.labels:
            self.chart.removeItem(label)
        self.labels = []
        self.shown = [(r["name"], r["gzip_bytes"] / 1000) for r in sized]
        ys = list(range(len(sized)))
        kb = [r["gzip_bytes"] / 1000 for r in sized]
        brushes = [BASE_COLOUR if i == 0 else (BEST_COLOUR if r.get("recommended") else FILE_COLOUR) for i, r in enumerate(sized)]
        self.bars.setOpts(x0=[0] * len(ys), y=ys, width=kb, brushes=brushes, height=0.6)
        left = self.chart.getAxis("left")
        left.setTicks([[(y, short_name(r["name"]).replace("Baseline (as opened)", "baseline")) for y, r in zip(ys, sized)]])
        for y, value in zip(ys, kb):
            label = pg.TextItem(f"{value:,.0f}", color=INK, anchor=(0, 0.5))
            label.setPos(value, y)
            self.chart.addItem(label)
            self.labels.append(label)
        self.empty.set_empty(not sized)
        if sized:
            self.chart.setYRange(-0.6, len(ys) - 0.4, padding=0)
            self.chart.setXRange(0, max(kb) * 1.18, padding=0)


#: Dot diameters in pixels (the baseline's star, the files' dots).
BASE_DOT, FILE_DOT = 18, 13
#: Where a label may go around its dot, tried in this order: (x, y) in label widths/heights
#: from the dot's edge, -1 = left/above, 0 = centred, 1 = right/below; then further out.
_SPOTS = ((1, -1), (1, 1), (-1, -1), (-1, 1), (0, -1), (0, 1), (1, 0), (-1, 0))


class AccuracyScatter(_Chart):
    """One dot per file: gzipped size across, test accuracy up; the baseline a grey star.

    Dots on (almost) the same spot share one label. Labels are laid out in pixels whenever
    the chart is drawn at a new size: each goes to the first spot around its dot (right and
    above first) where it stays inside the plot and covers no other label and no dot; when no
    spot is free, the one covering least. A label that had to move away from its dot gets a
    thin line to it.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.chart = _white_plot("Accuracy against size")
        self.chart.setLabel("bottom", "gzipped KB", color=INK)
        self.chart.setLabel("left", "accuracy %", color=INK)
        show_grid(self.chart, x=True, y=True, alpha=0.25)
        self.dots = pg.ScatterPlotItem()
        self.chart.addItem(self.dots)
        self.labels: list[pg.TextItem] = []
        self.leaders: list[pg.PlotCurveItem] = []  # label i's line to its dot (empty when beside it)
        self._anchors: list[tuple[float, float]] = []  # each label's dot, in data units
        self.empty = EmptyState(self.chart.getPlotItem(), "Export to plot accuracy against size.")
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.chart)
        self.points: list[dict] = []
        view = self.chart.getPlotItem().getViewBox()
        self._place_timer = QTimer(self)  # one layout per event-loop turn, however many changes
        self._place_timer.setSingleShot(True)
        self._place_timer.setInterval(0)
        self._place_timer.timeout.connect(self.place_labels)
        view.sigResized.connect(self._place_timer.start)
        view.sigRangeChanged.connect(self._place_timer.start)

    def show_rows(self, rows: list[dict]) -> None:
        for item in self.labels + self.leaders:
            self.chart.removeItem(item)
        self.labels, self.leaders, self._anchors = [], [], []
        self.points = []
        for i, r in enumerate(rows):
            if not r.get("gzip_bytes") or r.get("accuracy") is None or (i and not r.get("ok")):
                continue
            baseline = i == 0
            colour = BASE_COLOUR if baseline else (BEST_COLOUR if r.get("recommended") else FILE_COLOUR)
            self.points.append({"pos": (r["gzip_bytes"] / 1000, 100 * r["accuracy"]),
                                "size": BASE_DOT if baseline else FILE_DOT,
                                "symbol": "star" if baseline else "o", "brush": colour, "pen": pg.mkPen("w"),
                                "data": r["name"], "baseline": baseline})
        ordered = sorted(self.points, key=lambda p: p["baseline"])  # the baseline's star on top
        self.dots.setData([{k: v for k, v in p.items() if k != "baseline"} for p in ordered])
        for pos, names in sorted(_groups(self.points).items()):
            label = pg.TextItem(_label_text(names), color=INK, anchor=(0, 0))
            label.setPos(*pos)
            leader = pg.PlotCurveItem(pen=pg.mkPen("#b8bec6", width=1))
            leader.setZValue(-1)  # under the dots
            self.chart.addItem(leader)
            self.chart.addItem(label)
            self.labels.append(label)
            self.leaders.append(leader)
            self._anchors.append(pos)
        self.empty.set_empty(not self.points)
        if self.points:
            xs = np.array([p["pos"][0] for p in self.points])
            ys = np.array([p["pos"][1] for p in self.points])
            self.chart.setXRange(0, xs.max() * 1.3, padding=0)
            low, high = ys.min(), ys.max()
            pad = max(0.5, (high - low) * 0.35)
            self.chart.setYRange(low - pad, min(100.0, high + pad) + 0.2, padding=0)
        self.place_labels()

    def plot_rect(self) -> QRectF:
        """The plot area in scene pixels: labels stay inside it."""
        return self.chart.getPlotItem().getViewBox().sceneBoundingRect()

    def place_labels(self, *_args) -> None:
        """Lay the labels out around their dots for the chart's current size and range."""
        view = self.chart.getPlotItem().getViewBox()
        area = self.plot_rect()
        if not self.labels or area.width() < 10 or area.height() < 10:
            return
        taken = []
        for p in self.points:  # no label covers a dot
            centre = view.mapViewToScene(QPointF(*p["pos"]))
            half = p["size"] / 2 + 1
            taken.append(QRectF(centre.x() - half, centre.y() - half, 2 * half, 2 * half))
        by_anchor = {tuple(p["pos"]): p["size"] for p in self.points}
        for label, leader, anchor in zip(self.labels, self.leaders, self._anchors):
            size = label.textItem.boundingRect().size()  # pixels, whatever the view scale
            centre = view.mapViewToScene(QPointF(*anchor))
            gap = by_anchor.get(tuple(anchor), FILE_DOT) / 2 + 2
            best, best_cost = None, None
            for rect in _candidates(centre, size.width(), size.height(), gap):
                inside = area.contains(rect)
                cost = sum(_overlap(rect, other) for other in taken) + (0 if inside else 1e9 + _outside(rect, area))
                if best_cost is None or cost < best_cost:
                    best, best_cost = rect, cost
                if cost == 0:
                    break
            taken.append(best)
            label.setPos(view.mapSceneToView(best.topLeft()))
            near = QPointF(min(max(centre.x(), best.left()), best.right()), min(max(centre.y(), best.top()), best.bottom()))
            if (near - centre).manhattanLength() > 2 * gap + 4:
                end = view.mapSceneToView(near)
                leader.setData([anchor[0], end.x()], [anchor[1], end.y()])
            else:
                leader.setData([], [])


def _label_text(names: list[str]) -> str:
    """Names sharing a spot, two to a line."""
    return "\n".join(", ".join(names[i : i + 2]) for i in range(0, len(names), 2))


def _candidates(centre: QPointF, w: float, h: float, gap: float):
    """Label rectangles around a dot at ``centre`` (scene pixels), nearest spots first."""
    for step in range(4):
        for sx, sy in _SPOTS:
            x = centre.x() + (gap if sx > 0 else -gap - w if sx < 0 else -w / 2)
            y = centre.y() + (gap + step * h * 0.6 if sy > 0 else -gap - h - step * h * 0.6 if sy < 0 else -h / 2)
            if sy == 0:
                x += sx * step * w * 0.3
            yield QRectF(x, y, w, h)


def _overlap(a: QRectF, b: QRectF) -> float:
    both = a.intersected(b)
    return max(0.0, both.width()) * max(0.0, both.height())


def _outside(rect: QRectF, area: QRectF) -> float:
    return rect.width() * rect.height() - _overlap(rect, area)


def _groups(points: list[dict]) -> dict[tuple, list[str]]:
    """Names of the dots that sit on (almost) the same spot, so their labels do not overprint."""
    if not points:
        return {}
    xs = [p["pos"][0] for p in points]
    ys = [p["pos"][1] for p in points]
    dx, dy = max(max(xs) * 0.04, 1e-9), max((max(ys) - min(ys)) * 0.04, 0.05)
    groups: dict[tuple, list[str]] = {}
    for p in sorted(points, key=lambda p: not p["baseline"]):
        name = "baseline" if p["baseline"] else short_name(p["data"])
        spot = next((k for k in groups if abs(k[0] - p["pos"][0]) <= dx and abs(k[1] - p["pos"][1]) <= dy), None)
        groups.setdefault(spot or p["pos"], []).append(name)
    return groups


def _image_pixmap(x: np.ndarray, size: int) -> QPixmap | None:
    """A test input as a small picture, when it looks like an image (H x W [x 1|3])."""
    a = np.asarray(x, dtype=np.float32)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or min(a.shape[:2]) < 4 or (a.ndim == 3 and a.shape[-1] != 3):
        return None
    low, high = float(a.min()), float(a.max())
    a = np.uint8(255 * (a - low) / (high - low or 1.0))
    a = np.ascontiguousarray(255 - a if a.ndim == 2 else a)  # digits: dark ink on white
    h, w = a.shape[:2]
    fmt = QImage.Format.Format_Grayscale8 if a.ndim == 2 else QImage.Format.Format_RGB888
    image = QImage(a.data, w, h, a.strides[0], fmt).copy()
    return QPixmap.fromImage(image).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)


#: Samples :meth:`SampleStrip.fill_steps` makes per step.
SAMPLES_PER_STEP = 3
#: How a wrong guess looks: the strip's one style sheet, picked by the label's ``mismatch`` property.
MISMATCH_STYLE = (f'QLabel[mismatch="true"] {{ color: white; background: {BAD_COLOUR}; border-radius: 3px; '
                  'font-weight: 600; }')


class SampleStrip(QFrame):
    """Test samples in columns: the input, the true class, the baseline's and each file's guess.

    A guess that differs from the true class is red; hidden when the report has no samples.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("sampleStrip")
        # One style sheet for every wrong guess (a sheet per label was parsed and polished once
        # per cell: with many wrong guesses the strip took 30-60 ms of GUI time to show).
        self.setStyleSheet(MISMATCH_STYLE)
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 4, 0, 4)
        self.grid.setHorizontalSpacing(14)
        self.grid.setVerticalSpacing(2)
        self.mismatches = 0
        self.cells: dict[tuple[int, int], QLabel] = {}
        self.image_size = 36
        self.hide()

    def _clear(self) -> None:
        while self.grid.count():
            item = self.grid.takeAt(0)
            if item.widget() is not None:
                item.widget().hide()
                item.widget().deleteLater()
        self.cells = {}

    def show_samples(self, samples: list[dict], names: list[str], x_test=None) -> None:
        for _ in self.fill_steps(samples, names, x_test):
            pass

    def fill_steps(self, samples: list[dict], names: list[str], x_test=None, per_step: int = SAMPLES_PER_STEP):
        """:meth:`show_samples` as a generator: yields after every ``per_step`` samples.

        The strip stays hidden while it is filled and each label is polished as it is made, so
        the caller can spread the work over event-loop turns (the whole strip, ~100 labels, took
        40-60 ms of GUI time to make, polish, lay out and paint in one turn); it is shown at the end.
        """
        self._clear()
        self.mismatches = 0
        self.hide()
        if not samples:
            return
        rows = ["input", "true class", "baseline"] + names
        for r, text in enumerate(rows):
            head = QLabel(short_name(text))
            head.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            bold = QFont(head.font())
            bold.setBold(r < 3)
            head.setFont(bold)
            head.ensurePolished()
            self.grid.addWidget(head, r, 0)
        for c, sample in enumerate(samples, start=1):
            picture = QLabel()
            picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
            pixmap = None
            index = sample.get("index")
            single = x_test is not None and not isinstance(x_test, dict)
            if single and index is not None and 0 <= index < len(x_test):
                pixmap = _image_pixmap(x_test[index], self.image_size)
            if pixmap is not None:
                picture.setPixmap(pixmap)
            else:  # values, per input name for several inputs
                picture.setText(input_text(x_test, index if index is not None else -1).replace("; ", "\n"))
            picture.ensurePolished()
            self.grid.addWidget(picture, 0, c)
            truth = sample.get("label")
            guesses = [truth, sample.get("baseline_pred")] + [sample.get("preds", {}).get(n) for n in names]
            for r, guess in enumerate(guesses, start=1):
                cell = QLabel(class_text(guess).replace(", ", "\n"))
                cell.setAlignment(Qt.AlignmentFlag.AlignCenter)
                wrong = r > 1 and guess is not None and guess != truth
                if wrong:
                    self.mismatches += 1
                    cell.setToolTip(f"Predicted {class_text(guess)}, the true class is {class_text(truth)}.")
                cell.setProperty("mismatch", wrong)
                self.cells[(r, c)] = cell
                self.grid.addWidget(cell, r, c)
                cell.ensurePolished()  # in the strip: its style sheet applies
            if c % per_step == 0 and c < len(samples):
                yield
        self.grid.setColumnStretch(len(samples) + 1, 1)
        self.show()

"""The result view: what an export achieved, at a glance and in full, across the whole window.

Headline cards ("TFLite int8: 10.1x smaller, -0.8 pts, 3.1x faster, verified", the
recommended file marked), the full comparison table with every column in view, the size chart
beside accuracy against size, and a strip of test samples with each file's prediction. It
reads an :class:`~prune_studio.export.ExportReport`; the fields later exports add
(``recommended``, ``advice``, ``speedup``, ``baseline_label``, ``samples``) are used when present.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from prune_studio.export.html_report import format_bytes
from prune_studio.ui.card_layout import CardFlowLayout
from prune_studio.ui.table_fill import columns_fixed
from prune_studio.ui.results_charts import AccuracyScatter, SampleStrip, SizeChart, short_name

COLUMNS = ("File", "Size", "Gzipped", "Smaller", "Non-zeros", "Accuracy", "Change", "FLOPs", "ms/sample", "Faster",
           "Verified", "Note")
#: Left out in presentation mode, whose larger font would push Verified and Note out of view:
#: the gzipped size and the cards carry what they say.
PRESENTATION_HIDDEN = ("Size", "Non-zeros")
CARDS_PER_ROW = 5
#: Time between two parts of a staged fill: the paint a part asked for runs in between.
STAGE_GAP_MS = 5


def _times(value: float | None, more: str, less: str) -> str:
    if not value:
        return ""
    return f"{value:.1f}x {more}" if value >= 1 else f"{1 / value:.1f}x {less}"


def headline(row: dict) -> str:
    """``"TFLite int8: 10.1x smaller, -0.8 pts, 3.1x faster, verified"`` for one artifact row."""
    parts = [_times(row.get("ratio"), "smaller", "larger")]
    change = row.get("accuracy_change")
    if change is not None:
        parts.append(f"{100 * change:+.1f} pts")
    parts.append(_times(row.get("speedup"), "faster", "slower"))
    parts.append("verified" if row.get("ok") else "not verified")
    return f"{short_name(row['name'])}: " + ", ".join(p for p in parts if p)


def flops_text(value: float | None) -> str:
    """FLOPs per sample, short: ``"1.23 M"``, ``"45.6 k"`` (empty when not counted)."""
    if value is None:
        return ""
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.0f}"


def cells(row: dict) -> list[str]:
    """One row of :data:`COLUMNS` as text."""
    pct = lambda v: "" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    change = row.get("accuracy_change")
    name = row["name"] + ("  ★" if row.get("recommended") else "")
    return [
        name, format_bytes(row.get("bytes")), format_bytes(row.get("gzip_bytes")),
        "" if row.get("ratio") is None else f"{row['ratio']:.1f}x",
        "" if row.get("nonzero") is None else f"{row['nonzero']:,}",
        pct(row.get("accuracy")), "" if change is None else f"{100 * change:+.1f} pts",
        flops_text(row.get("flops")),
        "" if row.get("latency_ms") is None else f"{row['latency_ms']:.3f}",
        "" if not row.get("speedup") else f"{row['speedup']:.1f}x",
        "yes" if row.get("ok") else ("not kept" if row.get("dropped") else "no"),
        row.get("advice") or row.get("note") or "",
    ]


#: The cards' frames, set once on the box that holds them (a style sheet per card cost ~8 ms each).
CARD_STYLE = ("QFrame#resultCard { border: 1px solid #b8c0cc; border-radius: 6px; } "
              "QFrame#resultCardBest { border: 2px solid #1e8e3e; border-radius: 6px; }")


class ResultCard(QFrame):
    """One artifact's headline; the recommended one has a green frame and says so.

    Every line wraps and the card's height follows its width (the layout asks
    ``heightForWidth``), so a narrow card grows taller instead of cutting its numbers off.
    """

    def __init__(self, row: dict, parent: QWidget | None = None):
        super().__init__(parent)
        self.row = row
        self.recommended = bool(row.get("recommended"))
        self.headline = headline(row)
        self.setObjectName("resultCardBest" if self.recommended else "resultCard")  # framed by CARD_STYLE
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        # Each card says what it is compared with; the advice is in the tooltip, the table's Note
        # column and (for the recommended file) the heading above the cards, so the cards stay
        # short and the charts stay in view at 1280x800.
        note = f"Compared with the {row['baseline_label']}." if row.get("baseline_label") else ""
        # The labels are children of the card from the start: a parentless label made visible is a
        # window of its own, which on the offscreen platform took the main window's activation away.
        self.title = QLabel(("★ Recommended · " if self.recommended else "") + row["name"], self)
        self.numbers = QLabel(self.headline.split(": ", 1)[1], self)
        self.note = QLabel(note, self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(2)
        for label in (self.title, self.numbers, self.note):
            label.setWordWrap(True)
            layout.addWidget(label)
        layout.addStretch(1)  # a short card in a tall row keeps its text at the top
        self.note.setVisible(bool(note))
        self.setToolTip(row.get("advice") or row.get("note") or "")
        self.set_scale(1.0)

    def labels(self) -> list[QLabel]:
        """The card's visible lines of text."""
        return [label for label in (self.title, self.numbers, self.note) if not label.isHidden()]

    def min_width(self) -> int:
        """The narrowest this card reads well: about 20 digits of its numbers, plus margins."""
        return QFontMetrics(self.numbers.font()).horizontalAdvance("0" * 20) + 24

    def set_scale(self, scale: float) -> None:
        base = QFont(self.font())
        size = base.pointSizeF() if base.pointSizeF() > 0 else 9.0
        for label, factor, bold in ((self.title, 1.0, True), (self.numbers, 1.2, True), (self.note, 0.9, False)):
            font = QFont(base)
            font.setPointSizeF(size * factor * scale)
            font.setBold(bold)
            label.setFont(font)
        self.numbers.setStyleSheet("color: #1e8e3e;" if self.recommended else "")


class ResultsView(QWidget):
    filled = Signal()  # every part of the last report is shown

    """Full-width comparison of one export; see the module docstring."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.report = None
        self._stages: list = []
        self._x_test = None
        self.scale = 1.0
        self.cards: list[ResultCard] = []
        self.heading = QLabel("Export the model (Export tab) to see here how much smaller, how accurate and how fast each file is.")
        self.heading.setWordWrap(True)
        self.cards_box = QWidget()
        self.cards_layout = CardFlowLayout(self.cards_box, max_columns=CARDS_PER_ROW)
        self.cards_layout.setContentsMargins(0, 0, 0, 0)
        self.cards_box.setStyleSheet(CARD_STYLE)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.size_chart = SizeChart()
        self.scatter = AccuracyScatter()
        self.strip_title = QLabel("<b>See it work</b>: test samples and<br>each file's guess (red: wrong)")
        self.strip = SampleStrip()
        samples = QVBoxLayout()
        samples.addWidget(self.strip_title)
        samples.addWidget(self.strip)
        samples.addStretch(1)
        bottom = QHBoxLayout()  # charts and samples side by side: the whole story above the fold
        bottom.addWidget(self.size_chart, 1)
        bottom.addWidget(self.scatter, 1)
        bottom.addLayout(samples)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(self.heading)
        layout.addWidget(self.cards_box)
        layout.addWidget(self.table)
        layout.addLayout(bottom, 1)
        self.strip_title.hide()
        self.table.hide()

    def set_dataset(self, dataset) -> None:
        """The data set whose test split the samples' ``index`` points into."""
        self._x_test = getattr(dataset, "x_test", None)

    def show_report(self, report, staged: bool = False) -> None:
        """Fill the cards, the table, the charts and the samples from ``report``.

        ``staged``: one part per event-loop turn (heading and cards, the table, the samples, the
        charts), so that no single turn holds the window up (together they took 150-230 ms
        on the GUI thread); :attr:`filled` fires when the last part is in. The two charts are
        hidden while the rest is filled and come back last, one per stage: each card, the table
        and the samples moved them, and every move laid them out again several times and
        painted them (40-110 ms a turn). :data:`STAGE_GAP_MS` between stages lets the paint a
        stage asked for run on a turn of its own.
        """
        self.report = report
        rows = report.rows()
        files = [r for r in rows[1:] if r.get("ok")]
        stages = [lambda: self._fill_heading(rows, files), self._clear_cards]
        stages += [lambda r=r: self._add_card(r) for r in files]  # a card each: shown and laid out
        stages += [self._fit_cards, lambda: self._fill_table_fixed(rows), lambda: self._fill_samples(report, files),
                   lambda: self.size_chart.show_rows(rows), lambda: self.scatter.show_rows(rows)]
        charts = (self.size_chart, self.scatter)
        for chart in charts:  # shown again each on a stage of its own (at once when not staged)
            chart.setVisible(not staged)
        stages += [lambda chart=chart: chart.setVisible(True) for chart in charts]
        self._stages = stages
        if not staged:
            while self._stages:
                self._stages.pop(0)()
            self.filled.emit()
            return
        self._next_stage(report)

    def filling(self) -> bool:
        """Whether a staged :meth:`show_report` is still under way."""
        return bool(self._stages)

    def _next_stage(self, report) -> None:
        if self.report is not report or not self._stages:  # a newer report took over
            return
        self._stages.pop(0)()
        if self._stages:
            QTimer.singleShot(STAGE_GAP_MS, self, lambda: self._next_stage(report))
        else:
            self.filled.emit()

    def _fill_heading(self, rows: list[dict], files: list[dict]) -> None:
        best = next((r for r in files if r.get("recommended")), None)
        report = self.report
        where = f" in {report.out_dir}" if getattr(report, "out_dir", "") else ""
        text = f"<b>{len(files)} file(s) written and verified</b>{where}."
        if best is not None:
            text += f" Use <b>{best['name']}</b>: {best.get('advice') or headline(best)}"
        self.heading.setText(text)

    def _fill_table_fixed(self, rows: list[dict]) -> None:
        with columns_fixed(self.table):
            self._fill_table(rows)

    def _fill_samples(self, report, files: list[dict]) -> None:
        """The sample strip, a few samples per stage (see :meth:`SampleStrip.fill_steps`)."""
        samples = list(getattr(report, "samples", None) or [])
        predicted = {name for sample in samples for name in (sample.get("preds") or {})}
        steps = self.strip.fill_steps(samples, [r["name"] for r in files if r["name"] in predicted], self._x_test)

        def step() -> None:
            try:
                next(steps)
            except StopIteration:
                self.strip_title.setVisible(bool(samples))
            else:
                self._stages.insert(0, step)  # the next few samples on the next stage

        step()

    def _clear_cards(self) -> None:
        for card in self.cards:
            self.cards_layout.removeWidget(card)
            card.hide()
            card.deleteLater()
        self.cards = []

    def _add_card(self, row: dict) -> None:
        card = ResultCard(row, self.cards_box)
        card.set_scale(self.scale)
        self.cards.append(card)
        self.cards_layout.addWidget(card)
        card.show()

    def _fit_cards(self) -> None:
        """Fewer cards share a row when larger fonts make each card need more width."""
        if self.cards:
            self.cards_layout.set_min_card_width(max(card.min_width() for card in self.cards))

    def _fill_table(self, rows: list[dict]) -> None:
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate(cells(row)):
                item = QTableWidgetItem(text)
                if 0 < c < len(COLUMNS) - 1:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if r and not row.get("ok"):
                    item.setForeground(QColor("#8a9099" if row.get("dropped") else "#b00020"))
                if row.get("recommended"):
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                tip = row.get("advice") or row.get("note") or row.get("path") or text
                if COLUMNS[c] == "FLOPs" and row.get("flops") is not None:
                    tip = f"{row['flops']:,} floating-point operations per sample (2 per multiply-add), counted on the model this file came from."
                elif COLUMNS[c] == "ms/sample" and row.get("latency_ms") is not None:
                    tip = "Measured while verifying: mean time per test sample (TFLite files one sample at a time)."
                item.setToolTip(tip)
                self.table.setItem(r, c, item)
        self.table.setVisible(bool(rows))
        self._fit_table_height()

    def _fit_table_height(self) -> None:
        self.table.resizeRowsToContents()
        header = self.table.horizontalHeader()
        height = max(header.height(), header.sizeHint().height()) + 2 * self.table.frameWidth()
        height += sum(self.table.rowHeight(r) for r in range(self.table.rowCount()))
        self.table.setFixedHeight(height)

    def set_scale(self, scale: float) -> None:
        """Presentation mode: cards, table and charts ``scale`` times larger."""
        self.scale = scale
        for card in self.cards:
            card.set_scale(scale)
        self._fit_cards()
        font = QFont(self.font())
        if scale != 1.0 and font.pointSizeF() > 0:
            font.setPointSizeF(font.pointSizeF() * scale)
        self.table.setFont(font)
        self.table.horizontalHeader().setFont(font)
        for name in PRESENTATION_HIDDEN:
            self.table.setColumnHidden(COLUMNS.index(name), scale != 1.0)
        self.table.horizontalHeader().resizeSections(QHeaderView.ResizeMode.ResizeToContents)
        self.heading.setFont(font)
        for chart in (self.size_chart.chart, self.scatter.chart):
            tick = QFont(font)
            for axis in ("left", "bottom"):
                chart.getAxis(axis).setStyle(tickFont=tick)
            chart.getPlotItem().titleLabel.setText(chart.getPlotItem().titleLabel.text, size=f"{11 * scale:.0f}pt")
        if self.report is not None:
            self._fit_table_height()

    def is_empty(self) -> bool:
        return self.report is None

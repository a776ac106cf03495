"""Edit the pruning schedule of the selected layer(s), with a live preview curve.

Fields speak plain words ("Start at 50% zeros, reach 80% by step 1,000"). Invalid
combinations are shown at the field (red border and a sentence under the form), never
raised. The preview asks the engine's :func:`~prune_studio.pruning.schedules.sparsity_curve`
for the target over the run and marks where training ends.
"""

from __future__ import annotations

import logging
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from prune_studio.ui.empty_state import EmptyState
from prune_studio.ui.theme import show_grid

log = logging.getLogger(__name__)
POLYNOMIAL, CONSTANT = "PolynomialDecay", "ConstantSparsity"
MAX_STEP = 10_000_000


def _percent_box(tip: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(0.0, 99.9)
    box.setDecimals(1)
    box.setSuffix(" %")
    box.setSingleStep(5.0)
    box.setToolTip(tip)
    return box


def _step_box(tip: str, minimum: int = 0) -> QSpinBox:
    box = QSpinBox()
    box.setRange(minimum, MAX_STEP)
    box.setGroupSeparatorShown(True)
    box.setToolTip(tip)
    return box


class ScheduleEditor(QWidget):
    """Form plus preview for one schedule; applies to every selected layer at once.

    Signals:
        edited(dict): a valid edit, as ``{"schedule": PruningSchedule, "block_size": (h, w),
            "block_pooling_type": str, "sparsity_m_by_n": (2, 4) | None}``.
    """

    edited = Signal(dict)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._total_steps = 0
        self._loading = False
        self.errors: dict[str, str] = {}
        self.heading = QLabel("Select a layer to edit its schedule.")
        self.heading.setWordWrap(True)
        self.kind = QComboBox()
        self.kind.addItem("Ramp up (polynomial decay)", POLYNOMIAL)
        self.kind.addItem("Constant", CONSTANT)
        self.kind.setToolTip("Ramp up: zeros grow from the start share to the target.\nConstant: prune to the target at every update.")
        self.initial = _percent_box("Share of weights set to zero when pruning begins.")
        self.final = _percent_box("Share of weights that are zero at the end of the ramp (the target).")
        self.begin = _step_box("Training step at which pruning starts.")
        self.end = _step_box("Training step by which the target is reached (Constant: -1 = until training ends).", -1)
        self.end.setSpecialValueText("end of training")
        self.power = QDoubleSpinBox()
        self.power.setRange(0.1, 10.0)
        self.power.setSingleStep(0.5)
        self.power.setToolTip("Shape of the ramp: 3 prunes fast early and slowly near the target; 1 is a straight line.")
        self.frequency = _step_box("Update the zeros every this many training steps.", 1)
        self.frequency.setSuffix(" steps")
        self.block_h, self.block_w = _step_box("Block height", 1), _step_box("Block width", 1)
        for box in (self.block_h, self.block_w):
            box.setMaximum(64)
        self.pooling = QComboBox()
        self.pooling.addItems(["AVG", "MAX"])
        self.block_h.setToolTip("Prune whole blocks of this many rows × columns (1 × 1: single weights).")
        self.pooling.setToolTip("How a block's weights are summarised to decide whether the whole block is zeroed.")
        self.m_by_n = QCheckBox("2:4 pattern (for sparse hardware)")
        self.m_by_n.setToolTip("Structured 2:4 sparsity: two zeros in every four weights (exactly 50%); ignores the target.")

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        form.addRow("Schedule", self.kind)
        form.addRow("Start at (zeros)", self.initial)
        form.addRow("Reach (zeros)", self.final)
        form.addRow("Begin at step", self.begin)
        form.addRow("Reach target by step", self.end)
        more = QFormLayout()
        more.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        more.addRow("Ramp shape", self.power)
        more.addRow("Update every", self.frequency)
        blocks = QHBoxLayout()
        blocks.addWidget(self.block_h)
        blocks.addWidget(QLabel("×"))
        blocks.addWidget(self.block_w)
        blocks.addWidget(self.pooling)
        blocks.addStretch(1)
        more.addRow("Blocks", blocks)
        more.addRow(self.m_by_n)
        # The fields sit in a widget of their own, disabled while no prunable layer is chosen;
        # the plots below (and the weights view the window adds) stay usable meanwhile.
        self.fields = QWidget()
        columns = QHBoxLayout(self.fields)
        columns.setContentsMargins(0, 0, 0, 0)
        columns.addLayout(form)
        columns.addSpacing(16)
        columns.addLayout(more)
        columns.addStretch(1)
        self._form = form
        self.sentence = QLabel()
        self.sentence.setWordWrap(True)
        self.error_label = QLabel()
        self.error_label.setObjectName("fieldError")
        self.error_label.setWordWrap(True)
        self.preview = pg.PlotWidget()
        self.preview.setMinimumHeight(160)
        plot = self.preview.getPlotItem()
        plot.setTitle("Target zeros over training")
        plot.setLabel("bottom", "step")
        show_grid(plot, x=True, y=True, alpha=0.25)
        plot.setYRange(0, 1, padding=0.02)
        plot.setMenuEnabled(False)
        self.preview_curve = plot.plot([], [], pen=pg.mkPen("#2f6fd6", width=2.5))
        self.end_line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#d93025", width=1.5, style=Qt.PenStyle.DashLine), label="training ends", labelOpts={"position": 0.9})
        plot.addItem(self.end_line)
        self.end_line.setVisible(False)  # drawn with a preview: nothing ends in an empty chart
        self.preview_empty = EmptyState(plot, "Select a pruned layer to see how its zeros grow")

        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.fields)
        layout.addWidget(self.sentence)
        layout.addWidget(self.error_label)
        self.plots = QHBoxLayout()
        self.plots.addWidget(self.preview, 1)
        layout.addLayout(self.plots, 1)
        for box in (self.initial, self.final, self.power):
            box.valueChanged.connect(self._changed)
        for box in (self.begin, self.end, self.frequency, self.block_h, self.block_w):
            box.valueChanged.connect(self._changed)
        self.kind.currentIndexChanged.connect(self._changed)
        self.pooling.currentIndexChanged.connect(self._changed)
        self.m_by_n.toggled.connect(self._changed)
        self.fields.setEnabled(False)

    # --- loading -------------------------------------------------------------------------
    @property
    def editing(self) -> bool:
        """True while a prunable layer's schedule is loaded for editing."""
        return self.fields.isEnabled()

    def set_total_steps(self, total: int) -> None:
        """The run's length, marked on the preview."""
        self._total_steps = int(total)
        self._update_preview()

    def load(self, layer_plan: Any, names: list[str]) -> None:
        """Show ``layer_plan`` (the first selected layer's) for editing ``names``."""
        self.fields.setEnabled(layer_plan is not None)
        if layer_plan is None:
            self.heading.setText("Select a prunable layer to edit its schedule.")
            self._update_preview()
            return
        self.heading.setText(
            f"Schedule for <b>{names[0]}</b>" if len(names) == 1 else f"Schedule for <b>{len(names)} layers</b> ({', '.join(names[:4])}{'…' if len(names) > 4 else ''})"
        )
        config = layer_plan.schedule.get_config()
        config = config.get("config", config)
        constant = "target_sparsity" in config
        self._loading = True
        try:
            self.kind.setCurrentIndex(1 if constant else 0)
            self.initial.setValue(100 * config.get("initial_sparsity", 0.0))
            self.final.setValue(100 * config.get("target_sparsity", config.get("final_sparsity", 0.0)))
            self.begin.setValue(int(config.get("begin_step", 0)))
            self.end.setValue(int(config.get("end_step", -1)))
            self.power.setValue(float(config.get("power", 3)))
            self.frequency.setValue(int(config.get("frequency", 100)))
            block = tuple(layer_plan.block_size or (1, 1))
            self.block_h.setValue(block[0])
            self.block_w.setValue(block[1])
            self.pooling.setCurrentText(layer_plan.block_pooling_type or "AVG")
            self.m_by_n.setChecked(bool(layer_plan.sparsity_m_by_n))
        finally:
            self._loading = False
        self._refresh(emit=False)

    # --- editing -------------------------------------------------------------------------
    def _changed(self, *_args) -> None:
        if not self._loading:
            self._refresh(emit=True)

    def _field_errors(self) -> dict[QWidget, str]:
        constant = self.kind.currentData() == CONSTANT
        begin, end = self.begin.value(), self.end.value()
        errors: dict[QWidget, str] = {}
        if not constant and end <= begin:
            errors[self.end] = f"'Reach target by step' ({end:,}) must come after 'Begin at step' ({begin:,})."
        elif constant and end != -1 and end < begin:
            errors[self.end] = f"The last pruning step ({end:,}) must not come before 'Begin at step' ({begin:,}), or choose 'end of training'."
        if not constant and self.final.value() < self.initial.value():
            errors[self.final] = f"The target ({self.final.value():.1f}%) must be at least the starting share ({self.initial.value():.1f}%)."
        blocks = (self.block_h.value(), self.block_w.value()) != (1, 1)
        if self.m_by_n.isChecked() and blocks:
            errors[self.block_h] = "2:4 sparsity works on single weights: set the block size back to 1 × 1."
        return errors

    def _refresh(self, emit: bool) -> None:
        constant = self.kind.currentData() == CONSTANT
        self.initial.setEnabled(not constant)
        self.power.setEnabled(not constant)
        self._form.labelForField(self.final).setText("Prune to (zeros)" if constant else "Reach (zeros)")
        self.end.setMinimum(-1 if constant else 0)
        errors = self._field_errors()
        schedule = None
        if not errors:
            try:
                schedule = self.build_schedule()
            except (ValueError, TypeError) as exc:  # the engine's own checks
                errors[self.kind] = f"This schedule is not valid: {exc}"
            except ImportError:
                log.debug("pruning engine not available yet")
        for widget in (self.kind, self.final, self.end, self.block_h):
            widget.setProperty("invalid", widget in errors)
            widget.style().unpolish(widget)
            widget.style().polish(widget)
        self.errors = {w.objectName() or type(w).__name__: m for w, m in errors.items()}
        self.error_label.setText("\n".join(errors.values()))
        self.sentence.setText(self._describe())
        self._update_preview(schedule)
        if emit and schedule is not None:
            self.edited.emit(self.values(schedule))

    def values(self, schedule: Any) -> dict:
        return {
            "schedule": schedule,
            "block_size": (self.block_h.value(), self.block_w.value()),
            "block_pooling_type": self.pooling.currentText(),
            "sparsity_m_by_n": (2, 4) if self.m_by_n.isChecked() else None,
        }

    def build_schedule(self):
        """The engine schedule for the current fields (raises ValueError when invalid)."""
        from prune_studio.pruning import schedules

        final = self.final.value() / 100
        if self.kind.currentData() == CONSTANT:
            return schedules.ConstantSparsity(final, self.begin.value(), self.end.value(), self.frequency.value())
        return schedules.PolynomialDecay(
            self.initial.value() / 100, final, self.begin.value(), self.end.value(), self.power.value(), self.frequency.value()
        )

    def _describe(self) -> str:
        every = f"updating every {self.frequency.value():,} steps"
        if self.m_by_n.isChecked():
            return f"Keep 2 of every 4 weights (50% zeros) from step {self.begin.value():,}, {every}."
        if self.kind.currentData() == CONSTANT:
            until = "the end of training" if self.end.value() < 0 else f"step {self.end.value():,}"
            return f"Keep {self.final.value():.0f}% of weights at zero from step {self.begin.value():,} until {until}, {every}."
        return (
            f"Start at {self.initial.value():.0f}% zeros at step {self.begin.value():,}, "
            f"reach {self.final.value():.0f}% by step {self.end.value():,}, {every}."
        )

    def _update_preview(self, schedule: Any = None) -> None:
        if schedule is None and self.editing and not self.errors:
            try:
                schedule = self.build_schedule()
            except (ValueError, TypeError, ImportError):
                schedule = None
        total = max(self._total_steps, 1)
        self.end_line.setValue(self._total_steps)
        self.end_line.setVisible(self._total_steps > 0)
        if schedule is None:
            self.preview_curve.setData([], [])
            self.end_line.setVisible(False)
            self.preview_empty.set_empty(True)
            return
        self.preview_empty.set_empty(False)
        from prune_studio.pruning.schedules import sparsity_curve

        span = max(total, self.end.value(), self.begin.value()) + max(1, total // 10)
        steps, values = sparsity_curve(schedule, span)
        self.preview_curve.setData(steps, values)

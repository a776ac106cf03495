"""Data and training settings, with the schedule length kept consistent with training.

Shows how many steps a run has ("prune over 2 epochs = 82 steps") from the data's size and
the batch size, using the training package's own step arithmetic, and tells the window
whenever that number changes so schedules can follow it.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from prune_studio.training.settings import OPTIMIZERS, TrainingSettings, steps_per_epoch

DATA_KINDS = [
    ("digits", "Built-in digits sample"),
    ("npz", "NumPy .npz file (x_train, y_train, x_test, y_test)"),
    ("folder", "Image folder (one sub-folder per class)"),
    ("csv", "CSV file (last column is the label)"),
]


class SettingsPanel(QWidget):
    """Data source plus training settings.

    Signals:
        dataRequested(dict): the user asked to load the data spec ``{"kind", "path", "options"}``.
        changed(): any training setting or the pruning length changed.
    """

    dataRequested = Signal(dict)
    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._num_train = 0
        self.kind = QComboBox()
        for kind, label in DATA_KINDS:
            self.kind.addItem(label, kind)
        self.path = QLineEdit()
        self.path.setPlaceholderText("file or folder (not needed for the digits sample)")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.load_button = QPushButton("Load data")
        self.load_button.setToolTip("Load the data set and check it against the model.")
        self.load_button.clicked.connect(lambda: self.dataRequested.emit(self.data_spec()))
        self.data_info = QLabel("No data loaded.")
        self.data_info.setWordWrap(True)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path, 1)
        path_row.addWidget(browse)
        data_box = QGroupBox("Data")
        data_form = QFormLayout(data_box)
        data_form.addRow("Source", self.kind)
        data_form.addRow("Location", path_row)
        data_form.addRow("", self.load_button)
        data_form.addRow(self.data_info)

        self.epochs = QSpinBox()
        self.epochs.setRange(1, 10_000)
        self.epochs.setToolTip("How many passes over the training data the fine-tune makes.")
        self.batch = QSpinBox()
        self.batch.setRange(1, 65_536)
        self.batch.setToolTip("Samples per training step; smaller batches mean more steps.")
        self.optimizer = QComboBox()
        self.optimizer.addItems(list(OPTIMIZERS))
        self.learning_rate = QDoubleSpinBox()
        self.learning_rate.setDecimals(6)
        self.learning_rate.setRange(1e-6, 1.0)
        self.learning_rate.setSingleStep(1e-4)
        self.learning_rate.setToolTip("Size of each weight update; fine-tuning usually needs a small one (0.001 or less).")
        self.validation = QDoubleSpinBox()
        self.validation.setRange(0, 90)
        self.validation.setSuffix(" %")
        self.validation.setToolTip("Share of the training data held out to check progress after each epoch.")
        self.prune_epochs = QSpinBox()
        self.prune_epochs.setRange(1, 10_000)
        self.prune_epochs.setToolTip("Schedules reach their target after this many epochs; the rest of the run lets accuracy recover.")
        self.steps_info = QLabel()
        self.steps_info.setObjectName("stepsInfo")
        self.steps_info.setWordWrap(True)
        train_box = QGroupBox("Training")
        form = QFormLayout(train_box)
        form.addRow("Epochs", self.epochs)
        form.addRow("Batch size", self.batch)
        form.addRow("Optimizer", self.optimizer)
        form.addRow("Learning rate", self.learning_rate)
        form.addRow("Validation share", self.validation)
        form.addRow("Reach targets after (epochs)", self.prune_epochs)
        form.addRow(self.steps_info)

        layout = QVBoxLayout(self)
        layout.addWidget(data_box)
        layout.addWidget(train_box)
        layout.addStretch(1)
        self.set_training_settings(TrainingSettings())
        for box in (self.epochs, self.batch, self.prune_epochs):
            box.valueChanged.connect(self._on_changed)
        self.learning_rate.valueChanged.connect(self._on_changed)
        self.validation.valueChanged.connect(self._on_changed)
        self.optimizer.currentIndexChanged.connect(self._on_changed)

    # --- values --------------------------------------------------------------------------
    def training_settings(self) -> TrainingSettings:
        return TrainingSettings(
            epochs=self.epochs.value(),
            batch_size=self.batch.value(),
            optimizer=self.optimizer.currentText(),
            learning_rate=self.learning_rate.value(),
            validation_split=round(self.validation.value() / 100, 4),
        )

    def set_training_settings(self, settings: TrainingSettings) -> None:
        widgets = (self.epochs, self.batch, self.optimizer, self.learning_rate, self.validation, self.prune_epochs)
        for w in widgets:
            w.blockSignals(True)
        self.epochs.setValue(settings.epochs)
        self.batch.setValue(settings.batch_size)
        self.optimizer.setCurrentText(settings.optimizer)
        self.learning_rate.setValue(settings.learning_rate)
        self.validation.setValue(settings.validation_split * 100)
        self.prune_epochs.setMaximum(settings.epochs)
        self.prune_epochs.setValue(settings.epochs)
        for w in widgets:
            w.blockSignals(False)
        self._update_info()

    def data_spec(self) -> dict:
        path = self.path.text().strip() or None
        return {"kind": self.kind.currentData(), "path": path, "options": {}}

    def set_data_spec(self, spec: dict) -> None:
        index = self.kind.findData(spec.get("kind"))
        if index >= 0:
            self.kind.setCurrentIndex(index)
        self.path.setText(spec.get("path") or "")

    def set_data_info(self, text: str, num_train: int) -> None:
        self.data_info.setText(text)
        self._num_train = num_train
        self._update_info()

    def steps_per_epoch(self) -> int:
        return steps_per_epoch(self.training_settings(), self._num_train) if self._num_train else 0

    def total_steps(self) -> int:
        return self.steps_per_epoch() * self.epochs.value()

    def prune_end_step(self) -> int:
        """The step by which schedules should reach their target."""
        return self.steps_per_epoch() * self.prune_epochs.value()

    def set_prune_end_step(self, end_step: int) -> None:
        """Show the pruning length of loaded schedules (rounded to whole epochs), silently."""
        per_epoch = self.steps_per_epoch()
        if per_epoch and end_step > 0:
            self.prune_epochs.blockSignals(True)
            self.prune_epochs.setValue(max(1, round(end_step / per_epoch)))
            self.prune_epochs.blockSignals(False)
            self._update_info()

    # --- internals -----------------------------------------------------------------------
    def _on_changed(self, *_args) -> None:
        self.prune_epochs.setMaximum(self.epochs.value())
        self._update_info()
        self.changed.emit()

    def _update_info(self) -> None:
        per_epoch = self.steps_per_epoch()
        if not per_epoch:
            self.steps_info.setText("Load data to see how many steps a run has.")
            return
        n = self.prune_epochs.value()
        self.steps_info.setText(
            f"{per_epoch:,} steps per epoch · training {self.epochs.value()} epochs = {self.total_steps():,} steps · "
            f"prune over {n} epoch{'s' if n != 1 else ''} = {self.prune_end_step():,} steps"
        )

    def _browse(self) -> None:
        if self.kind.currentData() == "folder":
            path = QFileDialog.getExistingDirectory(self, "Choose an image folder")
        else:
            path, _ = QFileDialog.getOpenFileName(self, "Choose a data file", "", "Data (*.npz *.csv);;All files (*)")
        if path:
            self.path.setText(path)

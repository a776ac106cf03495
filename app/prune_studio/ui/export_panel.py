"""The Export panel: choose what to write, run the export in the background, compare results.

The panel adapts :func:`prune_studio.export.export_all` (core, no Qt). The window gives it a
context with :meth:`ExportPanel.set_context`; the export itself runs in a
:class:`~prune_studio.ui.worker.Worker` so the window stays responsive, and the panel shows
baseline and artifacts side by side in a table and a size bar chart.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

import pyqtgraph as pg
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from prune_studio.errors import PruneStudioError
from prune_studio.export.html_report import TABLE_HEADERS, table_cells, write_html_report
from prune_studio.export.report import ExportReport
from prune_studio.export.settings import TFLITE_KINDS, ExportSettings
from prune_studio.training.control import RunControl
from prune_studio.ui.empty_state import EmptyState
from prune_studio.ui.table_fill import columns_fixed
from prune_studio.ui.theme import CHART_COLOURS, KEEP_COLOURS, show_grid
from prune_studio.ui.user_settings import app_settings, export_folder_for, remember_export_folder
from prune_studio.ui.worker import Worker

#: Check boxes for the artifact kinds: (key, label, checked by default).
_KINDS = (
    ("keras", "Keras model (.keras)", True),
    ("h5", "Keras HDF5 (.h5)", False),
    ("float32", "TFLite float32", True),
    ("dynamic", "TFLite dynamic-range int8", True),
    ("float16", "TFLite float16", False),
    ("int8", "TFLite full-integer int8", True),
)
_INT8_IO = (("float", "Float input and output (easiest to use)"), ("int8", "int8 input and output (microcontrollers)"))
#: The size chart's text and axes: the light theme's ink, as the chart stays white in both.
_CHART_INK = CHART_COLOURS["light"]["fg"]


def _task(model, dataset, out_dir, settings, baseline_path, baseline_model, overwrite, control, report):
    """Runs in the worker thread: TensorFlow is imported here, not when the window opens."""
    from pathlib import Path

    from prune_studio.export.exporter import export_all
    from prune_studio.structured.report import cost_report

    result = export_all(model, dataset, out_dir, settings, baseline_path=baseline_path,
                        baseline_model=baseline_model, overwrite=overwrite,
                        progress=lambda f, t: report((f, t)), control=control)
    # FLOPs per sample of the opened and the exported model, for the result view (as the CLI's report.json)
    try:
        result.cost = cost_report(baseline_model if baseline_model is not None else model, model)
    except Exception:  # noqa: BLE001 - the files are written and verified; FLOPs are extra
        logging.getLogger(__name__).warning("Could not count the FLOPs of the exported model", exc_info=True)
        return result
    result.write_json(Path(out_dir) / "report.json")
    return result


def error_sentence(exc: BaseException) -> str:
    """A user-facing sentence for ``exc``: its own message when it is ours."""
    if isinstance(exc, PruneStudioError):
        return str(exc)
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"The export failed unexpectedly ({type(exc).__name__}: {first}); details are in the log."


class ExportPanel(QWidget):
    """Export settings, a background export with progress, and the comparison of results.

    Signals:
        exportFinished(object): the :class:`~prune_studio.export.ExportReport` of a run.
    """

    exportFinished = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._get_model: Callable[[], Any] | None = None
        self._dataset = None
        self._baseline_path: str | None = None
        self._baseline_model = None
        self._worker: Worker | None = None
        self._control: RunControl | None = None
        self.report: ExportReport | None = None
        self.confirm_box: QMessageBox | None = None
        self._default_folder = ""
        self._build()
        self._update_enabled()

    # ----- construction -------------------------------------------------------------------
    def _build(self) -> None:
        settings_box = QGroupBox("What to export")
        form = QVBoxLayout(settings_box)
        folder_row = QHBoxLayout()
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("Choose an output folder")
        self.folder_edit.textChanged.connect(self._update_enabled)
        self.browse_button = QPushButton("Choose…")
        self.browse_button.clicked.connect(self._choose_folder)
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(self.browse_button)
        form.addWidget(QLabel("Output folder"))
        form.addLayout(folder_row)
        self.kind_boxes: dict[str, QCheckBox] = {}
        for key, label, default in _KINDS:
            box = QCheckBox(label)
            box.setChecked(default)
            box.toggled.connect(self._update_enabled)
            self.kind_boxes[key] = box
            form.addWidget(box)
        options = QFormLayout()
        self.int8_io_combo = QComboBox()
        for key, label in _INT8_IO:
            self.int8_io_combo.addItem(label, key)
        options.addRow("int8 model I/O", self.int8_io_combo)
        form.addLayout(options)
        self.sparse_box = QCheckBox("Also write sparse-encoded TFLite copies")
        self.sparse_box.setToolTip("Stores mostly-zero weights compactly; some runtimes run these "
                                   "files only without the XNNPack delegate.")
        form.addWidget(self.sparse_box)
        buttons = QHBoxLayout()
        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.start_export)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop_export)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.stop_button)
        form.addLayout(buttons)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 100)
        self.status_label = QLabel("Open a model and a data set, then choose a folder.")
        self.status_label.setWordWrap(True)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b00020;")
        self.error_label.hide()
        form.addWidget(self.progress_bar)
        form.addWidget(self.status_label)
        form.addWidget(self.error_label)
        form.addStretch(1)
        settings_box.setFixedWidth(340)

        self.table = QTableWidget(0, len(TABLE_HEADERS))
        self.table.setHorizontalHeaderLabels(list(TABLE_HEADERS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)

        # White in both themes: the chart is saved as PNG and into the HTML report as it looks.
        self.chart = pg.PlotWidget(background="w")
        self.chart.setProperty(KEEP_COLOURS, True)
        self.chart.setTitle("File size (KB): on disk and gzipped", color=_CHART_INK)
        show_grid(self.chart, x=True, alpha=0.3)
        self.chart.setMouseEnabled(x=False, y=False)
        self.chart.hideButtons()
        self.chart.addLegend(offset=(-10, -10), labelTextColor=_CHART_INK)
        for axis in ("left", "bottom"):
            self.chart.getAxis(axis).setPen(_CHART_INK)
            self.chart.getAxis(axis).setTextPen(_CHART_INK)
        self._raw_bars = pg.BarGraphItem(x0=[], y=[], width=[], height=0.38, brush="#b9d3ea", name="on disk")
        self._gzip_bars = pg.BarGraphItem(x0=[], y=[], width=[], height=0.38, brush="#2b7bb9", name="gzipped")
        self.chart.addItem(self._raw_bars)
        self.chart.addItem(self._gzip_bars)
        self.chart.getPlotItem().invertY(True)
        self.chart.getAxis("left").setWidth(190)
        self.chart_empty = EmptyState(self.chart.getPlotItem(), "Export to compare the files' sizes here.")
        self.chart.getPlotItem().legend.setVisible(False)

        result_buttons = QHBoxLayout()
        self.copy_button = QPushButton("Copy as CSV")
        self.copy_button.clicked.connect(self.copy_csv)
        self.png_button = QPushButton("Save chart as PNG…")
        self.png_button.clicked.connect(self._save_png_dialog)
        self.html_button = QPushButton("Save HTML report…")
        self.html_button.clicked.connect(self._save_html_dialog)
        result_buttons.addStretch(1)
        for b in (self.copy_button, self.png_button, self.html_button):
            result_buttons.addWidget(b)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.chart)
        splitter.setSizes([320, 320])
        results = QVBoxLayout()
        results.addWidget(splitter, 1)
        results.addLayout(result_buttons)
        layout = QHBoxLayout(self)
        layout.addWidget(settings_box)
        layout.addLayout(results, 1)

    # ----- context and settings -----------------------------------------------------------
    def set_context(self, get_model: Callable[[], Any], dataset, baseline_path, baseline_model=None,
                    settings: dict | None = None) -> None:
        """Tell the panel what to export.

        Args:
            get_model: returns the tf-keras model to export (wrapped or stripped), called when
                the user presses Export.
            dataset: the loaded :class:`prune_studio.data.Dataset`.
            baseline_path: the opened model file (never overwritten; its size is the baseline).
            baseline_model: the model as opened, for the baseline accuracy.
            settings: an :meth:`ExportSettings.to_dict` to preset the controls.
        """
        self._get_model, self._dataset = get_model, dataset
        self._baseline_path = str(baseline_path) if baseline_path else None
        self._baseline_model = baseline_model
        if settings is not None:
            self.apply_settings(ExportSettings.from_dict(settings))
        if self._baseline_path and self.folder_edit.text() in ("", self._default_folder):
            self._default_folder = str(export_folder_for(app_settings(), self._baseline_path))
            self.folder_edit.setText(self._default_folder)
        self.status_label.setText("Ready to export.")
        self._update_enabled()

    def apply_settings(self, settings: ExportSettings) -> None:
        """Set the controls from ``settings``."""
        self.kind_boxes["keras"].setChecked(settings.keras)
        self.kind_boxes["h5"].setChecked(settings.h5)
        for kind in TFLITE_KINDS:
            self.kind_boxes[kind].setChecked(kind in settings.tflite)
        self.int8_io_combo.setCurrentIndex(self.int8_io_combo.findData(settings.int8_io))
        self.sparse_box.setChecked(settings.sparse)

    def settings(self) -> ExportSettings:
        """The :class:`ExportSettings` the controls describe."""
        return ExportSettings(
            keras=self.kind_boxes["keras"].isChecked(),
            h5=self.kind_boxes["h5"].isChecked(),
            tflite=tuple(k for k in TFLITE_KINDS if self.kind_boxes[k].isChecked()),
            int8_io=self.int8_io_combo.currentData(),
            sparse=self.sparse_box.isChecked(),
        )

    def is_running(self) -> bool:
        return self._worker is not None

    def _update_enabled(self) -> None:
        running = self.is_running()
        anything = any(b.isChecked() for b in self.kind_boxes.values())
        ready = self._get_model is not None and self._dataset is not None
        self.export_button.setEnabled(ready and anything and bool(self.folder_edit.text().strip()) and not running)
        self.stop_button.setEnabled(running)
        for w in (*self.kind_boxes.values(), self.int8_io_combo, self.sparse_box, self.folder_edit, self.browse_button):
            w.setEnabled(not running)
        self.int8_io_combo.setEnabled(not running and self.kind_boxes["int8"].isChecked())
        has_report = self.report is not None
        for b in (self.copy_button, self.png_button, self.html_button):
            b.setEnabled(has_report)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    # ----- running ------------------------------------------------------------------------
    def start_export(self) -> None:
        """Start the export; asks first when it would replace files."""
        if self.is_running() or self._get_model is None:
            return
        self._show_error("")
        out_dir = self.folder_edit.text().strip()
        try:
            settings = self.settings()
        except PruneStudioError as exc:
            self._show_error(str(exc))
            return
        from prune_studio.export.targets import target_paths

        if self._baseline_path:
            remember_export_folder(app_settings(), self._baseline_path, out_dir)
            self._default_folder = out_dir
        existing = [p for p in target_paths(out_dir, settings) if p.exists()]
        if not existing:
            self._launch(out_dir, settings, overwrite=False)
            return
        names = "\n".join(p.name for p in existing[:8]) + ("\n…" if len(existing) > 8 else "")
        box = QMessageBox(QMessageBox.Icon.Question, "Replace files?",
                          f"{len(existing)} file(s) in {out_dir} will be replaced:\n{names}",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, self)
        box.button(QMessageBox.StandardButton.Yes).setText("Replace")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.finished.connect(lambda result: self._confirmed(result, out_dir, settings))
        self.confirm_box = box
        box.open()

    def _confirmed(self, result: int, out_dir: str, settings: ExportSettings) -> None:
        self.confirm_box = None
        if result == QMessageBox.StandardButton.Yes:
            self._launch(out_dir, settings, overwrite=True)
        else:
            self.status_label.setText("Export cancelled; no file was replaced.")

    def _launch(self, out_dir: str, settings: ExportSettings, overwrite: bool) -> None:
        try:
            model = self._get_model()
        except Exception as exc:  # noqa: BLE001 - shown as a sentence, never a traceback
            self._show_error(error_sentence(exc))
            return
        if model is None:
            self._show_error("There is no model to export yet; open a model first.")
            return
        self._control = RunControl()
        self._worker = Worker(_task, model, self._dataset, out_dir, settings, self._baseline_path,
                              self._baseline_model, overwrite, self._control)
        self._worker.progress.connect(self._on_progress)
        self._worker.returned.connect(self._on_returned)
        self._worker.errored.connect(self._on_errored)
        self._worker.done.connect(self._on_done)
        self.progress_bar.setValue(0)
        self.status_label.setText("Starting the export…")
        self._worker.start()
        self._update_enabled()

    def stop_export(self) -> None:
        """Stop after the artifact being written."""
        if self._control is not None:
            self._control.stop()
            self.status_label.setText("Stopping after the current file…")

    def _on_progress(self, value) -> None:
        fraction, text = value
        self.progress_bar.setValue(round(100 * fraction))
        self.status_label.setText(text)

    def _on_returned(self, report: ExportReport) -> None:
        self.show_report(report)
        failed = [a.name for a in report.artifacts if not a.ok]
        done = "Stopped" if report.stopped else "Done"
        msg = f"{done}: {len(report.ok_artifacts())} file(s) written and verified in {report.out_dir}."
        if failed:
            msg += f" {len(failed)} could not be verified: {', '.join(failed)}."
        self.status_label.setText(msg)
        self.exportFinished.emit(report)

    def _on_errored(self, exc: BaseException) -> None:
        self.status_label.setText("The export did not finish.")
        self._show_error(error_sentence(exc))

    def _on_done(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.wait()
            worker.deleteLater()
        self._control = None
        self._update_enabled()

    def _show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.setVisible(bool(text))

    def shutdown(self, timeout_ms: int = 60000) -> None:
        """Stop a running export and wait for its thread (call before the window closes)."""
        if self._worker is not None:
            self.stop_export()
            self._worker.wait(timeout_ms)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt name
        self.shutdown()
        super().closeEvent(event)

    # ----- results ------------------------------------------------------------------------
    def show_report(self, report: ExportReport) -> None:
        """Fill the table and the chart from ``report``."""
        self.report = report
        rows = report.rows()
        self.table.setRowCount(len(rows))
        with columns_fixed(self.table):
            self._fill_table(rows)
        sized = [row for row in rows if row.get("bytes")]
        ys = list(range(len(sized)))
        self._raw_bars.setOpts(x0=[0] * len(ys), y=[y - 0.2 for y in ys], width=[row["bytes"] / 1000 for row in sized])
        self._gzip_bars.setOpts(x0=[0] * len(ys), y=[y + 0.2 for y in ys],
                                width=[(row.get("gzip_bytes") or 0) / 1000 for row in sized])
        self.chart.getAxis("left").setTicks([[(y, _short(row["name"])) for y, row in zip(ys, sized)]])
        self.chart.setYRange(-0.7, max(0, len(ys) - 0.3), padding=0)
        self.chart.enableAutoRange(axis="x")
        self.chart_empty.set_empty(not sized)
        self.chart.getPlotItem().legend.setVisible(bool(sized))
        self._update_enabled()

    def _fill_table(self, rows: list[dict]) -> None:
        for r, row in enumerate(rows):
            for c, text in enumerate(table_cells(row)):
                item = QTableWidgetItem(text)
                if 0 < c < len(TABLE_HEADERS) - 1:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if not row.get("ok"):
                    item.setForeground(QColor("#b00020"))
                if c == len(TABLE_HEADERS) - 1 or c == 0:
                    item.setToolTip(row.get("path") or text)
                self.table.setItem(r, c, item)

    def chart_png(self) -> bytes:
        """The size chart rendered as PNG bytes."""
        data = QByteArray()
        buf = QBuffer(data)
        buf.open(QIODevice.OpenModeFlag.WriteOnly)
        self.chart.grab().save(buf, "PNG")
        buf.close()
        return bytes(data)

    def copy_csv(self) -> None:
        """Put the comparison table on the clipboard as CSV."""
        if self.report is not None:
            QGuiApplication.clipboard().setText(self.report.to_csv())
            self.status_label.setText("The table was copied as CSV.")

    def save_chart_png(self, path: str | Path) -> None:
        """Write the size chart as a PNG file."""
        Path(path).write_bytes(self.chart_png())

    def save_html(self, path: str | Path) -> None:
        """Write the HTML report of the last export, with the chart embedded."""
        if self.report is not None:
            write_html_report(self.report, path, extra_images={"File sizes": self.chart_png()})

    def _save_png_dialog(self) -> None:
        self._save_with_dialog("Save chart as PNG", "export_sizes.png", "PNG image (*.png)", self.save_chart_png)

    def _save_html_dialog(self) -> None:
        self._save_with_dialog("Save HTML report", "export_report.html", "HTML (*.html)", self.save_html)

    def _save_with_dialog(self, title: str, name: str, filters: str, save: Callable[[str], None]) -> None:
        start = str(Path(self.report.out_dir) / name) if self.report else name
        path, _ = QFileDialog.getSaveFileName(self, title, start, filters)
        if not path:
            return
        try:
            save(path)
        except OSError as exc:
            self._show_error(f"Could not write {path} ({exc.strerror or exc}); choose another place.")
        else:
            self.status_label.setText(f"Saved {path}.")


def _short(name: str, limit: int = 26) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"

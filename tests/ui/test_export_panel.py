"""Drive the Export panel through real exports in the background, with the real widgets."""

import csv
import io

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMessageBox

from prune_studio.compat import keras
from prune_studio.export import ExportSettings
from prune_studio.ui.export_panel import ExportPanel


@pytest.fixture(scope="module")
def dataset(digits_dataset):
    return digits_dataset


@pytest.fixture(scope="module")
def model(dataset):
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.layers.Input((8, 8, 1)), keras.layers.Flatten(),
                          keras.layers.Dense(16, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy")
    m.fit(dataset.x_train, dataset.y_train, epochs=2, verbose=0)
    return m


@pytest.fixture
def panel(qtbot, model, dataset, tmp_path):
    opened = tmp_path / "opened.keras"
    model.save(opened)
    p = ExportPanel()
    qtbot.addWidget(p)
    p.resize(1280, 800)
    p.show()
    p.set_context(lambda: model, dataset, opened, baseline_model=model,
                  settings=ExportSettings(keras=False, h5=False, tflite=("float32", "dynamic"), sparse=False).to_dict())
    p.folder_edit.setText(str(tmp_path / "out"))
    yield p
    p.shutdown()


def _export(qtbot, panel):
    with qtbot.waitSignal(panel.exportFinished, timeout=60000) as blocker:
        qtbot.mouseClick(panel.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=10000)
    return blocker.args[0]


def test_export_two_kinds_fills_table_and_chart(qtbot, panel, tmp_path):
    assert panel.settings().tflite == ("float32", "dynamic") and not panel.kind_boxes["keras"].isChecked()
    report = _export(qtbot, panel)
    assert [a.ok for a in report.artifacts] == [True, True]
    assert (tmp_path / "out" / "model_dynamic.tflite").is_file()
    assert panel.table.rowCount() == 3
    assert panel.table.item(0, 0).text().startswith("Baseline")
    assert panel.table.item(2, 3).text().endswith("x")  # ratio to baseline
    assert panel.table.item(2, 8).text() == "yes"
    assert panel.progress_bar.value() == 100 and "2 file(s)" in panel.status_label.text()
    assert panel.export_button.isEnabled() and not panel.stop_button.isEnabled()

    panel.copy_button.click()
    rows = list(csv.DictReader(io.StringIO(QGuiApplication.clipboard().text())))
    assert [r["name"] for r in rows][1:] == [a.name for a in report.artifacts]
    png = tmp_path / "chart.png"
    panel.save_chart_png(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = tmp_path / "r.html"
    panel.save_html(html)
    assert "data:image/png;base64," in html.read_text()


def test_replacing_files_asks_first(qtbot, panel, tmp_path):
    _export(qtbot, panel)
    stamp = (tmp_path / "out" / "model_float32.tflite").stat().st_mtime_ns
    qtbot.mouseClick(panel.export_button, Qt.MouseButton.LeftButton)
    box = panel.confirm_box
    assert box is not None and box.isVisible() and "model_float32.tflite" in box.text()
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert not panel.is_running() and "cancelled" in panel.status_label.text()
    assert (tmp_path / "out" / "model_float32.tflite").stat().st_mtime_ns == stamp

    with qtbot.waitSignal(panel.exportFinished, timeout=60000):
        qtbot.mouseClick(panel.export_button, Qt.MouseButton.LeftButton)
        panel.confirm_box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=10000)
    assert (tmp_path / "out" / "model_float32.tflite").stat().st_mtime_ns > stamp


def test_error_is_shown_as_a_sentence(qtbot, panel, tmp_path, model):
    (tmp_path / "out").mkdir()
    opened = tmp_path / "out" / "model.keras"
    model.save(opened)
    panel.set_context(lambda: model, panel._dataset, opened, baseline_model=model,
                      settings=ExportSettings(keras=True, h5=False, tflite=(), sparse=False).to_dict())
    qtbot.mouseClick(panel.export_button, Qt.MouseButton.LeftButton)
    panel.confirm_box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: not panel.is_running() and panel.error_label.isVisible(), timeout=30000)
    text = panel.error_label.text()
    assert "opened model" in text and "Traceback" not in text and "\n" not in text
    assert panel.export_button.isEnabled()


def test_default_folder_follows_the_opened_model(qtbot, model, dataset, tmp_path):
    p = ExportPanel()
    qtbot.addWidget(p)
    p.set_context(lambda: model, dataset, tmp_path / "a.keras")
    assert p.folder_edit.text() == str(tmp_path / "a_export")
    p.set_context(lambda: model, dataset, tmp_path / "b.keras")  # another model: new default
    assert p.folder_edit.text() == str(tmp_path / "b_export")
    p.folder_edit.setText(str(tmp_path / "mine"))
    p.set_context(lambda: model, dataset, tmp_path / "c.keras")  # the user's choice is kept
    assert p.folder_edit.text() == str(tmp_path / "mine")


def test_stop_ends_the_export_early(qtbot, panel):
    with qtbot.waitSignal(panel.exportFinished, timeout=60000) as blocker:
        qtbot.mouseClick(panel.export_button, Qt.MouseButton.LeftButton)
        assert panel.stop_button.isEnabled() and not panel.export_button.isEnabled()
        qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    report = blocker.args[0]
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=10000)
    assert report.stopped and len(report.artifacts) < 2
    assert panel.status_label.text().startswith("Stopped")

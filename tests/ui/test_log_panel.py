"""The log panel speaks to people; the developers' log waits behind "Show details"."""

from __future__ import annotations

import re

import pytest
from PySide6.QtCore import Qt

from prune_studio.export import ExportSettings

pytestmark = pytest.mark.slow
LOGGER_LINE = re.compile(r"\b(INFO|WARNING|DEBUG|ERROR) prune_studio\.")


def test_sentences_in_the_log_and_logger_output_in_the_details(qtbot, demo_as_opened, tmp_path):
    w = demo_as_opened
    panel = w.export_panel
    panel.apply_settings(ExportSettings(keras=False, h5=False, tflite=("float32",), sparse=False))
    panel.folder_edit.setText(str(tmp_path / "out"))
    with qtbot.waitSignal(panel.exportFinished, timeout=60_000):
        qtbot.mouseClick(panel.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=10_000)
    log = w.log_panel
    text = log.toPlainText()
    assert "Opened digits_demo.keras" in text and "Loaded the data" in text
    assert "file(s) written and verified" in text
    assert not LOGGER_LINE.search(text), text
    assert not log.details.isVisible()  # the developers' log is out of the way
    qtbot.mouseClick(log.details_button, Qt.MouseButton.LeftButton)
    assert log.details.isVisible() and log.details_button.text() == "Hide details"
    assert "INFO prune_studio.export.exporter: TFLite float32: ok=True" in log.details.toPlainText()
    qtbot.mouseClick(log.details_button, Qt.MouseButton.LeftButton)
    assert not log.details.isVisible()


def test_a_run_is_told_in_sentences(qtbot, demo_as_opened):
    w = demo_as_opened
    w.settings_panel.epochs.setValue(1)
    w.settings_panel.batch.setValue(128)
    with qtbot.waitSignal(w.runFinished, timeout=120_000):
        w.start_run()
    text = w.log_panel.toPlainText()
    assert re.search(r"Before pruning, the model scores \d+\.\d% accuracy \(loss \d\.\d{3}\) on the test set\.", text)
    assert re.search(r"Epoch 1 of 1 done: \d+\.\d% accuracy", text)
    assert re.search(r"Finished: after pruning, the model scores \d+\.\d% accuracy", text)
    assert "val_loss" not in text and not LOGGER_LINE.search(text)


def test_the_newest_line_stays_in_view_when_the_panel_gets_shorter(qtbot):
    from prune_studio.ui.log_panel import LogPanel

    panel = LogPanel()
    qtbot.addWidget(panel)
    panel.resize(600, 200)
    panel.show()
    for i in range(40):
        panel.append_line(f"line {i}")
    qtbot.wait(20)
    bar = panel.messages.verticalScrollBar()
    assert bar.value() == bar.maximum() > 0
    panel.resize(600, 80)  # as when the warning banner shows above it
    qtbot.waitUntil(lambda: bar.value() == bar.maximum() and panel.messages.height() < 80)
    panel.messages.verticalScrollBar().setValue(0)  # scrolled up by the user: left there
    panel.resize(600, 60)
    qtbot.wait(20)
    assert bar.value() == 0
    panel.detach()

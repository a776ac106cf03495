"""The scan panel drives a real scan in its worker thread and emits a suggested plan."""

import pytest
from PySide6.QtCore import Qt

from prune_studio.compat import keras
from prune_studio.data import DataSpec, load_data
from prune_studio.ui.scan_panel import ScanPanel


@pytest.fixture(scope="module")
def context(demo_model_file):
    return keras.models.load_model(demo_model_file, compile=False), load_data(DataSpec(kind="digits"))


def _panel(qtbot, tmp_path, **kwargs):
    panel = ScanPanel(cache_dir=tmp_path, max_samples=128, **kwargs)
    qtbot.addWidget(panel)
    panel.resize(1000, 700)
    return panel


def _wait_idle(qtbot, panel):
    qtbot.waitUntil(lambda: not panel._jobs, timeout=60000)


def test_scan_chart_table_and_suggested_plan(qtbot, tmp_path, context):
    model, dataset = context
    panel = _panel(qtbot, tmp_path, sparsities=(0.0, 0.5, 0.9))
    assert not panel.scan_button.isEnabled()
    panel.set_context(model, dataset, None)
    _wait_idle(qtbot, panel)
    assert panel.result is None  # nothing cached yet
    with qtbot.waitSignal(panel.scanFinished, timeout=60000) as finished:
        qtbot.mouseClick(panel.scan_button, Qt.MouseButton.LeftButton)
    _wait_idle(qtbot, panel)
    result = finished.args[0]
    assert not result.stopped and panel.progress.value() == 1000 and not panel.is_scanning()
    assert panel.table.rowCount() == 4
    assert panel.table.item(2, 0).text() == "dense1"
    assert panel.table.item(2, 1).text() == "262,144"
    assert set(panel._curves) == {"conv1", "conv2", "dense1", "digits"}
    x, y = panel._curves["dense1"].getData()
    assert list(x) == [0, 50, 90] and y[0] == pytest.approx(result.baseline * 100)

    panel.table.selectRow(2)
    assert panel._curves["dense1"].opts["pen"].width() == 4
    assert panel._curves["conv1"].opts["pen"].color().alpha() < 255

    panel.by_target.setChecked(True)
    panel.target_spin.setValue(80)
    with qtbot.waitSignal(panel.planSuggested, timeout=30000) as suggested:
        qtbot.mouseClick(panel.suggest_button, Qt.MouseButton.LeftButton)
    _wait_idle(qtbot, panel)
    from prune_studio.scan import projected_sparsity

    assert projected_sparsity(suggested.args[0], result.params) >= 0.8
    assert "80% zeros overall" in panel.suggestion.text()
    if panel.grab().save(str(tmp_path / "panel.png")):
        assert (tmp_path / "panel.png").stat().st_size > 1000

    # Opening the same model and data again shows the remembered scan without measuring.
    again = _panel(qtbot, tmp_path, sparsities=(0.0, 0.5, 0.9))
    with qtbot.waitSignal(again.scanFinished, timeout=30000) as shown:
        again.set_context(model, dataset, None)
    _wait_idle(qtbot, again)
    assert shown.args[0] == result and again.table.rowCount() == 4
    assert "earlier scan" in again.status.text()

    # A recipe's goal asked for while the earlier scan is looked up is met from that scan.
    third = _panel(qtbot, tmp_path, sparsities=(0.0, 0.5, 0.9))
    third.set_context(model, dataset, None)
    with qtbot.waitSignal(third.planSuggested, timeout=30000) as suggested:
        third.suggest_after_scan({"max_drop": 0.02})
    _wait_idle(qtbot, third)
    assert third.result == result and not third.is_scanning()
    assert third.by_drop.isChecked() and third.drop_spin.value() == pytest.approx(2.0)
    assert "zeros overall" in third.suggestion.text()


def test_stop_ends_the_scan_early(qtbot, tmp_path, context):
    model, dataset = context
    panel = _panel(qtbot, tmp_path, sparsities=tuple(i / 20 for i in range(20)))
    panel.set_context(model, dataset, None)
    _wait_idle(qtbot, panel)
    with qtbot.waitSignal(panel.scanFinished, timeout=60000) as finished:
        panel.start_scan()
        assert panel.is_scanning() and panel.stop_button.isEnabled() and not panel.scan_button.isEnabled()
        qtbot.waitUntil(lambda: panel.progress.value() > 0, timeout=30000)
        qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    _wait_idle(qtbot, panel)
    assert finished.args[0].stopped
    assert "stopped" in panel.status.text()
    assert panel.scan_button.isEnabled() and not panel.stop_button.isEnabled()

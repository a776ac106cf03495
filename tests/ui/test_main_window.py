"""Drive the real window offscreen: open the demo, edit the plan, run, stop, save, close."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from prune_studio.ui.layer_tree_model import COL_PRUNE, COL_TARGET

pytestmark = pytest.mark.slow


def _check(window, name, on=True):
    index = window.tree_model.index_of(name, COL_PRUNE)
    state = Qt.CheckState.Checked if on else Qt.CheckState.Unchecked
    assert window.tree_model.setData(index, state.value, Qt.ItemDataRole.CheckStateRole)


def _select(window, *names):
    from prune_studio.ui.layout import select_names

    select_names(window, list(names))


def _short_run(window, epochs=1):
    window.settings_panel.epochs.setValue(epochs)
    window.settings_panel.batch.setValue(64)


def test_demo_opens_ready_to_run(demo_as_opened):
    w = demo_as_opened
    names = [n.name for n in w.tree_model.nodes()]
    assert {"conv1", "conv2", "dense1", "digits", "dropout"} <= set(names)
    assert "digits_demo.keras" in w.windowTitle()
    assert w.minimumSizeHint().width() <= 1280 and w.minimumSizeHint().height() <= 800
    assert w.width() <= 1280 and w.height() <= 800
    assert "parameters" in w.summary.text()
    assert "steps per epoch" in w.settings_panel.steps_info.text()
    prunable = {n.name for n in w.tree_model.prunable_nodes()}
    assert prunable == {"conv1", "conv2", "dense1", "digits"}
    assert all(w.session.plans[name].enabled for name in prunable)
    # the plan and training settings of the CLI's demo recipe, which keeps every file within a point
    from prune_studio.recipe import load_recipe
    from prune_studio.resources import resource_path

    recipe = load_recipe(resource_path("samples", "digits_demo_recipe.json"))
    for name in prunable:
        target = recipe.plan.layers[name].schedule.get_config()["config"]["final_sparsity"]
        assert w.tree_model.index_of(name, COL_TARGET).data() == f"{target:.0%}"
    assert w.settings_panel.training_settings().epochs == recipe.training.epochs
    assert w.settings_panel.training_settings().learning_rate == recipe.training.learning_rate
    assert w.act_run.isEnabled()  # press Run and it goes
    assert not w.isWindowModified()  # opening is not an edit


def test_toggling_layers_updates_plan_and_summary(demo_window):
    w = demo_window
    before = w.summary.text()
    _check(w, "dense1")
    assert w.session.plans["dense1"].enabled
    assert w.tree_model.index_of("dense1", COL_TARGET).data() == "80%"
    assert w.summary.text() != before and w.isWindowModified()
    _check(w, "dense1", on=False)
    assert not w.session.plans["dense1"].enabled
    assert not w.act_run.isEnabled()


def test_a_layer_left_dense_shows_its_weights_while_its_schedule_fields_are_off(qtbot, demo_window):
    w = demo_window  # nothing is pruned
    _select(w, "dense1")
    qtbot.waitUntil(lambda: w.weights.hist is not None and w.weights.hist["name"] == "dense1" and not w.is_busy(), timeout=30_000)
    assert not w.editor.editing and not w.editor.final.isEnabled()
    zeros_map = w.weights.buttons.button(1)
    assert zeros_map.isEnabled()
    qtbot.mouseClick(zeros_map, Qt.MouseButton.LeftButton)
    assert w.weights.pages.currentWidget() is w.weights.zero_map
    assert w.weights.zero_map.shown["name"] == "dense1"


def test_schedule_edit_changes_preview_and_bad_values_show_at_the_field(demo_window):
    w = demo_window
    _check(w, "dense1")
    _select(w, "dense1")
    editor = w.editor
    assert editor.isEnabled() and editor.editing
    _, before = editor.preview_curve.getData()
    editor.final.setValue(60.0)
    _, after = editor.preview_curve.getData()
    assert after.max() == pytest.approx(0.6, abs=1e-3) and before.max() == pytest.approx(0.8, abs=1e-3)
    assert w.tree_model.index_of("dense1", COL_TARGET).data() == "60%"
    editor.end.setValue(0)  # before the begin step: invalid for a ramp
    assert editor.end.property("invalid") is True
    assert "must come after" in editor.error_label.text()
    assert w.session.plans["dense1"].schedule.get_config()["config"]["end_step"] > 0  # not applied
    editor.end.setValue(50)
    assert not editor.error_label.text() and editor.end.property("invalid") is False
    assert w.session.plans["dense1"].schedule.get_config()["config"]["end_step"] == 50


def test_steps_follow_training_settings(demo_window):
    w = demo_window
    _check(w, "dense1")
    w.settings_panel.batch.setValue(64)
    per_epoch = w.settings_panel.steps_per_epoch()
    assert per_epoch == -(-int(w.session.dataset.num_train * 0.9 // 1) // 64) or per_epoch > 0
    end = w.session.plans["dense1"].schedule.get_config()["config"]["end_step"]
    assert end == w.settings_panel.prune_end_step() == per_epoch * w.settings_panel.epochs.value()
    assert f"= {end:,} steps" in w.settings_panel.steps_info.text()


def test_short_fine_tune_feeds_the_charts(qtbot, demo_window):
    w = demo_window
    _short_run(w)
    _check(w, "conv2")
    _check(w, "dense1")
    with qtbot.waitSignal(w.runFinished, timeout=90_000) as blocker:
        w.act_run.trigger()
        assert w.run.running and not w.act_run.isEnabled() and w.act_stop.isEnabled()
    result = blocker.args[0]
    assert result is not None and not result.stopped
    from prune_studio.training import run_process

    assert result.wrapped_model is None and run_process.shared().alive()  # fine-tuned in the training child
    assert w.charts.points_received > 0
    x, y = w.charts.curves["loss"].item.getData()
    assert len(x) > 5
    assert set(w.charts.layer_curves) >= {"conv2", "dense1"}
    sx, sy = w.charts.curves["sparsity"].item.getData()
    assert len(sx) > 0 and sy.max() > 0.3
    tx, ty = w.charts._target_item.getData()  # drawn once the charts were painted, as the run began
    assert tx[-1] == w.settings_panel.total_steps() and ty.max() > 0.3
    assert "Finished" in w.status_text.text()
    assert w.act_run.isEnabled() and not w.act_stop.isEnabled()
    _select(w, "dense1")
    qtbot.waitUntil(lambda: w.weights.hist is not None and w.weights.hist["name"] == "dense1" and not w.is_busy(), timeout=30_000)
    assert w.weights.hist["zeros"] == pytest.approx(result.sparsity["dense1"], abs=0.01)
    assert w.weights.hist["counts"].sum() == round(262_144 * (1 - w.weights.hist["zeros"]))
    zeros = w.weights.zero_map.shown  # the same numbers, as a map of 1024 x 256 weights in 8 x 2 blocks
    assert zeros["block"] == (8, 2) and zeros["map"].mean() == pytest.approx(w.weights.hist["zeros"])


def _start_long_run(qtbot, w):
    """Start a 30-epoch run of every prunable layer and wait for its first batches."""
    _short_run(w, epochs=30)
    w.prune_all_prunable()
    with qtbot.waitSignal(w.run.batches, timeout=60_000):
        w.start_run()


def test_stop_mid_run_leaves_a_usable_model(qtbot, demo_window):
    w = demo_window
    _start_long_run(qtbot, w)
    with qtbot.waitSignal(w.runFinished, timeout=60_000) as blocker:
        w.act_stop.trigger()
    result = blocker.args[0]
    assert result.stopped
    assert result.stripped_model is not None and "accuracy" in result.final
    assert w.session.current_model() is result.stripped_model
    assert "Stopped" in w.status_text.text()


def test_pause_and_resume(qtbot, demo_window):
    w = demo_window
    _start_long_run(qtbot, w)
    w.act_pause.trigger()
    assert w.run.state == "paused" and w.act_pause.text().endswith("Resume")
    w.act_pause.trigger()
    assert w.run.state == "running"


def test_save_and_reopen_recipe(qtbot, demo_window, make_window, tmp_path):
    w = demo_window
    _check(w, "dense1")
    _select(w, "dense1")
    w.editor.final.setValue(70.0)
    w.settings_panel.epochs.setValue(3)
    path = w.save_recipe(tmp_path / "session.json")
    assert path is not None and not w.isWindowModified()
    saved = json.loads(path.read_text())
    assert saved["training"]["epochs"] == 3 and "dense1" in saved["plan"]["layers"]

    other = make_window()
    with qtbot.waitSignal(other.dataReady, timeout=60_000):
        other.open_recipe(path)
        # read in a worker: its plan's schedules import TensorFlow, which froze the window for seconds
        assert other.is_busy() and other._pending_recipe is None
    assert other.session.plans["dense1"].enabled
    assert other.session.plans["dense1"].schedule == w.session.plans["dense1"].schedule
    assert other.settings_panel.training_settings() == w.settings_panel.training_settings()
    assert other.tree_model.index_of("dense1", COL_TARGET).data() == "70%"
    assert not other._dirty and not other.isWindowModified()  # opening a recipe is not an edit


def test_a_recipe_asking_for_a_suggested_plan_scans_and_fills_the_layer_list(qtbot, demo_window, make_window, tmp_path):
    path = demo_window.save_recipe(tmp_path / "session.json")
    recipe = json.loads(path.read_text())
    recipe["plan"] = {"suggest": {"target_sparsity": 0.6}}
    path.write_text(json.dumps(recipe))

    other = make_window()
    with qtbot.waitSignal(other.scan_panel.planSuggested, timeout=120_000) as suggested:
        other.open_recipe(path)
    plan = suggested.args[0]
    assert other.tabs.currentWidget().isAncestorOf(other.scan_panel)  # the scan's tab is shown
    assert other.scan_panel.by_target.isChecked() and other.scan_panel.target_spin.value() == 60
    assert "Suggested: " in other.scan_panel.suggestion.text()
    enabled = sorted(name for name, layer in other.session.plans.items() if layer.enabled)
    assert enabled and enabled == sorted(name for name, layer in plan.layers.items() if layer.enabled)
    for name in enabled:  # the tree shows each suggested target
        target = plan.layers[name].schedule.get_config()["config"]
        final = target.get("final_sparsity", target.get("target_sparsity"))
        assert other.tree_model.index_of(name, COL_TARGET).data() == f"{final:.0%}"


def test_close_during_run_asks_then_stops_cleanly(qtbot, demo_window, monkeypatch):
    w = demo_window
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.Yes)
    _short_run(w, epochs=30)
    w.prune_all_prunable()
    w._dirty = False
    with qtbot.waitSignal(w.run.batches, timeout=60_000):
        w.start_run()
    with qtbot.waitSignal(w.runFinished, timeout=60_000):
        assert not w.close()  # refused for now: the run stops first
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=10_000)
    assert len(asked) == 1 and "Stop the fine-tune" in asked[0]


def test_yes_closes_even_when_the_run_ended_while_the_question_was_open(qtbot, demo_window, monkeypatch):
    w = demo_window
    _short_run(w, epochs=1)
    w.prune_all_prunable()
    w._dirty = False
    ended = []

    def answer_after_the_run_ended(*_args, **_kwargs):
        with qtbot.waitSignal(w.runFinished, timeout=120_000) as blocker:
            pass  # the run reaches its natural end while the box is open
        ended.append(blocker.args[0])
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", answer_after_the_run_ended)
    with qtbot.waitSignal(w.run.batches, timeout=60_000):
        w.start_run()
    w.close()
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=10_000)
    assert ended and ended[0] is not None and not ended[0].stopped  # it really finished on its own
    assert "Stopping" not in w.status_text.text()


def _record_prompts(monkeypatch) -> list[str]:
    """Answer every question box with Cancel and record its title (a close then fails)."""
    asked: list[str] = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[1]) or QMessageBox.StandardButton.Cancel)
    return asked


def test_opening_the_demo_leaves_it_clean_and_it_closes_without_a_prompt(demo_window, monkeypatch):
    w = demo_window
    asked = _record_prompts(monkeypatch)
    assert not w._dirty and not w.isWindowModified()
    assert w.close() and not w.isVisible()
    assert asked == []


def test_an_edit_after_opening_prompts_on_close(demo_window, monkeypatch):
    w = demo_window
    asked = _record_prompts(monkeypatch)
    w.settings_panel.epochs.setValue(w.settings_panel.epochs.value() + 1)
    assert w.isWindowModified()
    assert not w.close() and w.isVisible()
    assert asked == ["Unsaved changes"]


def test_close_without_asking_discards_edits(demo_window, monkeypatch):
    w = demo_window
    asked = _record_prompts(monkeypatch)
    _check(w, "dense1")
    assert w.isWindowModified()
    assert w.close_without_asking() and not w.isVisible()
    assert asked == []


def test_close_with_unsaved_changes_can_be_cancelled(demo_window, monkeypatch):
    w = demo_window
    answers = [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Discard]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: answers.pop(0))
    _check(w, "dense1")
    assert not w.close() and w.isVisible()
    assert w.close() and not w.isVisible()


def test_open_error_is_a_message_not_a_crash(qtbot, make_window, tmp_path):
    w = make_window()
    bad = tmp_path / "broken.keras"
    bad.write_text("not a model")
    with qtbot.waitSignal(w.taskFailed, timeout=60_000):
        w.open_model(bad)
    message = w.statusBar().currentMessage()
    assert "broken.keras" in message and "Traceback" not in message
    assert w.session.loaded is None


def test_run_failure_is_a_sentence_not_a_traceback(qtbot, demo_window):
    from prune_studio.training import TrainingError

    w = demo_window

    def failing_run(listener, control):
        listener.on_log("starting")
        raise TrainingError("The loss became NaN at step 3; try a learning rate below 0.001.")

    with qtbot.waitSignal(w.runFinished, timeout=30_000) as blocker:
        w.run.start(failing_run)
    assert blocker.args[0] is None
    message = w.statusBar().currentMessage()
    assert "loss became NaN" in message and "Traceback" not in message
    assert w.status_text.text() == "Run failed" and not w.run.running


def test_select_same_type_and_global_target(demo_window):
    w = demo_window
    w.prune_all_prunable()
    _select(w, "dense1")
    w.act_same_type.trigger()
    assert sorted(w.selected_names()) == ["dense1", "digits"]
    w.editor.final.setValue(65.0)  # edits every selected layer at once
    assert {w.tree_model.index_of(n, COL_TARGET).data() for n in ("dense1", "digits")} == {"65%"}
    assert w.tree_model.index_of("conv1", COL_TARGET).data() == "80%"
    w.global_target.setValue(90)
    w.apply_global_target()
    assert {w.tree_model.index_of(n, COL_TARGET).data() for n in ("conv1", "conv2", "dense1", "digits")} == {"90%"}
    assert "projected zeros <b>90%</b>" in w.summary.text()


def test_dropping_a_model_file_opens_it_and_remembers_it(qtbot, make_window, demo_model_file):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    w = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(demo_model_file))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(w.modelReady, timeout=60_000):
        w.dropEvent(event)
    assert w.session.model_path.name == demo_model_file.name
    assert [a.text() for a in w.recent_menu.actions()] == [demo_model_file.name]


def test_ticking_a_layer_refits_only_the_plan_columns(demo_window):
    # A plan change used to measure every cell of every column (twice while opening a model,
    # ~15 ms each for MobileNetV2) and undid the widths the user had dragged.
    from prune_studio.ui.layer_tree_model import COL_PRUNE, COL_TARGET, COL_TYPE

    w = demo_window
    header = w.tree.header()
    header.resizeSection(COL_TYPE, 300)  # the user widened the Type column
    header.resizeSection(COL_TARGET, 10)  # and squeezed the Target column
    w.set_pruned(["conv1"], True)
    assert header.sectionSize(COL_TYPE) == 300
    text = w.tree_model.index_of("conv1", COL_TARGET).data()
    assert text == "80%" and header.sectionSize(COL_TARGET) >= w.tree.fontMetrics().horizontalAdvance("Target")
    assert header.sectionSize(COL_PRUNE) > 0


def test_the_model_is_built_after_the_filled_tree_has_been_painted(qtbot, make_window, demo_model_file):
    """The worker that builds the model (and loads the data) starts only after the layer tree has
    painted the opened model's rows: started at once, it made that paint wait for the GIL."""
    from PySide6.QtCore import QEvent, QObject

    w = make_window()
    events = []

    class PaintLog(QObject):
        def eventFilter(self, watched, event):  # noqa: N802 - Qt override
            if event.type() == QEvent.Type.Paint and w.tree_model.rowCount() > 0:
                events.append("tree painted")
            return False

    paint_log = PaintLog(w)
    w.tree.viewport().installEventFilter(paint_log)
    load_data = w.load_data
    w.load_data = lambda spec: (events.append("build started"), load_data(spec))
    with qtbot.waitSignal(w.modelReady, timeout=60_000):
        w.open_model(demo_model_file, data_spec={"kind": "digits", "path": None, "options": {}})
    assert "build started" not in events
    with qtbot.waitSignal(w.dataReady, timeout=60_000):
        pass
    assert events.index("tree painted") < events.index("build started")
    assert w.session.loaded.is_built and w.session.dataset is not None

"""Channel removal driven from the real window: choose a group, shrink, fine-tune, export, read back.

The model is a small real CNN whose residual Add ties two convolutions into one channel group;
the data are a slice of the shipped digits sample written by the test as an .npz file.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import Qt

from prune_studio.compat import keras
from prune_studio.ui.layout import show_tab

L = keras.layers
pytestmark = pytest.mark.slow


def residual_cnn(seed=0):
    """stem -> BN -> ReLU -> conv -> BN, added back to the stem: stem and res_conv share channels."""
    keras.utils.set_random_seed(seed)
    inp = L.Input((8, 8, 1))
    stem = L.ReLU(name="stem_relu")(L.BatchNormalization(name="stem_bn")(L.Conv2D(16, 3, padding="same", name="stem")(inp)))
    res = L.BatchNormalization(name="res_bn")(L.Conv2D(16, 3, padding="same", name="res_conv")(stem))
    x = L.ReLU(name="add_relu")(L.Add(name="add")([stem, res]))
    x = L.Conv2D(6, 3, activation="relu", name="head_conv")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inp, L.Dense(10, activation="softmax", name="out")(x), name="residual_cnn")


@pytest.fixture
def model_and_data(tmp_path, digits):
    x_train, y_train = digits["x_train"][:384], digits["y_train"][:384]
    data = tmp_path / "digits_slice.npz"
    np.savez(data, x_train=x_train, y_train=y_train, x_test=digits["x_test"][:96], y_test=digits["y_test"][:96])
    model = residual_cnn()
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(x_train, y_train, epochs=2, batch_size=32, verbose=0)
    path = tmp_path / "residual_cnn.keras"
    model.save(path)
    return path, data


@pytest.fixture
def opened(qtbot, make_window, model_and_data):
    path, data = model_and_data
    window = make_window()
    window.resize(1280, 800)
    with qtbot.waitSignal(window.dataReady, timeout=60_000):
        window.open_model(path, data_spec={"kind": "npz", "path": str(data), "options": {}})
    return window


def _row(panel, name):
    return next(r for r in range(panel.table.rowCount()) if panel.table.item(r, 0).text() == name)


def test_the_window_shrinks_fine_tunes_and_exports_a_smaller_model(qtbot, opened, tmp_path):
    from prune_studio.export import ExportSettings
    from prune_studio.models import load_model
    from prune_studio.ui.layer_tree_model import COL_CHANNELS, COL_PRUNE, COL_SCHEDULE
    from prune_studio.ui.layout import show_tab
    from prune_studio.ui.results_view import COLUMNS

    w = opened
    panel = w.structured_panel
    show_tab(w, panel)
    assert not w.act_run.isEnabled()  # nothing ticked, nothing thinned: nothing to run
    assert not panel.shrink_button.isEnabled()
    # on the Channels tab the tree shows that the residual Add ties stem and res_conv
    assert not w.tree.isColumnHidden(COL_CHANNELS)
    assert w.tree.isColumnHidden(COL_SCHEDULE) and not w.tree.isColumnHidden(COL_PRUNE)
    qtbot.waitUntil(lambda: w.tree.viewport().width() > 0)
    # every shown column fits beside the tab at 1280 px: no sideways scrolling (once the view has laid out)
    qtbot.waitUntil(lambda: w.tree.horizontalScrollBar().maximum() == 0, timeout=5_000)
    assert w.tree_model.index_of("res_conv", COL_CHANNELS).data() == "stem (2 tied)"
    assert w.tree_model.index_of("res_bn", COL_CHANNELS).data() == "stem (2 tied)"
    assert w.tree_model.index_of("out", COL_CHANNELS).data() == "out · fixed"
    assert "stem" in w.tree_model.index_of("res_conv", COL_CHANNELS).data(Qt.ItemDataRole.ToolTipRole)
    w.tabs.setCurrentIndex(0)  # the Schedule tab: the zero-weight columns come back
    assert w.tree.isColumnHidden(COL_CHANNELS) and not w.tree.isColumnHidden(COL_SCHEDULE)
    show_tab(w, panel)

    # keep 50% of the tied group: 8 of 16 channels, in both convolutions
    panel.table.selectRow(_row(panel, "stem"))
    selected = {i.data() for i in w.tree.selectionModel().selectedRows()}
    assert selected >= {"stem", "stem_bn", "res_conv", "res_bn"}  # the layers the group ties
    panel.slider.setValue(50)
    assert panel.table.item(_row(panel, "stem"), 2).text() == "8 of 16"
    assert w.tree_model.index_of("res_conv", COL_CHANNELS).data() == "stem (2 tied) → 8/16"
    assert w.act_run.isEnabled() and panel.shrink_button.isEnabled()
    w.settings_panel.epochs.setValue(2)
    w.settings_panel.batch.setValue(64)

    with qtbot.waitSignal(w.runFinished, timeout=180_000) as blocker:
        qtbot.mouseClick(panel.shrink_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: w.run.running, timeout=5_000)
        assert not panel.shrink_button.isEnabled() and not panel.slider.isEnabled()  # locked during the run
        assert w.act_stop.isEnabled() and w.act_pause.isEnabled()
    result = blocker.args[0]
    assert result is not None and not result.stopped
    assert result.wrapped_model is None  # removed and fine-tuned in the training child
    assert w.charts.points_received > 0  # the live charts got the fine-tune's batches
    shrink = w.session.shrink
    assert shrink.groups["stem"] == {"size": 16, "kept": 8}
    assert shrink.after.flops < shrink.before.flops
    assert "8/16" in panel.status.text() and "fewer" in panel.status.text()
    assert "accuracy" in result.final
    # the charts' "before" line is the model as opened, not the smaller one before tuning
    assert result.baseline == shrink.baseline
    assert w.charts._baseline_line.value() == pytest.approx(shrink.baseline["accuracy"])
    log = w.log_panel.toPlainText()
    assert "Removing channels (stem 8 of 16 kept)" in log and "After removing channels, before fine-tuning" in log
    # the tree shows the smaller model's outputs and parameters, its tooltips the opened model's
    from prune_studio.ui.layer_tree_model import COL_PARAMS, COL_SHAPE

    assert w.tree_model.index_of("stem", COL_SHAPE).data() == "8×8×8"
    assert w.tree_model.index_of("stem", COL_PARAMS).data() == "80"  # 3*3*1*8 + 8, was 160
    assert w.tree_model.index_of("head_conv", COL_PARAMS).data() == f"{3 * 3 * 8 * 6 + 6:,}"
    assert "160 parameters" in w.tree_model.index_of("stem", COL_PARAMS).data(Qt.ItemDataRole.ToolTipRole)

    out = tmp_path / "out"
    export = w.export_panel
    export.apply_settings(ExportSettings(keras=True, h5=False, tflite=("float32",), sparse=False))
    export.folder_edit.setText(str(out))
    with qtbot.waitSignal(export.exportFinished, timeout=180_000) as done:
        qtbot.mouseClick(export.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not export.is_running(), timeout=10_000)
    report = done.args[0]
    qtbot.waitUntil(lambda: w.results.report is report and not w.results.filling(), timeout=10_000)
    assert report.ok_artifacts() and not report.failed_artifacts()

    # the file written really has fewer channels
    small = load_model(out / "model.keras").model
    assert small.get_layer("stem").filters == 8 and small.get_layer("res_conv").filters == 8
    assert small.get_layer("stem").get_weights()[0].shape == (3, 3, 1, 8)
    assert small.get_layer("head_conv").get_weights()[0].shape == (3, 3, 8, 6)
    written = json.loads((out / "report.json").read_text())
    assert written["cost"]["model"]["flops"] < written["cost"]["baseline"]["flops"]

    # the result view lists measured latency and FLOPs for the baseline and every file
    view = w.results
    assert w.tabs.currentWidget().isAncestorOf(view)
    flops_col, ms_col = COLUMNS.index("FLOPs"), COLUMNS.index("ms/sample")
    rows = view.table.rowCount()
    assert rows == len(report.artifacts) + 1
    for r in range(rows):
        assert view.table.item(r, flops_col).text().endswith(("k", "M")), r
        assert float(view.table.item(r, ms_col).text()) > 0
    assert report.rows()[1]["flops"] < report.rows()[0]["flops"]
    # every column in view at 1280 x 800, once the tab has taken the layer list's width
    table, header = view.table, view.table.horizontalHeader()

    def cut_off():
        right = table.viewport().width()
        return [COLUMNS[c] for c in range(table.columnCount())
                if header.sectionViewportPosition(c) < 0 or header.sectionViewportPosition(c) + table.columnWidth(c) > right + 1]

    qtbot.waitUntil(lambda: table.viewport().width() > 0 and not cut_off(), timeout=5_000)
    assert view.width() <= w.width() and w.width() <= 1280


def test_picking_a_layer_in_the_tree_picks_its_group_on_the_channels_tab(qtbot, opened):
    from prune_studio.ui.layout import select_names, show_tab

    w = opened
    panel = w.structured_panel
    select_names(w, ["res_bn"])  # another tab: the Channels tab's choice is left alone
    assert panel.selected_groups() == []
    show_tab(w, panel)  # the layer picked before: its group (res_bn follows the stem group's channels)
    assert panel.selected_groups() == ["stem"] and panel.slider.isEnabled()
    select_names(w, ["head_conv"])
    assert panel.selected_groups() == ["head_conv"]
    select_names(w, ["res_bn"])
    assert panel.selected_groups() == ["stem"]
    assert w.selected_names() == ["res_bn"]  # the tree keeps what the user picked
    panel.slider.setValue(50)
    assert panel.kept_counts() == {"stem": 8}


def test_a_keep_ratio_that_rounds_to_every_channel_says_so_and_runs_nothing(qtbot, opened):
    w = opened
    panel = w.structured_panel
    show_tab(w, panel)  # the Channels tab fills when it is first shown
    panel.table.selectRow(_row(panel, "head_conv"))  # 6 channels: half rounds up to all 6 (multiples of 8)
    panel.slider.setValue(50)
    assert panel.table.item(_row(panel, "head_conv"), 2).text() == "6 of 6"
    assert not panel.has_removal()
    assert not panel.shrink_button.isEnabled() and not w.act_run.isEnabled()
    problem = panel.removal_problem()
    assert "rounds up to all its 6 channels" in problem and "\n" not in problem
    assert panel.shrink_button.toolTip() == problem
    w.start_run()  # nothing to do: a sentence in the status bar, no run
    assert not w.run.running and "Channels tab" in w.statusBar().currentMessage()


def test_a_structured_choice_is_saved_in_the_recipe_and_comes_back(qtbot, opened, make_window, tmp_path):
    from prune_studio.recipe import load_recipe

    w = opened
    panel = w.structured_panel
    show_tab(w, panel)  # the Channels tab fills when it is first shown
    panel.table.selectRow(_row(panel, "stem"))
    panel.slider.setValue(50)
    assert w.isWindowModified()
    path = w.save_recipe(tmp_path / "recipe.json")
    recipe = load_recipe(path)
    assert recipe.structured.mode == "uniform" and recipe.structured.groups == {"stem": 0.5}
    other = make_window()
    with qtbot.waitSignal(other.dataReady, timeout=60_000):
        other.open_recipe(path)
    assert other.structured_panel.kept_counts() == {"stem": 8}
    assert other.act_run.isEnabled()


def test_a_model_whose_channels_cannot_be_followed_gets_a_sentence_and_no_shrink(qtbot):
    from prune_studio.ui.structured_panel import StructuredPanel

    class Net(keras.Model):
        def call(self, x):
            return x

    panel = StructuredPanel()
    qtbot.addWidget(panel)
    panel.set_ready(True)
    panel.set_context(Net())
    assert panel.table.rowCount() == 0 and not panel.has_removal()
    assert "subclassed" in panel.intro.text() and "zeroing weights still works" in panel.intro.text()
    assert not panel.shrink_button.isEnabled()
    assert panel.members() == {}


def test_a_structured_run_pauses_and_stops_like_any_run(qtbot, opened):
    w = opened
    panel = w.structured_panel
    show_tab(w, panel)  # the Channels tab fills when it is first shown
    panel.table.selectRow(_row(panel, "stem"))
    panel.slider.setValue(50)
    w.settings_panel.epochs.setValue(30)
    w.settings_panel.batch.setValue(32)
    with qtbot.waitSignal(w.run.batches, timeout=60_000):
        w.act_run.trigger()  # Run shrinks when a group is thinned
    w.act_pause.trigger()
    assert w.run.state == "paused"
    w.act_pause.trigger()
    assert w.run.state == "running"
    with qtbot.waitSignal(w.runFinished, timeout=60_000) as blocker:
        w.act_stop.trigger()
    assert blocker.args[0].stopped
    assert w.session.shrink.stopped and w.session.shrink.groups["stem"]["kept"] == 8
    assert w.session.current_model().get_layer("stem").filters == 8  # what Export writes
    assert panel.status.text().startswith("Stopped early") and panel.shrink_button.isEnabled()


def test_a_failing_structured_run_is_one_sentence(qtbot, opened, digits, tmp_path):
    w = opened
    x = digits["x_train"][:128].copy()
    x[:, 0, 0, 0] = np.nan  # missing values: the loss is NaN from the first batch
    bad = tmp_path / "with_nan.npz"
    np.savez(bad, x_train=x, y_train=digits["y_train"][:128], x_test=digits["x_test"][:32], y_test=digits["y_test"][:32])
    with qtbot.waitSignal(w.dataReady, timeout=60_000):
        w.load_data({"kind": "npz", "path": str(bad), "options": {}})
    panel = w.structured_panel
    show_tab(w, panel)  # the Channels tab fills when it is first shown
    panel.table.selectRow(_row(panel, "stem"))
    panel.slider.setValue(50)
    w.settings_panel.epochs.setValue(1)
    with qtbot.waitSignal(w.runFinished, timeout=120_000) as blocker:
        w.start_run()
    assert blocker.args[0] is None
    message = w.statusBar().currentMessage()
    assert message.startswith("Shrink: ") and "NaN" in message, message
    assert "Traceback" not in message and "\n" not in message
    assert w.status_text.text() == "Run failed" and not w.run.running and panel.shrink_button.isEnabled()


def test_the_demo_with_ticked_layers_and_a_thinned_group_removes_channels_and_zeroes_weights(qtbot, demo_as_opened):
    from prune_studio.ui.layer_tree_model import COL_ZEROS

    w = demo_as_opened
    panel = w.structured_panel
    show_tab(w, panel)  # the Channels tab fills when it is first shown
    panel.table.selectRow(_row(panel, "dense1"))
    panel.slider.setValue(50)
    w.settings_panel.epochs.setValue(2)  # ~80 steps: the schedules update their masks every 32
    w.settings_panel.batch.setValue(32)
    assert "Remove the Channels tab's channels" in w.act_run.toolTip()
    with qtbot.waitSignal(w.runFinished, timeout=180_000) as blocker:
        w.act_run.trigger()
    result = blocker.args[0]
    assert w.session.shrink.groups["dense1"] == {"size": 256, "kept": 128}
    model = w.session.current_model()
    assert model.get_layer("dense1").units == 128 and model.get_layer("digits").get_weights()[0].shape == (128, 10)
    kernel = model.get_layer("dense1").get_weights()[0]
    assert result.sparsity["dense1"] > 0.05 and (kernel == 0).mean() == pytest.approx(result.sparsity["dense1"], abs=0.01)
    assert not w.tree.isColumnHidden(COL_ZEROS)  # the ticked layers' zeros as well


def test_a_recipe_with_a_global_target_is_run_and_saved_as_written(qtbot, make_window, model_and_data, tmp_path):
    from prune_studio.data import DataSpec
    from prune_studio.pruning.plan import PruningPlan
    from prune_studio.recipe import Recipe, load_recipe, save_recipe
    from prune_studio.structured import StructuredSettings
    from prune_studio.training import TrainingSettings

    path, data = model_and_data
    target = StructuredSettings(mode="global", reduction=0.4, metric="flops")
    recipe = save_recipe(Recipe(model_path=str(path), data=DataSpec("npz", str(data)), plan=PruningPlan(),
                                training=TrainingSettings(epochs=1, batch_size=64), structured=target),
                         tmp_path / "global.json")
    w = make_window()
    with qtbot.waitSignal(w.dataReady, timeout=60_000):
        w.open_recipe(recipe)
    panel = w.structured_panel
    show_tab(w, panel)  # the Channels tab fills when it is first shown
    assert panel.settings() == target and panel.has_removal() and w.act_run.isEnabled()
    assert "40%" in panel.status.text() and panel.removal_problem() == ""
    assert load_recipe(w.save_recipe(tmp_path / "again.json")).structured == target  # nothing lost
    with qtbot.waitSignal(w.runFinished, timeout=180_000) as blocker:
        w.start_run()
    assert blocker.args[0] is not None and w.session.shrink.to_dict()["flops_reduction"] >= 0.35
    assert "until 40% of its FLOPs are gone" in w.log_panel.toPlainText()
    panel.table.selectRow(_row(panel, "stem"))
    panel.slider.setValue(50)  # a per-group choice replaces the recipe's target
    assert panel.global_target() is None and panel.settings().groups == {"stem": 0.5}

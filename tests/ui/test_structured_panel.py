"""The "Remove channels" tab: groups of the open model, a keep slider, live projected cost."""

import pytest

from prune_studio.compat import keras


def _model():
    L = keras.layers
    inp = L.Input((8, 8, 3))
    a = L.Conv2D(16, 3, padding="same", name="a")(inp)
    b = L.Conv2D(16, 3, padding="same", name="b")(L.ReLU()(a))
    x = L.Add(name="add")([a, b])
    x = L.LayerNormalization(name="norm")(L.Conv2D(16, 1, name="c")(x))
    return keras.Model(inp, L.Dense(3, name="out")(L.GlobalAveragePooling2D()(x)))


def test_slider_thins_the_selected_group_and_updates_the_projection(qtbot):
    from prune_studio.structured import StructuredSettings
    from prune_studio.ui.structured_panel import StructuredPanel

    panel = StructuredPanel()
    qtbot.addWidget(panel)
    panel.set_context(_model())
    names = [panel.table.item(r, 0).text() for r in range(panel.table.rowCount())]
    assert names == ["a", "c", "out"]
    assert panel.table.item(1, 2).text() == "fixed" and "norm" in panel.table.item(1, 0).toolTip()
    assert "norm" in panel.intro.text()
    panel.table.selectRow(0)
    assert panel.slider.isEnabled()
    with qtbot.waitSignal(panel.projectionChanged) as blocker:
        panel.slider.setValue(50)
    info = blocker.args[0]
    assert info["flops"] < info["flops_before"] and info["params"] < info["params_before"]
    assert panel.table.item(0, 2).text() == "8 of 16"
    assert "fewer" in panel.projection.text() and "x faster" in panel.projection.text()
    assert panel.settings() == StructuredSettings(mode="uniform", keep_ratio=1.0, groups={"a": 0.5})
    assert {k: len(v) for k, v in panel.selection().items()} == {"a": 8}
    panel.table.selectRow(1)  # a fixed group: nothing to move
    assert not panel.slider.isEnabled()


def test_a_subclassed_model_gets_a_sentence(qtbot):
    from prune_studio.ui.structured_panel import StructuredPanel

    class Net(keras.Model):
        def call(self, x):
            return x

    panel = StructuredPanel()
    qtbot.addWidget(panel)
    panel.set_context(Net())
    assert "subclassed" in panel.intro.text() and panel.table.rowCount() == 0


def test_the_window_has_a_remove_channels_tab_for_the_open_model(qtbot, demo_as_opened):
    window = demo_as_opened
    panel = window.structured_panel
    tabs = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert "Channels" in tabs
    # filled when first shown (on MobileNetV2 its table and projection were the open's longest stall)
    assert panel.table.rowCount() == 0 and window.tree_model.channel_groups() == {}
    from prune_studio.ui.layout import show_tab

    show_tab(window, panel)
    assert panel.table.rowCount() > 0 and window.tree_model.channel_groups() and "can be thinned" in panel.intro.text()
    # the groups were found in the worker that built the model, not on the GUI thread
    from prune_studio.ui.channel_analysis import analysed_in, graph_of

    model = window.session.loaded.model
    assert analysed_in(model).startswith("worker:") and panel.graph is graph_of(model)
    names = [panel.table.item(r, 0).text() for r in range(panel.table.rowCount())]
    first = next(r for r, n in enumerate(names) if panel.table.item(r, 2).text() != "fixed")
    panel.table.selectRow(first)
    with qtbot.waitSignal(panel.projectionChanged) as blocker:
        panel.slider.setValue(50)
    assert blocker.args[0]["flops"] < blocker.args[0]["flops_before"]


def test_the_channel_analysis_made_in_a_thread_is_the_one_the_tab_shows(qtbot):
    import threading

    from prune_studio.structured import StructureError
    from prune_studio.ui.channel_analysis import analysed_in, graph_of, prepare
    from prune_studio.ui.structured_panel import StructuredPanel

    model = _model()
    thread = threading.Thread(target=prepare, args=(model,), name="worker:test")
    thread.start()
    thread.join()
    assert analysed_in(model) == "worker:test"
    panel = StructuredPanel()
    qtbot.addWidget(panel)
    panel.set_context(model)
    assert panel.graph is graph_of(model) and panel.table.rowCount() == 3

    class Net(keras.Model):
        def call(self, x):
            return x

    net = Net()
    prepare(net)  # a model the analysis cannot follow: the reason is kept and raised again
    with pytest.raises(StructureError, match="subclassed"):
        graph_of(net)

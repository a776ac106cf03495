"""A 150-layer model in the window: blocks, search, filters, group toggles, live zeros."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from prune_studio.ui.layer_tree_model import COL_PRUNE, COL_ZEROS, NodeRole

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mobilenet_file(tmp_path_factory):
    from prune_studio.compat import keras

    path = tmp_path_factory.mktemp("mobilenet") / "mobilenet_v2.keras"
    keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), classes=10).save(path)
    return path


@pytest.fixture
def big(qtbot, make_window, mobilenet_file):
    w = make_window()
    with qtbot.waitSignal(w.modelReady, timeout=120_000):
        w.open_model(mobilenet_file)
    qtbot.waitUntil(lambda: not w.is_busy(), timeout=60_000)
    return w


def _visible_names(w, parent=None):
    from PySide6.QtCore import QModelIndex

    proxy = w.tree_proxy
    parent = parent or QModelIndex()
    names = []
    for row in range(proxy.rowCount(parent)):
        index = proxy.index(row, 0, parent)
        node = index.data(NodeRole)
        names.append(node.name)
        names += _visible_names(w, index)
    return names


def test_layers_are_grouped_by_block(big):
    w = big
    layers = w.tree_model.nodes()
    assert len(layers) > 150
    top = [w.tree_proxy.index(r, 0).data(NodeRole) for r in range(w.tree_proxy.rowCount())]
    assert len(top) < 40  # ~20 blocks plus a few lone layers, not 150 rows
    groups = {g.name: g for g in w.tree_model.groups()}
    assert {"block_1", "block_3", "block_16"} <= set(groups)
    assert all(child.name.startswith("block_3_") for child in groups["block_3"].children)
    assert w.tree.isExpanded(w.tree_proxy.mapFromSource(w.tree_model.group_index("block_3")))


def test_search_and_filters(qtbot, big):
    w = big
    qtbot.keyClicks(w.layer_search, "block_3_expand")
    shown = [n for n in _visible_names(w) if n != "block_3"]
    assert shown == ["block_3_expand", "block_3_expand_BN", "block_3_expand_relu"]
    w.layer_search.clear()
    w.layer_filter.setCurrentIndex(w.layer_filter.findData("prunable"))
    prunable = {n.name for n in w.tree_model.prunable_nodes()}
    shown = set(_visible_names(w)) - {g.name for g in w.tree_model.groups()}
    assert shown == prunable and len(prunable) > 50
    w.layer_filter.setCurrentIndex(w.layer_filter.findData("pruned"))
    assert set(_visible_names(w)) - {g.name for g in w.tree_model.groups()} == set()  # nothing ticked yet
    group = w.tree_model.group_index("block_5", COL_PRUNE)
    assert w.tree_model.setData(group, Qt.CheckState.Checked.value, Qt.ItemDataRole.CheckStateRole)
    pruned = set(_visible_names(w)) - {g.name for g in w.tree_model.groups()}
    inside = set(w.tree_model.group_prunable(group.internalPointer()))
    assert pruned == inside and inside and all(w.session.plans[n].enabled for n in inside)


def test_a_group_toggle_is_tristate(big):
    w = big
    model = w.tree_model
    group = model.group_index("block_2", COL_PRUNE)
    names = model.group_prunable(group.internalPointer())
    assert len(names) >= 3
    assert group.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Unchecked
    model.set_enabled(names[:1], True)
    assert group.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.PartiallyChecked
    assert model.setData(group, Qt.CheckState.Checked.value, Qt.ItemDataRole.CheckStateRole)
    assert group.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
    assert model.setData(group, Qt.CheckState.Unchecked.value, Qt.ItemDataRole.CheckStateRole)
    assert not any(model.is_enabled(n) for n in names)


def test_the_zeros_column_follows_a_run(qtbot, demo_as_opened):
    w = demo_as_opened
    w.settings_panel.epochs.setValue(1)
    w.settings_panel.batch.setValue(128)
    assert w.tree.isColumnHidden(COL_ZEROS)  # nothing to show before a run
    seen = []
    w.run.sparsity.connect(lambda *_a: seen.append(w.tree_model.index_of("dense1", COL_ZEROS).data()))
    with qtbot.waitSignal(w.runFinished, timeout=120_000) as blocker:
        w.start_run()
    result = blocker.args[0]
    assert seen and all(text.endswith("%") for text in seen)
    from prune_studio.ui.layer_tree_model import SparsityRole

    live = w.tree_model.index_of("dense1", COL_ZEROS).data(SparsityRole)
    assert live == pytest.approx(result.sparsity["dense1"], abs=0.05)
    assert w.tree.itemDelegateForColumn(COL_ZEROS) is not None and not w.tree.isColumnHidden(COL_ZEROS)


def test_what_you_act_on_and_what_a_layer_weighs_are_in_view_at_the_default_size(big):
    """At 1280x800, beside MobileNetV2's long indented names, no sideways scroll hides them."""
    from prune_studio.ui.layer_tree_model import COL_NAME, COL_PARAMS, COL_TARGET

    w = big
    w.resize(1280, 800)
    header = w.tree.header()
    viewport = w.tree.viewport().width()
    for column in (COL_NAME, COL_PRUNE, COL_TARGET, COL_PARAMS):
        assert not w.tree.isColumnHidden(column)
        right = header.sectionViewportPosition(column) + header.sectionSize(column)
        assert 0 <= header.sectionViewportPosition(column) and right <= viewport, (
            w.tree_model.headerData(column, Qt.Orientation.Horizontal), right, viewport)


def test_the_demo_shows_each_layer_s_schedule_without_a_sideways_scroll(qtbot, demo_as_opened):
    """At 1280x800, after a run (the Zeros now column in view too), a layer's schedule is on screen."""
    from prune_studio.ui.layer_tree_model import COL_SCHEDULE

    w = demo_as_opened
    w.resize(1280, 800)
    w.settings_panel.epochs.setValue(1)
    w.settings_panel.batch.setValue(128)
    with qtbot.waitSignal(w.runFinished, timeout=120_000):
        w.start_run()
    qtbot.waitUntil(lambda: not w.tree.isColumnHidden(COL_ZEROS))
    header, viewport = w.tree.header(), w.tree.viewport().width()
    for column in (COL_PRUNE, COL_ZEROS, COL_SCHEDULE):
        right = header.sectionViewportPosition(column) + header.sectionSize(column)
        assert right <= viewport, (w.tree_model.headerData(column, Qt.Orientation.Horizontal), right, viewport)


def test_columns_hidden_from_the_header_menu_stay_hidden_in_the_next_window(qtbot, make_window):
    from prune_studio.ui.layer_tree_model import COL_NAME, COL_SHAPE, COL_TYPE
    from prune_studio.ui.tree_columns import column_menu

    first = make_window()
    menu = column_menu(first.tree, first.settings_store)
    names = [a.text() for a in menu.actions() if a.isCheckable()]
    assert "Type" in names and "Output" in names and "Layer" not in names and "Prune" not in names
    next(a for a in menu.actions() if a.text() == "Type").setChecked(False)
    assert first.tree.isColumnHidden(COL_TYPE) and not first.tree.isColumnHidden(COL_SHAPE)

    second = make_window()  # a restart: the same settings file
    assert second.tree.isColumnHidden(COL_TYPE) and not second.tree.isColumnHidden(COL_NAME)
    again = column_menu(second.tree, second.settings_store)
    type_action = next(a for a in again.actions() if a.text() == "Type")
    assert not type_action.isChecked()
    type_action.setChecked(True)
    assert not second.tree.isColumnHidden(COL_TYPE)

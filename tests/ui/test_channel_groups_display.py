"""Which layers share a channel group, as the layer tree and the Channels tab show it."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QAbstractItemModelTester

from prune_studio.compat import keras
from prune_studio.models import describe_model
from prune_studio.structured import analyze
from prune_studio.ui.channel_membership import membership, tied_groups
from prune_studio.ui.layer_tree_model import COL_CHANNELS, LayerTreeModel

L = keras.layers


def two_residuals():
    """Two residual Adds tie stem, a_conv and b_conv; 'side' is concatenated, 'out' is the output."""
    inp = L.Input((8, 8, 3))
    stem = L.ReLU(name="stem_relu")(L.BatchNormalization(name="stem_bn")(L.Conv2D(16, 3, padding="same", name="stem")(inp)))
    a = L.Conv2D(16, 3, padding="same", name="a_conv")(stem)
    x = L.Add(name="add1")([stem, a])
    b = L.BatchNormalization(name="b_bn")(L.Conv2D(16, 1, name="b_conv")(x))
    x = L.Add(name="add2")([x, b])
    side = L.Conv2D(8, 1, name="side")(x)
    x = L.Concatenate(name="cat")([x, side])
    x = L.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inp, L.Dense(4, name="out")(x))


@pytest.fixture(scope="module")
def model():
    return two_residuals()


def test_membership_names_the_group_of_every_layer_and_who_ties_it(model):
    graph = analyze(model)
    members = membership(graph)
    for name in ("stem", "a_conv", "b_conv"):
        assert members[name].group == "stem" and members[name].makes
        assert set(members[name].producers) == {"stem", "a_conv", "b_conv"}
    assert members["stem_bn"].group == "stem" and not members["stem_bn"].makes  # follows the channels
    assert members["b_bn"].group == "stem"
    assert members["side"].group == "side" and not members["side"].tied
    assert members["out"].group == "out" and not members["out"].prunable
    assert [g.name for g in tied_groups(graph)] == ["stem"]
    assert members["a_conv"].cell() == "stem (3 tied)"
    assert members["out"].cell() == "out · fixed"
    sentence = members["a_conv"].sentence()
    assert "stem and b_conv" in sentence and "residual Add" in sentence and "\n" not in sentence
    assert "made by stem, a_conv and b_conv" in members["stem_bn"].sentence()
    assert "They stay:" in members["out"].sentence() and "output" in members["out"].sentence()


def test_kept_counts_show_in_the_cells(model):
    members = membership(analyze(model), {"stem": 8})
    assert members["b_conv"].cell() == "stem (3 tied) → 8/16"
    assert "keeps 8 of them" in members["b_conv"].sentence()
    assert members["side"].cell() == "side"


def test_the_tree_model_has_a_channel_group_column(qapp, model):
    tree = LayerTreeModel()
    QAbstractItemModelTester(tree, QAbstractItemModelTester.FailureReportingMode.Fatal)
    tree.set_description(describe_model(model))
    assert tree.headerData(COL_CHANNELS, Qt.Orientation.Horizontal) == "Channel group"
    assert tree.index_of("a_conv", COL_CHANNELS).data() == ""  # nothing known before the analysis
    tree.set_channel_groups(membership(analyze(model), {"stem": 8}))
    assert tree.index_of("a_conv", COL_CHANNELS).data() == "stem (3 tied) → 8/16"
    assert tree.index_of("stem_bn", COL_CHANNELS).data() == "stem (3 tied) → 8/16"
    assert tree.index_of("add1", COL_CHANNELS).data() == ""  # merges tie groups, they have none of their own
    tip = tree.index_of("a_conv", COL_CHANNELS).data(Qt.ItemDataRole.ToolTipRole)
    assert "shares its 16 output channels with stem and b_conv" in tip
    tree.set_description(describe_model(model))  # a new model: the old groups go
    assert tree.channel_groups() == {}


def test_the_channels_tab_lists_the_layers_each_group_ties(qtbot, model):
    from prune_studio.ui.structured_panel import StructuredPanel

    panel = StructuredPanel()
    qtbot.addWidget(panel)
    panel.set_context(model)
    rows = {panel.table.item(r, 0).text(): r for r in range(panel.table.rowCount())}
    ties = panel.table.item(rows["stem"], 3).text()
    assert ties.startswith("stem, a_conv, b_conv tied; also ") and "stem_bn" in ties
    assert "group(s) tie several layers" in panel.intro.text()
    with qtbot.waitSignal(panel.groupsSelected) as selected:
        panel.table.selectRow(rows["stem"])
    assert {"stem", "a_conv", "b_conv", "stem_bn", "b_bn"} <= set(selected.args[0])
    panel.set_context(model)  # the same model again (the window refreshes its panels): the choice stays
    panel.slider.setValue(50)
    panel.set_context(model)
    assert panel.kept_counts() == {"stem": 8}

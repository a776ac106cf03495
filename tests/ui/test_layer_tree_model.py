"""The layer tree model over a real model description, checked without any widget."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtTest import QAbstractItemModelTester

from prune_studio.models import describe_model, load_model
from prune_studio.ui.layer_tree_model import (
    COL_NAME,
    COL_PRUNE,
    COL_SCHEDULE,
    COL_TARGET,
    LayerTreeModel,
    NodeRole,
)


@pytest.fixture(scope="module")
def description(demo_model_file):
    return describe_model(load_model(demo_model_file).model, path=demo_model_file)


def _make_plan(name):
    from prune_studio.pruning.plan import LayerPlan
    from prune_studio.pruning.schedules import PolynomialDecay

    return LayerPlan(enabled=True, schedule=PolynomialDecay(0.25, 0.75, 0, 100, frequency=10))


def _row(model, name):
    index = model.index_of(name)
    assert index.isValid(), name
    return index.row(), index.parent()


def test_rows_follow_the_description(qapp, description):
    model = LayerTreeModel(make_plan=_make_plan)
    QAbstractItemModelTester(model, QAbstractItemModelTester.FailureReportingMode.Fatal)
    model.set_description(description, {})
    names = [model.index(r, COL_NAME).data() for r in range(model.rowCount())]
    assert names == [info.name for info in description.root.children]
    assert model.index(0, 0).data(NodeRole).info is description.root.children[0]


def test_unprunable_layer_is_not_checkable_and_says_why(qapp, description):
    model = LayerTreeModel(make_plan=_make_plan)
    model.set_description(description, {})
    blocked = next(info for info in description.layers() if not info.prunable)
    index = model.index_of(blocked.name, COL_PRUNE)
    assert not index.flags() & Qt.ItemFlag.ItemIsUserCheckable
    assert index.data(Qt.ItemDataRole.ToolTipRole) == blocked.reason
    assert not model.setData(index, Qt.CheckState.Checked.value, Qt.ItemDataRole.CheckStateRole)


def test_checking_a_layer_creates_and_toggles_its_plan(qapp, description):
    plans = {}
    model = LayerTreeModel(make_plan=_make_plan)
    QAbstractItemModelTester(model, QAbstractItemModelTester.FailureReportingMode.Fatal)
    model.set_description(description, plans)
    name = description.prunable_layers()[0].name
    index = model.index_of(name, COL_PRUNE)
    changed = []
    model.dataChanged.connect(lambda *a: changed.append(a))
    assert model.setData(index, Qt.CheckState.Checked.value, Qt.ItemDataRole.CheckStateRole)
    assert plans[name].enabled and changed
    assert index.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
    assert model.index_of(name, COL_TARGET).data() == "75%"
    assert model.index_of(name, COL_SCHEDULE).data() == "25→75% by 100"
    tip = model.index_of(name, COL_SCHEDULE).data(Qt.ItemDataRole.ToolTipRole)
    assert tip == "Start at 25% zeros at step 0, reach 75% by step 100, updating every 10 steps."
    assert model.setData(index, Qt.CheckState.Unchecked.value, Qt.ItemDataRole.CheckStateRole)
    assert not plans[name].enabled
    assert model.index_of(name, COL_TARGET).data() == ""


def test_enable_many_skips_unprunable(qapp, description):
    model = LayerTreeModel(make_plan=_make_plan)
    model.set_description(description, {})
    all_names = [info.name for info in description.layers()]
    changed = model.set_enabled(all_names, True)
    assert changed == len(description.prunable_layers())
    assert set(model.plans) == {info.name for info in description.prunable_layers()}
    assert model.index_of("no such layer") == QModelIndex()


def test_shapes_leave_out_the_batch_axis():
    from prune_studio.ui.layer_tree_model import shape_text

    assert shape_text([None, 8, 8, 32]) == "8×8×32"
    assert shape_text([[None, 4], [None, None, 3]]) == "4, ?×3"
    assert shape_text(None) == ""


def test_live_zeros_announce_only_the_cells_that_moved(qapp, description):
    from prune_studio.ui.layer_tree_model import COL_ZEROS, SparsityRole

    model = LayerTreeModel(make_plan=_make_plan)
    QAbstractItemModelTester(model, QAbstractItemModelTester.FailureReportingMode.Fatal)
    model.set_description(description, {})
    names = [info.name for info in description.layers() if info.prunable][:2]
    changed = []
    model.dataChanged.connect(lambda top, bottom: changed.append((top.data(NodeRole).name, bottom.data(NodeRole).name,
                                                                  top.column(), bottom.column())))
    model.set_live_sparsity({names[0]: 0.2, names[1]: 0.4})
    assert {(n, n, COL_ZEROS, COL_ZEROS) for n in names} <= set(changed)
    assert all(c[0] == c[1] and c[2] == c[3] == COL_ZEROS for c in changed)  # one cell each
    changed.clear()
    model.set_live_sparsity({names[0]: 0.201, names[1]: 0.5})  # under half a percent: not repainted
    assert [c[0] for c in changed if c[0] in names] == [names[1]]
    assert model.index_of(names[0], COL_ZEROS).data(SparsityRole) == 0.201
    changed.clear()
    model.set_live_sparsity({})  # a new run: both cells clear
    assert {c[0] for c in changed} >= set(names)
    assert model.index_of(names[1], COL_ZEROS).data(SparsityRole) is None


def test_the_same_sizes_again_repaint_nothing(qapp, description):
    model = LayerTreeModel(make_plan=_make_plan)
    model.set_description(description, {})
    name = next(info.name for info in description.layers() if info.prunable)
    changed = []
    model.dataChanged.connect(lambda *_args: changed.append(1))
    model.set_sizes({})  # a run that removed no channels, as every fine-tune ends
    assert changed == []
    model.set_sizes({name: ([None, 3], 7)})
    assert changed and model.params(model.index_of(name).data(NodeRole)) == 7
    changed.clear()
    model.set_sizes({name: ([None, 3], 7)})
    assert changed == []

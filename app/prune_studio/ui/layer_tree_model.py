"""The layer tree: a thin Qt item model over the core's model description and the plan.

:class:`LayerNode` is a plain Python tree built from a
:class:`~prune_studio.models.ModelDescription` (any object with the ``LayerInfo`` fields
works). :class:`LayerTreeModel` adapts it for a ``QTreeView`` and edits the pruning plan,
a ``dict`` of layer name -> ``LayerPlan``, through the prune check box.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt, Signal

from prune_studio.ui.layer_groups import group_layers

COLUMNS = ("Layer", "Type", "Output", "Parameters", "Prune", "Schedule", "Target", "Zeros now", "Channel group")
(COL_NAME, COL_TYPE, COL_SHAPE, COL_PARAMS, COL_PRUNE, COL_SCHEDULE, COL_TARGET, COL_ZEROS,
 COL_CHANNELS) = range(len(COLUMNS))
_COLUMN_COUNT = len(COLUMNS)
#: ``Qt.UserRole``: the :class:`LayerNode` of a row.
NodeRole = Qt.ItemDataRole.UserRole + 1
#: The share of zeros a layer has now during a run (float 0..1, or None): the mini-bar column.
SparsityRole = Qt.ItemDataRole.UserRole + 2
#: The roles :meth:`LayerTreeModel.data` answers.
_ROLES = frozenset({Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.CheckStateRole, Qt.ItemDataRole.ToolTipRole,
                    Qt.ItemDataRole.TextAlignmentRole, NodeRole, SparsityRole})


@dataclass(eq=False)
class LayerNode:
    """One layer of the tree; ``info`` is the core's ``LayerInfo`` (None for the root)."""

    info: Any
    parent: "LayerNode | None" = None
    children: list["LayerNode"] = field(default_factory=list)
    row: int = 0

    @classmethod
    def build(cls, root_info: Any) -> "LayerNode":
        """The tree for a model: an invisible root whose children are its layers."""
        root = cls(info=None)
        for child in group_layers(getattr(root_info, "children", []) or []):
            root._add(child)
        return root

    def _add(self, info: Any) -> None:
        node = LayerNode(info=info, parent=self, row=len(self.children))
        self.children.append(node)
        for child in group_layers(getattr(info, "children", []) or []):
            node._add(child)

    def __post_init__(self) -> None:
        #: A block of layers made by :func:`~prune_studio.ui.layer_groups.group_layers`.
        self.is_group = bool(getattr(self.info, "is_group", False))

    @property
    def name(self) -> str:
        return self.info.name

    def walk(self) -> Iterator["LayerNode"]:
        """This node's descendants, depth first (not the node itself)."""
        for child in self.children:
            yield child
            yield from child.walk()


def schedule_summary(layer_plan: Any, short: bool = True) -> str:
    """A layer's schedule in words: ``"50→80% by 1,000"`` (short) or a full sentence."""
    if layer_plan is None or not getattr(layer_plan, "enabled", False):
        return ""
    config = layer_plan.schedule.get_config()
    config = config.get("config", config)
    begin, end = config["begin_step"], config.get("end_step", -1)
    if getattr(layer_plan, "sparsity_m_by_n", None):
        m, n = layer_plan.sparsity_m_by_n
        return f"{m}:{n} from {begin:,}" if short else f"{m} zeros in every {n} weights from step {begin:,}"
    if "target_sparsity" in config:
        target = config["target_sparsity"]
        if short:
            return f"{target:.0%} from {begin:,}"
        until = "the end" if end is None or end < 0 else f"step {end:,}"
        text = f"Constant {target:.0%} zeros from step {begin:,} until {until}"
    else:
        start, final = config["initial_sparsity"], config["final_sparsity"]
        if short:
            return f"{100 * start:.0f}→{final:.0%} by {end:,}"
        text = f"Start at {start:.0%} zeros at step {begin:,}, reach {final:.0%} by step {end:,}"
    if tuple(getattr(layer_plan, "block_size", (1, 1)) or (1, 1)) != (1, 1):
        text += ", in blocks of {}×{}".format(*layer_plan.block_size)
    return text + f", updating every {config['frequency']:,} steps."


def shape_text(shape: Any) -> str:
    """``[None, 8, 8, 32]`` as ``8×8×32`` (the batch axis left out)."""
    if shape is None:
        return ""
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return ", ".join(shape_text(s) for s in shape)
    dims = list(shape)[1:] if shape and shape[0] is None else list(shape)
    return "×".join("?" if d is None else str(d) for d in dims) or "scalar"


def target_sparsity(layer_plan: Any) -> float | None:
    """The sparsity a layer's schedule ends at, or None when it is not pruned."""
    if layer_plan is None or not getattr(layer_plan, "enabled", False):
        return None
    if getattr(layer_plan, "sparsity_m_by_n", None):
        m, n = layer_plan.sparsity_m_by_n
        return 1.0 - m / n
    config = layer_plan.schedule.get_config()
    config = config.get("config", config)
    return float(config.get("target_sparsity", config.get("final_sparsity", 0.0)))


class LayerTreeModel(QAbstractItemModel):
    """Qt item model over a :class:`LayerNode` tree and a plan's ``layers`` dict.

    Args:
        make_plan: called with a layer name to create the ``LayerPlan`` of a layer the user
            switches on for the first time (it carries the current default schedule).
    """

    planChanged = Signal()

    def __init__(self, make_plan: Callable[[str], Any] | None = None, parent=None):
        super().__init__(parent)
        self._root = LayerNode(info=None)
        self._by_name: dict[str, LayerNode] = {}
        self._group_names: dict[int, list[str]] = {}
        self._live: dict[str, float] = {}
        self._plans: dict[str, Any] = {}
        self._channels: dict[str, Any] = {}  # layer -> channel_membership.Membership
        self._sizes: dict[str, tuple] = {}  # layer -> (output shape, params) of the model a shrink made
        self.locked = False  # during a run: nothing can be ticked
        self._make_plan = make_plan

    # --- content -------------------------------------------------------------------------
    def set_description(self, description: Any, plans: dict[str, Any] | None = None) -> None:
        """Show a model's layers; ``plans`` is the plan's ``layers`` dict (kept, not copied)."""
        self.beginResetModel()
        self._root = LayerNode.build(description.root)
        self._by_name = {n.name: n for n in self._root.walk() if not n.is_group}
        self._group_names: dict[int, list[str]] = {}
        self._plans = plans if plans is not None else {}
        self._live = {}
        self._channels = {}
        self._sizes = {}
        self.endResetModel()

    def set_sizes(self, sizes: dict[str, tuple]) -> None:
        """Per layer ``(output shape, parameters)`` of the smaller model a channel removal made.

        The Output and Parameters columns then show those (their tooltips the opened model's);
        an empty dict shows the opened model's again.
        """
        if dict(sizes) == self._sizes:  # every run's end says so again: no repaint of the whole tree
            return
        self._sizes = dict(sizes)
        self._emit_changed(self._root, COL_SHAPE, COL_PARAMS)

    def params(self, node: LayerNode) -> int:
        """Parameters of a layer (a group: of its layers) now, after a shrink when there was one."""
        if node.is_group:
            return sum(self.params(n) for n in node.children)
        size = self._sizes.get(node.name)
        return node.info.params if size is None else size[1]

    def set_channel_groups(self, members: dict[str, Any]) -> None:
        """Each layer's channel group (``channel_membership.membership``), for the group column."""
        old, self._channels = self._channels, dict(members)
        changed = [name for name in set(old) | set(self._channels)
                   if (old.get(name) is None) != (self._channels.get(name) is None)
                   or (old.get(name) is not None and old[name].cell() != self._channels[name].cell())]
        if len(changed) > 32:  # a new model: one pass over the tree
            self._emit_changed(self._root, COL_CHANNELS, COL_CHANNELS)
            return
        for name in changed:  # a slider step: only the thinned group's rows repaint
            index = self.index_of(name, COL_CHANNELS)
            if index.isValid():
                self.dataChanged.emit(index, index)

    def channel_groups(self) -> dict[str, Any]:
        """Layer name -> its channel group membership (empty before the analysis)."""
        return dict(self._channels)

    def channel_group(self, name: str) -> Any:
        """The :class:`~prune_studio.ui.channel_membership.Membership` of a layer, or None."""
        return self._channels.get(name)

    def set_live_sparsity(self, layers: dict[str, float]) -> None:
        """Each layer's share of zeros now (during a run), for the "Zeros now" column.

        Only the cells of layers whose value moved by half a percent or more (and of the groups
        holding them) are announced, one cell each: a range per group made the view and the
        filter proxy walk and repaint every row of MobileNetV2's tree (30-40 ms of GUI time,
        twice a second during a run); a cell each repaints only those cells.
        """
        layers = dict(layers)
        old, self._live = self._live, layers
        moved = [name for name in set(old) | set(layers)
                 if abs(layers.get(name, -1.0) - old.get(name, -1.0)) >= 0.005]
        rows: dict[int, LayerNode] = {}
        for name in moved:
            node = self._by_name.get(name)
            while node is not None and node is not self._root:
                if id(node) in rows:
                    break
                rows[id(node)] = node
                node = node.parent
        for node in rows.values():
            index = self.createIndex(node.row, COL_ZEROS, node)
            self.dataChanged.emit(index, index)

    def live_sparsity(self, node: LayerNode) -> float | None:
        if node.is_group:
            values = [self._live[n.name] for n in node.walk() if n.name in self._live]
            return sum(values) / len(values) if values else None
        return self._live.get(node.name)

    def group_prunable(self, node: LayerNode) -> list[str]:
        """The prunable layers inside a group."""
        names = self._group_names.get(id(node))
        if names is None:
            names = self._group_names[id(node)] = [n.name for n in node.walk() if not n.is_group and n.info.prunable]
        return names

    def rows_with_depth(self) -> Iterator[tuple[LayerNode, int]]:
        """Every row (groups too), depth first, with its depth (0 at the top)."""
        def walk(node: LayerNode, depth: int):
            for child in node.children:
                yield child, depth
                yield from walk(child, depth + 1)

        return walk(self._root, 0)

    def display_text(self, node: LayerNode, column: int) -> str:
        """What a cell shows."""
        return str(self._display(node, column) or "")

    def set_plans(self, plans: dict[str, Any]) -> None:
        """Replace the plan (e.g. a suggested or loaded one) and refresh the plan columns."""
        self._plans = plans
        self.refresh_plan_columns()

    @property
    def plans(self) -> dict[str, Any]:
        return self._plans

    def set_make_plan(self, make_plan: Callable[[str], Any]) -> None:
        self._make_plan = make_plan

    def nodes(self) -> list[LayerNode]:
        """Every layer node, depth first (not the groups)."""
        return [n for n in self._root.walk() if not n.is_group]

    def groups(self) -> list[LayerNode]:
        """Every group node, depth first."""
        return [n for n in self._root.walk() if n.is_group]

    def prunable_nodes(self) -> list[LayerNode]:
        return [n for n in self.nodes() if n.info.prunable]

    def index_of(self, name: str, column: int = 0) -> QModelIndex:
        """The index of the layer called ``name`` (invalid when there is none)."""
        node = self._by_name.get(name)
        return self.createIndex(node.row, column, node) if node is not None else QModelIndex()

    def group_index(self, name: str, column: int = 0) -> QModelIndex:
        """The index of the group called ``name`` (invalid when there is none)."""
        node = next((g for g in self.groups() if g.name == name), None)
        return self.createIndex(node.row, column, node) if node is not None else QModelIndex()

    def is_enabled(self, name: str) -> bool:
        plan = self._plans.get(name)
        return bool(plan is not None and plan.enabled)

    def set_enabled(self, names: list[str], enabled: bool) -> int:
        """Switch pruning on or off for the named prunable layers; returns how many changed."""
        changed = 0
        names = set(names)
        for node in self.nodes():
            if node.name not in names or not node.info.prunable or self.is_enabled(node.name) == enabled:
                continue
            plan = self._plans.get(node.name)
            if plan is None:
                if not enabled or self._make_plan is None:
                    continue
                plan = self._plans[node.name] = self._make_plan(node.name)
            plan.enabled = enabled
            changed += 1
        if changed:
            self.refresh_plan_columns()
        return changed

    def refresh_plan_columns(self) -> None:
        """Tell views the prune, schedule and target columns changed for every row."""
        self._emit_changed(self._root, COL_PRUNE, COL_TARGET)
        self.planChanged.emit()

    def _emit_changed(self, node: LayerNode, first: int, last: int) -> None:
        if node.children:
            top = self.createIndex(0, first, node.children[0])
            bottom = self.createIndex(len(node.children) - 1, last, node.children[-1])
            self.dataChanged.emit(top, bottom)
            for child in node.children:
                self._emit_changed(child, first, last)

    # --- QAbstractItemModel ----------------------------------------------------------------
    def _node(self, index: QModelIndex | QPersistentModelIndex) -> LayerNode:
        return index.internalPointer() if index.isValid() else self._root

    def index(self, row: int, column: int, parent=QModelIndex()) -> QModelIndex:
        # Called for every cell of every paint through the filter proxy (~1,400 times for a
        # full repaint of MobileNetV2's tree): kept to the fewest Python calls.
        children = (parent.internalPointer() if parent.isValid() else self._root).children
        if 0 <= row < len(children) and 0 <= column < _COLUMN_COUNT:
            return self.createIndex(row, column, children[row])
        return QModelIndex()

    def parent(self, index=QModelIndex()) -> QModelIndex:  # type: ignore[override]
        if not index.isValid():
            return QModelIndex()
        parent = index.internalPointer().parent
        if parent is None or parent is self._root:
            return QModelIndex()
        return self.createIndex(parent.row, 0, parent)

    def rowCount(self, parent=QModelIndex()) -> int:
        if parent.isValid() and parent.column() != 0:
            return 0
        return len(self._node(parent).children)

    def columnCount(self, parent=QModelIndex()) -> int:
        return len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def flags(self, index):
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        node = index.internalPointer()
        if index.column() == COL_PRUNE and not self.locked and (node.info.prunable or (node.is_group and self.group_prunable(node))):
            flags |= Qt.ItemFlag.ItemIsUserCheckable
        return flags

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        # A view asks each cell for about seven roles each paint (font, colours, decoration...):
        # those this model never sets are answered before any other work (a full repaint of
        # MobileNetV2's tree makes ~1,100 calls).
        if role not in _ROLES or not index.isValid():
            return None
        node: LayerNode = index.internalPointer()
        info, col = node.info, index.column()
        if role == NodeRole:
            return node
        if role == SparsityRole:
            return self.live_sparsity(node) if col == COL_ZEROS else None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(node, col)
        if node.is_group:
            return self._group_data(node, col, role)
        if role == Qt.ItemDataRole.CheckStateRole and col == COL_PRUNE and info.prunable:
            return Qt.CheckState.Checked if self.is_enabled(info.name) else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.ToolTipRole and col in (COL_SHAPE, COL_PARAMS) and info.name in self._sizes:
            before = shape_text(info.output_shape) if col == COL_SHAPE else f"{info.params:,} parameters"
            return f"After removing channels; the model as opened: {before}."
        if role == Qt.ItemDataRole.ToolTipRole and col == COL_CHANNELS:
            member = self._channels.get(info.name)
            return member.sentence() if member is not None else None
        if role == Qt.ItemDataRole.ToolTipRole:
            if not info.prunable:
                return info.reason or "This layer cannot be pruned."
            if col == COL_PRUNE:
                return "Tick to prune this layer's weights during fine-tuning."
            if col == COL_SCHEDULE:
                return schedule_summary(self._plans.get(info.name), short=False) or None
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (COL_PARAMS, COL_TARGET):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _group_data(self, node: LayerNode, col: int, role):
        names = self.group_prunable(node)
        if role == Qt.ItemDataRole.CheckStateRole and col == COL_PRUNE and names:
            on = sum(self.is_enabled(n) for n in names)
            return (Qt.CheckState.Checked if on == len(names) else
                    Qt.CheckState.Unchecked if on == 0 else Qt.CheckState.PartiallyChecked)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{len(node.children)} layers, {len(names)} of them prunable: tick to prune them all."
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (COL_PARAMS, COL_TARGET):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _display(self, node: LayerNode, col: int):
        info = node.info
        if node.is_group:
            if col == COL_PRUNE:
                return "" if self.group_prunable(node) else "—"
            if col == COL_ZEROS:
                value = self.live_sparsity(node)
                return "" if value is None else f"{value:.0%}"
            if col == COL_TARGET:
                on = sum(self.is_enabled(n) for n in self.group_prunable(node))
                return f"{on} pruned" if on else ""
            return {COL_NAME: info.name, COL_TYPE: info.type, COL_PARAMS: f"{self.params(node):,}"}.get(col, "")
        if col == COL_ZEROS:
            value = self._live.get(info.name)
            return "" if value is None else f"{value:.0%}"
        if col == COL_CHANNELS:
            member = self._channels.get(info.name)
            return member.cell() if member is not None else ""
        if col == COL_NAME:
            return info.name
        if col == COL_TYPE:
            return info.type
        if col == COL_SHAPE:
            size = self._sizes.get(info.name)
            return shape_text(info.output_shape if size is None or size[0] is None else size[0])
        if col == COL_PARAMS:
            return f"{self.params(node):,}"
        if col == COL_PRUNE:
            return "" if info.prunable else "—"
        plan = self._plans.get(info.name)
        if col == COL_SCHEDULE:
            return schedule_summary(plan)
        if col == COL_TARGET:
            target = target_sparsity(plan)
            return "" if target is None else f"{target:.0%}"
        return None

    def setData(self, index, value, role=Qt.ItemDataRole.EditRole) -> bool:
        if not index.isValid() or index.column() != COL_PRUNE or role != Qt.ItemDataRole.CheckStateRole or self.locked:
            return False
        checked = Qt.CheckState(value) == Qt.CheckState.Checked
        node = index.internalPointer()
        names = self.group_prunable(node) if node.is_group else [node.name]
        return self.set_enabled(names, checked) > 0

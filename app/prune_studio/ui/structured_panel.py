"""The "Channels" tab: channel groups, a keep-ratio slider per group, projected cost, Shrink.

Zeroing weights (the layer list's Prune column) makes files smaller; removing whole channels
makes the model faster. This panel lists the coupled channel groups of the open model
(``prune_studio.structured.analyze``) with the layers each one ties, lets the user choose how
much of each group to keep (one slider acts on the selected groups: below 100% the group's
channels are removed), and shows the parameters and FLOPs the smaller model would have, computed
from the channel graph without building it (a few milliseconds, so it follows the slider live).
``settings()`` returns the choice as the recipe's ``StructuredSettings``; "Shrink and fine-tune"
asks the window to run it (the window's Run does the same once a group is thinned).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPushButton, QSlider,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from prune_studio.ui.channel_membership import membership

COLUMNS = ("Group", "Channels", "Keep", "Layers it ties")
#: kept channel counts are multiples of this (XNNPack runs multiples of 8 fastest)
ROUND_TO = 8


def target_words(settings) -> str:
    """A global target in words: ``"until 40% of its FLOPs are gone"``."""
    if settings.metric == "latency":
        if getattr(settings, "target_latency_ms", None):
            return f"until it runs in {settings.target_latency_ms:g} ms per sample (measured)"
        return f"until its measured latency is {settings.reduction:.0%} lower"
    what = {"flops": "FLOPs", "params": "parameters"}.get(settings.metric, settings.metric)
    return f"until {settings.reduction:.0%} of its {what} are gone"


def ties_text(group) -> str:
    """``"stem, a_conv, b_conv, c_conv tied; also stem_bn, a_bn, inner, …"`` for a table cell."""
    others = [name for name in group.layers if name not in group.producers]
    head = ", ".join(group.producers) + (" tied" if len(group.producers) > 1 else "")
    if not others:
        return head
    shown = others[:6] + (["…"] if len(others) > 6 else [])
    return f"{head}; also {', '.join(shown)}"


class StructuredPanel(QWidget):
    """Per-group keep ratios with live projected parameters and FLOPs, and a Shrink button.

    Signals:
        projectionChanged(object): a dict ``{"params", "flops", "params_before", "flops_before"}``
            (the text beside it adds the speed-up FLOPs alone would give, as an estimate).
        ratiosChanged(): a group's keep ratio changed (the window updates its tree and Run).
        groupsSelected(list): the layers of the selected groups (the window selects them in its tree).
        shrinkRequested(): the user pressed "Shrink and fine-tune".
    """

    projectionChanged = Signal(object)
    ratiosChanged = Signal()
    groupsSelected = Signal(list)
    shrinkRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._model = None
        self._graph = None
        self._cost = None
        self._before = None
        self._ratios: dict[str, float] = {}
        self._global = None  # a recipe's global-mode settings, run as written until a group is edited
        self._running = False
        self._ready, self._not_ready = False, ""
        layout = QVBoxLayout(self)
        self.intro = QLabel("Open a model to see which channels can be removed together.")
        self.intro.setWordWrap(True)
        layout.addWidget(self.intro)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.table.horizontalHeader()
        for c in range(len(COLUMNS) - 1):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        layout.addWidget(self.table, 1)
        row = QHBoxLayout()
        self.slider_label = QLabel("Keep 100% of the selected groups' channels")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(5, 100)
        self.slider.setValue(100)
        self.slider.setEnabled(False)
        self.slider.setToolTip("Below 100% the selected groups' least important channels (smallest L1 norm) are removed.")
        self.slider.valueChanged.connect(self._slider_moved)
        row.addWidget(self.slider_label)
        row.addWidget(self.slider, 1)
        layout.addLayout(row)
        self.projection = QLabel("")
        self.projection.setObjectName("structuredProjection")
        self.projection.setWordWrap(True)
        layout.addWidget(self.projection)
        actions = QHBoxLayout()
        self.reset_button = QPushButton("Keep all channels")
        self.reset_button.setToolTip("Set every group back to 100%: the run only zeroes weights.")
        self.reset_button.clicked.connect(self.clear)
        self.shrink_button = QPushButton("Shrink and fine-tune")
        self.shrink_button.setToolTip("Remove the chosen channels, then fine-tune the smaller model with the "
                                      "'Data and training' settings (and zero the ticked layers' weights).")
        self.shrink_button.clicked.connect(self.shrinkRequested)
        actions.addWidget(self.reset_button)
        actions.addStretch(1)
        actions.addWidget(self.shrink_button)
        layout.addLayout(actions)
        self.status = QLabel("")
        self.status.setObjectName("structuredStatus")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self._update_buttons()

    # --- context -------------------------------------------------------------------------
    def set_context(self, model) -> None:
        """Show ``model``'s channel groups (a tf-keras model already loaded, so TensorFlow is imported).

        The window's worker has analysed the model by now (``ui.channel_analysis``); a model it
        has not is analysed here.

        The same model again (the window refreshes its panels after data loads and runs) keeps
        the user's choice.
        """
        if model is self._model and model is not None:
            return
        from prune_studio.structured.cost import CostModel
        from prune_studio.structured.groups import StructureError
        from prune_studio.ui.channel_analysis import graph_of

        self._model = model
        self._ratios.clear()
        self._global = None
        self.table.setRowCount(0)
        self.status.setText("")
        try:
            self._graph = graph_of(model)  # made in the window's model/data worker when it opened the model
        except StructureError as exc:
            self._graph = None
            self.intro.setText(f"{exc} Channels cannot be removed from this model; zeroing weights still works.")
            self.projection.setText("")
            self._update_buttons()
            self.ratiosChanged.emit()
            return
        self._cost = CostModel(self._graph)
        self._before = self._cost.cost()
        groups = self._graph.groups
        self.table.setRowCount(len(groups))
        for i, g in enumerate(groups):
            cells = (g.name, str(g.size), "all" if g.prunable else "fixed", ties_text(g))
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if not g.prunable:
                    item.setToolTip(g.reason)
                    item.setForeground(Qt.GlobalColor.gray)
                elif j == 3:
                    item.setToolTip(f"Removing a channel of '{g.name}' changes: {', '.join(g.layers)}.")
                self.table.setItem(i, j, item)
        skipped = len(self._graph.skipped)
        tied = sum(1 for g in groups if len(g.producers) > 1)
        self.intro.setText(
            f"{len(self._graph.prunable_groups())} of {len(groups)} channel groups can be thinned; each group's "
            "channels go together"
            + (f" ({tied} group(s) tie several layers, e.g. through a residual Add)." if tied else ".")
            + " Select groups and move the slider below 100% to remove channels."
            + (f" {skipped} layer(s) are left alone: " + "; ".join(f"{k}: {v}" for k, v in self._graph.skipped.items())
               if skipped else "")
        )
        self._update_projection()
        self._update_buttons()
        self.ratiosChanged.emit()

    @property
    def model(self):
        """The model last analysed (None before any)."""
        return self._model

    @property
    def graph(self):
        """The open model's :class:`~prune_studio.structured.groups.ChannelGraph` (None when it has none)."""
        return self._graph

    def members(self) -> dict:
        """Layer name -> :class:`~prune_studio.ui.channel_membership.Membership` with the kept counts."""
        return membership(self._graph, self.kept_counts()) if self._graph is not None else {}

    # --- interaction ---------------------------------------------------------------------
    def selected_groups(self) -> list[str]:
        if self._graph is None:
            return []
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        return [self._graph.groups[r].name for r in rows if self._graph.groups[r].prunable]

    def select_groups(self, names: list[str]) -> None:
        """Select the named groups' rows (the window does so for the layers picked in its tree)."""
        if self._graph is None:
            return
        wanted = set(names)
        self.table.clearSelection()
        mode = self.table.selectionMode()
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        for row, group in enumerate(self._graph.groups):
            if group.name in wanted:
                self.table.selectRow(row)
        self.table.setSelectionMode(mode)

    def _selection_changed(self) -> None:
        names = self.selected_groups()
        self.slider.setEnabled(bool(names) and not self._running)
        if names:
            self.slider.blockSignals(True)
            self.slider.setValue(round(100 * self._ratios.get(names[0], 1.0)))
            self.slider.blockSignals(False)
            self._label()
        if self._graph is not None:
            rows = sorted({i.row() for i in self.table.selectedIndexes()})
            layers = [name for r in rows for name in self._graph.groups[r].layers]
            self.groupsSelected.emit(list(dict.fromkeys(layers)))

    def _label(self) -> None:
        self.slider_label.setText(f"Keep {self.slider.value()}% of the selected groups' channels")

    def set_keep_ratio(self, names: list[str], ratio: float) -> None:
        """Keep ``ratio`` of each named group's channels (1.0 leaves a group whole)."""
        if self._global is not None and names:  # the user's per-group choice replaces the recipe's target
            self._global = None
            self.status.setText("")
        for name in names:
            group = self._graph.group(name)
            if ratio >= 1.0:
                self._ratios.pop(name, None)
            else:
                self._ratios[name] = ratio
            self._show_keep(self._graph.groups.index(group))
        self._update_projection()
        self._update_buttons()
        self.ratiosChanged.emit()

    def _show_keep(self, row: int) -> None:
        group = self._graph.groups[row]
        kept = self.kept_counts().get(group.name)
        item = self.table.item(row, 2)
        item.setText("all" if kept is None else f"{kept} of {group.size}")
        if kept is not None and kept >= group.size:
            item.setToolTip(f"{self._ratios[group.name]:.0%} of {group.size} rounds up to all {group.size} channels: "
                            f"kept counts are multiples of {ROUND_TO}.")
        else:
            item.setToolTip("")

    def clear(self) -> None:
        """Keep every channel (the run then only zeroes weights)."""
        if self._graph is None or not (self._ratios or self._global):
            return
        self._ratios.clear()
        self._global = None
        self.status.setText("")
        for row in range(len(self._graph.groups)):
            if self._graph.groups[row].prunable:
                self._show_keep(row)
        self.slider.blockSignals(True)
        self.slider.setValue(100)
        self.slider.blockSignals(False)
        self._label()
        self._update_projection()
        self._update_buttons()
        self.ratiosChanged.emit()

    def _slider_moved(self, value: int) -> None:
        self._label()
        self.set_keep_ratio(self.selected_groups(), value / 100)

    def kept_counts(self) -> dict[str, int]:
        """Group name -> channels kept, for each group set below 100%."""
        from prune_studio.structured.importance import round_keep

        if self._graph is None:
            return {}
        return {name: round_keep(self._graph.group(name).size, r, ROUND_TO) for name, r in self._ratios.items()}

    def has_removal(self) -> bool:
        """True when the choice removes at least one channel (or a recipe's global target is kept)."""
        if self._graph is not None and self._global is not None and not self._ratios:
            return True
        return self._graph is not None and any(
            kept < self._graph.group(name).size for name, kept in self.kept_counts().items())

    def removal_problem(self) -> str:
        """Why the choice cannot shrink anything, as one sentence ("" when it can)."""
        if self.has_removal():
            return ""
        if self._graph is None:
            return self.intro.text() if self._model is not None else "Open a model first."
        if not self._ratios:
            return "Choose a channel group in the Channels tab and move the slider below 100% to remove channels."
        if not self.has_removal():
            name, ratio = next(iter(self._ratios.items()))
            size = self._graph.group(name).size
            return (f"Keeping {ratio:.0%} of group '{name}' rounds up to all its {size} channels (kept counts are "
                    f"multiples of {ROUND_TO}); move the slider lower or choose a bigger group.")
        return ""

    def selection(self) -> dict:
        """Group name -> kept channel indices, the most important (L1) ones first."""
        from prune_studio.structured.importance import channel_importance, select_uniform

        if self._graph is None or not self._ratios:
            return {}
        ratios = {g.name: self._ratios.get(g.name, 1.0) for g in self._graph.prunable_groups()}
        return select_uniform(self._graph, channel_importance(self._graph, "l1"), 1.0, ratios, ROUND_TO)

    def settings(self):
        """The choice as the recipe's ``StructuredSettings`` (uniform mode, per-group ratios)."""
        from prune_studio.structured.settings import StructuredSettings

        if self._global is not None and not self._ratios:
            return self._global
        return StructuredSettings(mode="uniform", keep_ratio=1.0, groups=dict(self._ratios), round_to=ROUND_TO)

    def global_target(self):
        """The recipe's global-mode settings the next run uses as written (None when groups are set here)."""
        return self._global if not self._ratios else None

    def apply_settings(self, settings) -> None:
        """Show a recipe's ``StructuredSettings`` (uniform mode: its ratios; global mode: a sentence)."""
        if self._graph is None or settings is None:
            return
        self._global = settings if settings.mode != "uniform" else None
        if self._global is not None:
            self.status.setText(f"The recipe removes the least important channels across the model "
                                f"{target_words(settings)}: Run does so. "
                                "Moving a group's slider replaces it with your per-group choice.")
        names = {g.name for g in self._graph.prunable_groups()}
        ratios = {n: settings.keep_ratio for n in names} if settings.mode == "uniform" and settings.keep_ratio < 1 else {}
        ratios.update({n: r for n, r in settings.groups.items() if n in names})
        self._ratios = {n: r for n, r in ratios.items() if r < 1} if self._global is None else {}
        for row, group in enumerate(self._graph.groups):
            if group.prunable:
                self._show_keep(row)
        self._update_projection()
        self._update_buttons()
        self.ratiosChanged.emit()

    # --- runs ----------------------------------------------------------------------------
    def set_running(self, running: bool) -> None:
        """Lock the choice while a run uses it."""
        self._running = running
        self.slider.setEnabled(not running and bool(self.selected_groups()))
        self._update_buttons()

    def set_ready(self, ready: bool, reason: str = "") -> None:
        """Whether the window could start a run now (model and data loaded)."""
        self._ready, self._not_ready = ready, reason
        self._update_buttons()

    def show_result(self, shrink) -> None:
        """What a structured run did: ``shrink`` is its ``ShrinkResult``."""
        data = shrink.to_dict()
        before, after = data["before"], data["after"]
        thinned = [f"{name} {g['kept']}/{g['size']}" for name, g in data["groups"].items() if g["kept"] < g["size"]]
        word = "Stopped early" if data.get("stopped") else "Done"
        named = ", ".join(thinned[:4]) + (f" and {len(thinned) - 4} more groups" if len(thinned) > 4 else "")
        self.status.setText(
            f"{word}: {named or 'no group'} channels kept; parameters {before['params']:,} → "
            f"{after['params']:,}, {before['flops'] / 1e6:,.2f} → {after['flops'] / 1e6:,.2f} MFLOPs per sample "
            f"({data['flops_reduction']:.0%} fewer). Export it in the Export tab."
        )

    def _update_buttons(self) -> None:
        ready = self._ready
        can = self.has_removal() and ready and not self._running
        self.shrink_button.setEnabled(can)
        self.reset_button.setEnabled(bool(self._ratios or self._global) and not self._running)
        if self._running:
            self.shrink_button.setToolTip("A run is in progress.")
        else:
            why = self.removal_problem() or ("" if ready else self._not_ready or "Load data first.")
            self.shrink_button.setToolTip(why or "Remove the chosen channels, then fine-tune the smaller model with "
                                                 "the 'Data and training' settings.")

    def _update_projection(self) -> None:
        if self._graph is None:
            return
        after = self._cost.cost(self._graph.keep_nodes(self._projected_selection()))
        before = self._before
        info = {"params": after.params, "flops": after.flops, "params_before": before.params,
                "flops_before": before.flops}
        cut = 1 - after.flops / before.flops if before.flops else 0.0
        speed = (f" If run time follows FLOPs, about {before.flops / after.flops:.1f}x faster; the Results tab "
                 "measures each exported file." if after.flops and cut > 0.005 else "")
        self.projection.setText(
            f"Projected: {after.params:,} parameters (was {before.params:,}), "
            f"{after.flops / 1e6:,.2f} MFLOPs per sample (was {before.flops / 1e6:,.2f}, {cut:.0%} fewer).{speed}"
        )
        self.projectionChanged.emit(info)

    def _projected_selection(self) -> dict:
        # counts are all the projection needs: keep the first k channels of each thinned group
        return {name: list(range(k)) for name, k in self.kept_counts().items()}

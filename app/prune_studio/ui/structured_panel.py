"""The "Remove channels" tab: channel groups, a keep-ratio slider per group, projected cost.

Zeroing weights makes files smaller; removing whole channels makes the model faster. This panel
lists the coupled channel groups of the open model (``prune_studio.structured.analyze``), lets
the user choose how much of each group to keep (one slider acts on the selected groups), and
shows the parameters and FLOPs the smaller model would have, computed from the channel graph
without building it (a few milliseconds, so it follows the slider live). ``settings()`` returns
the choice as the recipe's ``StructuredSettings``.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QLabel, QSlider, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

COLUMNS = ("Group", "Channels", "Keep", "Layers")


class StructuredPanel(QWidget):
    """Per-group keep ratios with live projected parameters and FLOPs.

    Signals:
        projectionChanged(object): a dict ``{"params", "flops", "params_before", "flops_before"}``.
    """

    projectionChanged = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._graph = None
        self._cost = None
        self._before = None
        self._ratios: dict[str, float] = {}
        layout = QVBoxLayout(self)
        self.intro = QLabel("Open a model to see which channels can be removed together.")
        self.intro.setWordWrap(True)
        layout.addWidget(self.intro)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        layout.addWidget(self.table, 1)
        row = QHBoxLayout()
        self.slider_label = QLabel("Keep 100% of the selected groups' channels")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(5, 100)
        self.slider.setValue(100)
        self.slider.setEnabled(False)
        self.slider.valueChanged.connect(self._slider_moved)
        row.addWidget(self.slider_label)
        row.addWidget(self.slider, 1)
        layout.addLayout(row)
        self.projection = QLabel("")
        self.projection.setObjectName("structuredProjection")
        self.projection.setWordWrap(True)
        layout.addWidget(self.projection)

    # --- context -------------------------------------------------------------------------
    def set_context(self, model) -> None:
        """Analyse ``model`` (a tf-keras model already loaded, so TensorFlow is imported)."""
        from prune_studio.structured.cost import CostModel
        from prune_studio.structured.groups import StructureError, analyze

        self._ratios.clear()
        self.table.setRowCount(0)
        try:
            self._graph = analyze(model)
        except StructureError as exc:
            self._graph = None
            self.intro.setText(str(exc))
            self.projection.setText("")
            return
        self._cost = CostModel(self._graph)
        self._before = self._cost.cost()
        groups = self._graph.groups
        self.table.setRowCount(len(groups))
        for i, g in enumerate(groups):
            cells = (g.name, str(g.size), "100%" if g.prunable else "fixed", ", ".join(g.layers[:6]))
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if not g.prunable:
                    item.setToolTip(g.reason)
                    item.setForeground(Qt.GlobalColor.gray)
                self.table.setItem(i, j, item)
        skipped = len(self._graph.skipped)
        self.intro.setText(
            f"{len(self._graph.prunable_groups())} of {len(groups)} channel groups can be thinned; each group's "
            "channels go together (residual adds tie layers)."
            + (f" {skipped} layer(s) are left alone: " + "; ".join(f"{k}: {v}" for k, v in self._graph.skipped.items())
               if skipped else "")
        )
        self._update_projection()

    # --- interaction ---------------------------------------------------------------------
    def selected_groups(self) -> list[str]:
        if self._graph is None:
            return []
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        return [self._graph.groups[r].name for r in rows if self._graph.groups[r].prunable]

    def _selection_changed(self) -> None:
        names = self.selected_groups()
        self.slider.setEnabled(bool(names))
        if names:
            self.slider.blockSignals(True)
            self.slider.setValue(round(100 * self._ratios.get(names[0], 1.0)))
            self.slider.blockSignals(False)
            self._label()

    def _label(self) -> None:
        self.slider_label.setText(f"Keep {self.slider.value()}% of the selected groups' channels")

    def set_keep_ratio(self, names: list[str], ratio: float) -> None:
        """Keep ``ratio`` of each named group's channels (1.0 leaves a group whole)."""
        from prune_studio.structured.importance import round_keep

        for name in names:
            group = self._graph.group(name)
            if ratio >= 1.0:
                self._ratios.pop(name, None)
            else:
                self._ratios[name] = ratio
            row = self._graph.groups.index(group)
            kept = round_keep(group.size, ratio, 8) if ratio < 1 else group.size
            self.table.item(row, 2).setText(f"{kept} of {group.size}")
        self._update_projection()

    def _slider_moved(self, value: int) -> None:
        self._label()
        self.set_keep_ratio(self.selected_groups(), value / 100)

    def selection(self) -> dict:
        """Group name -> kept channel indices, the most important (L1) ones first."""
        from prune_studio.structured.importance import channel_importance, select_uniform

        if self._graph is None or not self._ratios:
            return {}
        ratios = {g.name: self._ratios.get(g.name, 1.0) for g in self._graph.prunable_groups()}
        return select_uniform(self._graph, channel_importance(self._graph, "l1"), 1.0, ratios, 8)

    def settings(self):
        """The choice as the recipe's ``StructuredSettings`` (uniform mode, per-group ratios)."""
        from prune_studio.structured.settings import StructuredSettings

        return StructuredSettings(mode="uniform", keep_ratio=1.0, groups=dict(self._ratios))

    def _update_projection(self) -> None:
        if self._graph is None:
            return
        after = self._cost.cost(self._graph.keep_nodes(self._projected_selection()))
        before = self._before
        info = {"params": after.params, "flops": after.flops, "params_before": before.params,
                "flops_before": before.flops}
        cut = 1 - after.flops / before.flops if before.flops else 0.0
        self.projection.setText(
            f"Projected: {after.params:,} parameters (was {before.params:,}), "
            f"{after.flops / 1e6:,.2f} MFLOPs per sample (was {before.flops / 1e6:,.2f}, {cut:.0%} fewer)."
        )
        self.projectionChanged.emit(info)

    def _projected_selection(self) -> dict:
        # counts are all the projection needs: keep the first k channels of each thinned group
        from prune_studio.structured.importance import round_keep

        return {name: list(range(round_keep(self._graph.group(name).size, r, 8))) for name, r in self._ratios.items()}

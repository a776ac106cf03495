"""What the layer tree shows of a big model: a search, a filter, and live zeros as mini-bars.

:class:`LayerFilterProxy` sits between :class:`~prune_studio.ui.layer_tree_model.LayerTreeModel`
and the view: a layer shows when its name contains the search text and it passes the filter
(all, prunable only, pruned only); a group shows when any layer inside does. The "Zeros now"
column is drawn by :class:`SparsityBarDelegate` as a small bar with the percentage.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QRectF, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QStyledItemDelegate

from prune_studio.ui.layer_tree_model import NodeRole, SparsityRole

FILTERS = (("all", "All layers"), ("prunable", "Prunable only"), ("pruned", "Pruned only"))


class LayerFilterProxy(QSortFilterProxyModel):
    """Filters layers by name and by ``mode`` (``all``, ``prunable``, ``pruned``)."""

    def __init__(self, source, parent=None):
        super().__init__(parent)
        self._text = ""
        self._mode = "all"
        self.setSourceModel(source)
        self.setRecursiveFilteringEnabled(True)  # a group stays while a layer inside matches
        source.planChanged.connect(self._plan_changed)

    def set_search(self, text: str) -> None:
        self.beginFilterChange()
        self._text = text.strip().lower()
        self._end_filter_change()

    def set_mode(self, mode: str) -> None:
        self.beginFilterChange()
        self._mode = mode
        self._end_filter_change()

    def _end_filter_change(self) -> None:
        # Qt 6.10's replacement for invalidateFilter() (deprecated): the rows are filtered anew.
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    @property
    def mode(self) -> str:
        return self._mode

    def _plan_changed(self) -> None:
        if self._mode == "pruned":
            self.beginFilterChange()
            self._end_filter_change()

    def filterAcceptsRow(self, row: int, parent: QModelIndex) -> bool:  # noqa: N802 - Qt override
        if not self._text and self._mode == "all":
            return True
        source = self.sourceModel()
        node = source.index(row, 0, parent).data(NodeRole)
        if node is None or node.is_group:
            return not self._text and self._mode == "all"  # otherwise shown through its children
        if self._text and self._text not in node.name.lower():
            return False
        if self._mode == "prunable":
            return bool(node.info.prunable)
        if self._mode == "pruned":
            return source.is_enabled(node.name)
        return True


class SparsityBarDelegate(QStyledItemDelegate):
    """A mini-bar of the share of zeros a layer has now, with the percentage beside it."""

    def paint(self, painter, option, index) -> None:
        value = index.data(SparsityRole)
        if value is None:
            super().paint(painter, option, index)
            return
        self.initStyleOption(option, index)
        style = option.widget.style() if option.widget else None
        if style is not None:  # selection and alternating background, without the text
            option.text = ""
            style.drawControl(style.ControlElement.CE_ItemViewItem, option, painter, option.widget)
        rect = QRectF(option.rect).adjusted(3, 5, -38, -5)
        painter.save()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor("#d7dde5"))
        painter.drawRoundedRect(rect, 2, 2)
        filled = QRectF(rect)
        filled.setWidth(rect.width() * max(0.0, min(1.0, float(value))))
        painter.setBrush(QColor("#1e8e3e"))
        painter.drawRoundedRect(filled, 2, 2)
        painter.setPen(option.palette.color(option.palette.ColorRole.Text))
        text_rect = QRectF(option.rect).adjusted(option.rect.width() - 36, 0, 0, 0)
        painter.drawText(text_rect, int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), f"{value:.0%}")
        painter.restore()

    def sizeHint(self, option, index):  # noqa: N802 - Qt override
        hint = super().sizeHint(option, index)
        hint.setWidth(max(hint.width(), 96))
        return hint

"""A layout for headline cards: equal columns, wrapped into rows, each row as tall as its tallest card.

A card wraps its text, so how tall it must be depends on how wide it is (Qt's
``heightForWidth``). In a grid whose rows took the cards' size hints, the narrowest cards were
given less height than their wrapped numbers needed and cut them off. Here every card gets the
same width, as many cards share a row as fit at :attr:`CardFlowLayout.min_card_width` (at most
:attr:`CardFlowLayout.max_columns`), rows are balanced (six cards make 3 + 3, not 5 + 1), and
each row is as tall as its tallest card needs at that width.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtWidgets import QLayout, QLayoutItem, QWidget


def _height(item: QLayoutItem, width: int) -> int:
    """How tall ``item`` must be at ``width``."""
    height = item.heightForWidth(width) if item.hasHeightForWidth() else item.sizeHint().height()
    return max(height, item.minimumSize().height())


class CardFlowLayout(QLayout):
    """Cards in rows of equal columns; see the module docstring.

    Example::

        layout = CardFlowLayout(box, max_columns=5, min_card_width=190)
        for card in cards:
            layout.addWidget(card)
    """

    def __init__(self, parent: QWidget | None = None, max_columns: int = 5, min_card_width: int = 190, spacing: int = 8):
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self.max_columns = max_columns
        self.min_card_width = min_card_width
        self.setSpacing(spacing)

    # --- QLayout's item list ----------------------------------------------------------------
    def addItem(self, item: QLayoutItem) -> None:  # noqa: N802 - Qt override
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:  # noqa: N802 - Qt override
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:  # noqa: N802 - Qt override
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    # --- sizes ------------------------------------------------------------------------------
    def set_min_card_width(self, width: int) -> None:
        """The narrowest a card may be before fewer cards share a row."""
        if width != self.min_card_width:
            self.min_card_width = width
            self.invalidate()

    def columns(self, width: int) -> int:
        """How many cards share a row when the layout is ``width`` pixels wide (rows balanced)."""
        shown = len(self._shown())
        if not shown:
            return 0
        spacing = self.spacing()
        fit = max(1, (width + spacing) // (self.min_card_width + spacing))
        per_row = min(fit, self.max_columns, shown)
        rows = math.ceil(shown / per_row)
        return math.ceil(shown / rows)

    def expandingDirections(self) -> Qt.Orientation:  # noqa: N802 - Qt override
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt override
        # Not announced to Qt: a scroll area then sized the whole results page to the preferred
        # height of everything on it (charts included) and pushed the charts below the fold.
        # setGeometry sets the box's minimum height to what the cards need instead.
        return False

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt override
        """The height the cards need at ``width``."""
        return self._arrange(QRect(0, 0, width, 0), apply=False)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        margins = self.contentsMargins()
        n = min(len(self._shown()), self.max_columns)
        width = n * self.min_card_width + max(0, n - 1) * self.spacing() + margins.left() + margins.right()
        return QSize(width, self.heightForWidth(width))

    def minimumSize(self) -> QSize:  # noqa: N802 - Qt override
        margins = self.contentsMargins()
        return QSize(self.min_card_width + margins.left() + margins.right(), 0)

    def setGeometry(self, rect: QRect) -> None:  # noqa: N802 - Qt override
        super().setGeometry(rect)
        needed = self._arrange(rect, apply=True)
        box = self.parentWidget()
        if box is not None and box.minimumHeight() != needed:
            box.setMinimumHeight(needed)  # the box is laid out again, at least this tall

    # --- placing ----------------------------------------------------------------------------
    def _shown(self) -> list[QLayoutItem]:
        return [item for item in self._items if not item.isEmpty()]  # a hidden widget's item is empty

    def _arrange(self, rect: QRect, apply: bool) -> int:
        """Place the cards in ``rect`` (when ``apply``); returns the height they take."""
        margins = self.contentsMargins()
        area = rect.adjusted(margins.left(), margins.top(), -margins.right(), -margins.bottom())
        items = self._shown()
        if not items:
            return 0
        per_row = self.columns(area.width())
        spacing = self.spacing()
        width = max(1, (area.width() - (per_row - 1) * spacing) // per_row)
        y = area.y()
        for start in range(0, len(items), per_row):
            row = items[start:start + per_row]
            height = max(_height(item, width) for item in row)
            if apply:
                for column, item in enumerate(row):
                    item.setGeometry(QRect(area.x() + column * (width + spacing), y, width, height))
            y += height + spacing
        return y - spacing - rect.y() + margins.bottom()

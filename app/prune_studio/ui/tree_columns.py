"""Which columns the layer tree shows: their order, and the ones the user chose to hide.

Right-clicking the tree's header lists the columns a user may hide (the layer name and its
Prune tick always stay, and the Zeros now and Channel group columns come and go with a run and
the Channels tab). The choice is remembered in the settings file and respected by every part
of the window that shows or hides columns (:func:`set_shown`).
"""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMenu, QTreeView

from prune_studio.ui.layer_tree_model import (COL_CHANNELS, COL_NAME, COL_PARAMS, COL_PRUNE, COL_SCHEDULE,
                                              COL_SHAPE, COL_TARGET, COL_TYPE, COL_ZEROS, COLUMNS)
from prune_studio.ui.user_settings import as_list

#: Left to right: what you act on, what a layer weighs and its schedule, then what describes it.
#: At 1280x800 the first ones stay in view beside MobileNetV2's long indented names.
ORDER = (COL_NAME, COL_PRUNE, COL_TARGET, COL_ZEROS, COL_CHANNELS, COL_PARAMS, COL_SCHEDULE, COL_TYPE, COL_SHAPE)
#: The columns the header's menu lets a user hide.
OPTIONAL = (COL_TARGET, COL_PARAMS, COL_SCHEDULE, COL_TYPE, COL_SHAPE)
#: The columns the Channels tab hides while it shows each layer's channel group in their place.
CHANNELS_TAB_HIDES = (COL_TARGET, COL_SCHEDULE, COL_PARAMS)
_KEY = "tree/hidden_columns"


def user_hidden(store: QSettings) -> set[int]:
    """The columns the user hid, from the settings file."""
    return {COLUMNS.index(name) for name in as_list(store.value(_KEY, [])) if name in COLUMNS
            and COLUMNS.index(name) in OPTIONAL}


def set_user_hidden(store: QSettings, columns: set[int]) -> None:
    store.setValue(_KEY, [COLUMNS[c] for c in sorted(columns)])
    store.sync()


def set_shown(tree: QTreeView, store: QSettings, column: int, shown: bool) -> None:
    """Show ``column`` when the window wants it and the user has not hidden it."""
    tree.setColumnHidden(column, not shown or column in user_hidden(store))


def show_channel_groups(tree: QTreeView, store: QSettings, on: bool) -> None:
    """The Channels tab's view of the tree: the group column in place of :data:`CHANNELS_TAB_HIDES`."""
    tree.setColumnHidden(COL_CHANNELS, not on)
    for column in CHANNELS_TAB_HIDES:
        set_shown(tree, store, column, not on)


def arrange(tree: QTreeView, store: QSettings) -> None:
    """Put the columns in :data:`ORDER` and hide the ones the user hid."""
    header = tree.header()
    for visual, column in enumerate(ORDER):
        header.moveSection(header.visualIndex(column), visual)
    for column in user_hidden(store):
        tree.setColumnHidden(column, True)
    header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
    header.customContextMenuRequested.connect(lambda pos: column_menu(tree, store).exec(header.mapToGlobal(pos)))


def column_menu(tree: QTreeView, store: QSettings) -> QMenu:
    """The header's menu: a tick per optional column."""
    menu = QMenu(tree)
    menu.addSection("Columns")
    hidden = user_hidden(store)
    for column in OPTIONAL:
        action = menu.addAction(COLUMNS[column])
        action.setCheckable(True)
        action.setChecked(column not in hidden)
        action.toggled.connect(lambda on, c=column: _toggle(tree, store, c, on))
    return menu


def _toggle(tree: QTreeView, store: QSettings, column: int, shown: bool) -> None:
    hidden = user_hidden(store)
    hidden = hidden - {column} if shown else hidden | {column}
    set_user_hidden(store, hidden)
    channels_tab = not tree.isColumnHidden(COL_CHANNELS) and column in CHANNELS_TAB_HIDES
    set_shown(tree, store, column, not channels_tab)


__all__ = ["CHANNELS_TAB_HIDES", "OPTIONAL", "ORDER", "arrange", "column_menu", "set_shown", "show_channel_groups",
           "user_hidden"]

"""Builds the main window's widgets, actions, menus and shortcuts, and keeps them in step.

Kept apart from :mod:`prune_studio.ui.main_window` (behaviour) so each stays readable.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QItemSelection, QItemSelectionModel, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QComboBox,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QStyle,
    QSplitter,
    QTabWidget,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from prune_studio.ui import presentation, tree_columns
from prune_studio.ui.banner import Banner
from prune_studio.ui.charts import ChartPanel
from prune_studio.ui.layer_filter import FILTERS, LayerFilterProxy, SparsityBarDelegate
from prune_studio.ui.layer_tree_model import (COL_CHANNELS, COL_NAME, COL_PRUNE, COL_ZEROS,
                                            LayerTreeModel)
from prune_studio.ui.log_panel import LogPanel
from prune_studio.ui.plan_stats import summary_text
from prune_studio.ui.results_view import ResultsView
from prune_studio.ui.schedule_editor import ScheduleEditor
from prune_studio.ui.settings_panel import SettingsPanel
from prune_studio.ui.user_settings import recent_files
from prune_studio.ui.weights_view import WeightsView

log = logging.getLogger(__name__)


def _optional_panel(module: str, name: str):
    """The export/scan panel class when its module exists (they are built separately)."""
    try:
        mod = __import__(f"prune_studio.ui.{module}", fromlist=[name])
        return getattr(mod, name)
    except ImportError as exc:
        log.info("%s is not available: %s", name, exc)
        return None


def _action(window, text: str, slot, shortcut=None, tip: str = "", icon=None) -> QAction:
    action = QAction(text, window)
    if icon is not None:
        action.setIcon(window.style().standardIcon(icon))
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    label = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
    action.setToolTip(f"{tip or text} ({label})" if label else (tip or text))
    action.setStatusTip(tip or text)
    action.triggered.connect(lambda _checked=False: slot())
    window.addAction(action)
    return action


def _scroll(widget: QWidget) -> QScrollArea:
    """``widget`` in a frameless scroll area, so its minimum size never widens the window."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    area.setWidget(widget)
    return area


def _search_row(w) -> QHBoxLayout:
    """Search box, filter, and expand/collapse buttons over the layer tree."""
    w.layer_search = QLineEdit()
    w.layer_search.setPlaceholderText("Search layers (Ctrl+F)")
    w.layer_search.setClearButtonEnabled(True)
    w.layer_search.textChanged.connect(lambda text: (w.tree_proxy.set_search(text), text and w.tree.expandAll()))
    w.layer_filter = QComboBox()
    for key, label in FILTERS:
        w.layer_filter.addItem(label, key)
    w.layer_filter.setToolTip("Show every layer, only those that can be pruned, or only those you ticked.")
    w.layer_filter.currentIndexChanged.connect(lambda _i: (w.tree_proxy.set_mode(w.layer_filter.currentData()), w.tree.expandAll()))
    expand, collapse = QPushButton("Expand all"), QPushButton("Collapse all")
    expand.clicked.connect(w.tree.expandAll)
    collapse.clicked.connect(w.tree.collapseAll)
    row = QHBoxLayout()
    row.addWidget(w.layer_search, 1)
    row.addWidget(w.layer_filter)
    row.addWidget(expand)
    row.addWidget(collapse)
    return row


def build(w) -> None:
    """Create every widget of the main window ``w`` and attach them as attributes."""
    w.setAcceptDrops(True)
    w.setDockOptions(w.dockOptions() | w.DockOption.AnimatedDocks)
    w.tree_model = LayerTreeModel(make_plan=w._new_layer_plan, parent=w)
    w.tree_proxy = LayerFilterProxy(w.tree_model, w)
    w.tree = QTreeView()
    w.tree.setModel(w.tree_proxy)
    w.tree.setItemDelegateForColumn(COL_ZEROS, SparsityBarDelegate(w.tree))
    w.tree.setAlternatingRowColors(True)
    w.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    w.tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    w.tree.setUniformRowHeights(True)
    # Columns are fitted once per fill or plan change (fit_tree_columns): ResizeToContents
    # re-measured every row at each layout, which made a 170-row tree take a second to expand.
    w.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    w.tree.header().setStretchLastSection(False)
    w.tree.setColumnHidden(COL_ZEROS, True)  # shown once a run reports zeros
    w.tree.setColumnHidden(COL_CHANNELS, True)  # shown once the model's channel groups are known
    tree_columns.arrange(w.tree, w.settings_store)  # order, the user's hidden columns, the header's menu
    w.global_target = QDoubleSpinBox()
    w.global_target.setRange(1, 99)
    w.global_target.setValue(80)
    w.global_target.setSuffix(" % zeros")
    w.global_target.setToolTip("Target used for newly ticked layers, and for every pruned layer when you press Apply.")
    apply_target = QPushButton("Apply to all")
    apply_target.setToolTip("Set every pruned layer's target to this share of zeros.")
    apply_target.clicked.connect(w.apply_global_target)
    prune_all = QPushButton("Prune all")
    prune_all.setToolTip("Tick every layer that can be pruned (Ctrl+Shift+A).")
    prune_all.clicked.connect(w.prune_all_prunable)
    same_type = QPushButton("Select type")
    same_type.setToolTip("Select every layer of the selected layer's type, to edit them together.")
    same_type.clicked.connect(w.select_same_type)
    buttons = QHBoxLayout()
    buttons.addWidget(prune_all)
    buttons.addWidget(same_type)
    buttons.addStretch(1)
    buttons.addWidget(QLabel("Target"))
    buttons.addWidget(w.global_target)
    buttons.addWidget(apply_target)
    w.summary = QLabel("Open a model (Ctrl+O) or the demo (Ctrl+D) to start.")
    w.summary.setObjectName("summaryBar")
    w.summary.setWordWrap(True)
    left = QWidget()
    left_layout = QVBoxLayout(left)
    left_layout.setContentsMargins(6, 6, 0, 6)
    left_layout.addLayout(buttons)
    left_layout.addLayout(_search_row(w))
    left_layout.addWidget(w.tree, 1)
    left_layout.addWidget(w.summary)

    w.editor = ScheduleEditor()
    w.weights = WeightsView()
    w.editor.plots.addWidget(w.weights, 1)
    w.settings_panel = SettingsPanel()
    w.charts = ChartPanel()
    export_cls, scan_cls = _optional_panel("export_panel", "ExportPanel"), _optional_panel("scan_panel", "ScanPanel")
    w.export_panel = export_cls() if export_cls else None
    w.scan_panel = scan_cls() if scan_cls else None
    w.tabs = QTabWidget()
    w.tabs.addTab(w.editor, "Schedule")
    w.tabs.addTab(_scroll(w.settings_panel), "Data && training")
    w.tabs.addTab(w.charts, "Live charts")
    if w.scan_panel is not None:
        w.tabs.addTab(_scroll(w.scan_panel), "Sensitivity scan")
    if w.export_panel is not None:
        w.tabs.addTab(_scroll(w.export_panel), "Export")
    w.results = ResultsView()
    w.tabs.addTab(_scroll(w.results), "Results")
    structured_cls = _optional_panel("structured_panel", "StructuredPanel")  # remove whole channels
    w.structured_panel = structured_cls() if structured_cls else None
    if w.structured_panel is not None:
        w.tabs.addTab(w.structured_panel, "Channels")
    w.tabs.currentChanged.connect(lambda _i: show_layer_list(w, not wide_tab(w)))
    splitter = QSplitter(Qt.Orientation.Horizontal)
    splitter.addWidget(left)
    splitter.addWidget(w.tabs)
    splitter.setStretchFactor(0, 1)
    splitter.setStretchFactor(1, 1)
    w.splitter = splitter
    w.layer_pane = left
    central = QWidget()
    w.central_layout = QVBoxLayout(central)
    w.central_layout.setContentsMargins(0, 0, 0, 0)
    w.central_layout.setSpacing(0)
    w.central_layout.addWidget(splitter, 1)
    w.setCentralWidget(central)

    # The warning banner sits at the top of the log dock, over the log's lines: showing it there
    # relays out the dock only. Above the splitter it shrank the tree and the four charts, and
    # the relayout and repaint of the whole window took ~70 ms of GUI time (MobileNetV2's tree).
    w.log_panel = LogPanel()
    w.banner = Banner()
    w.log_dock = QDockWidget("Log", w)
    w.log_dock.setObjectName("logDock")
    dock_body = QWidget()
    w.dock_layout = QVBoxLayout(dock_body)
    w.dock_layout.setContentsMargins(0, 0, 0, 0)
    w.dock_layout.setSpacing(0)
    w.dock_layout.addWidget(w.banner)
    w.dock_layout.addWidget(w.log_panel, 1)
    w.log_dock.setWidget(dock_body)
    w.log_dock.visibilityChanged.connect(lambda _shown: place_banner(w))
    w.log_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable | QDockWidget.DockWidgetFeature.DockWidgetMovable)
    w.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, w.log_dock)
    w.resizeDocks([w.log_dock], [110], Qt.Orientation.Vertical)

    w.status_text = QLabel("Ready")
    w.busy = QProgressBar()
    w.busy.setRange(0, 0)
    w.busy.setMaximumWidth(120)
    w.busy.setVisible(False)
    w.progress = QProgressBar()
    w.progress.setMinimumWidth(360)
    w.progress.setVisible(False)
    w.statusBar().addWidget(w.status_text, 1)
    w.statusBar().addPermanentWidget(w.progress)
    w.statusBar().addPermanentWidget(w.busy)
    _build_actions(w)


def _build_actions(w) -> None:
    w.act_open = _action(w, "&Open model…", lambda: _ask_open(w), QKeySequence.StandardKey.Open, "Open a Keras model file")
    w.act_demo = _action(w, "Open &demo", w.open_demo, "Ctrl+D", "Open the built-in digits model and data")
    w.act_open_recipe = _action(w, "Open &recipe…", lambda: _ask_open_recipe(w), "Ctrl+Shift+O", "Open a saved recipe")
    w.act_save = _action(w, "&Save recipe…", w.save_recipe, QKeySequence.StandardKey.Save, "Save model, plan and settings as a recipe")
    w.act_quit = _action(w, "&Quit", w.close, QKeySequence.StandardKey.Quit)
    pix = QStyle.StandardPixmap
    w.act_run = _action(w, "Run", w.start_run, "Ctrl+R", "Fine-tune with pruning", pix.SP_MediaPlay)
    w.act_pause = _action(w, "Pause", w.toggle_pause, "Ctrl+P", "Pause or resume the run", pix.SP_MediaPause)
    w.act_stop = _action(w, "Stop", w.stop_run, "Ctrl+.", "Stop the run after the current batch", pix.SP_MediaStop)
    w.act_prune_all = _action(w, "Prune all prunable", w.prune_all_prunable, "Ctrl+Shift+A")
    w.act_same_type = _action(w, "Select same type", w.select_same_type, "Ctrl+T")
    w.act_find = _action(w, "Find layer", lambda: (w.layer_search.setFocus(), w.layer_search.selectAll()), QKeySequence.StandardKey.Find)
    w.act_log = w.log_dock.toggleViewAction()
    w.act_log.setShortcut(QKeySequence("Ctrl+L"))
    menu = w.menuBar().addMenu("&File")
    for act in (w.act_open, w.act_demo, w.act_open_recipe):
        menu.addAction(act)
    w.recent_menu = menu.addMenu("Open recent")
    menu.addSeparator()
    menu.addAction(w.act_save)
    menu.addSeparator()
    menu.addAction(w.act_quit)
    edit = w.menuBar().addMenu("&Layers")
    edit.addAction(w.act_prune_all)
    edit.addAction(w.act_same_type)
    edit.addAction(w.act_find)
    run = w.menuBar().addMenu("&Run")
    for act in (w.act_run, w.act_pause, w.act_stop):
        run.addAction(act)
    view = w.menuBar().addMenu("&View")
    view.addAction(w.act_log)
    presentation.setup(w)
    view.addAction(w.act_present)
    view.addSeparator()
    for i, title in enumerate(["Schedule", "Data and training", "Live charts"]):
        view.addAction(_action(w, title, lambda i=i: w.tabs.setCurrentIndex(i), f"Ctrl+{i + 1}"))
    bar = w.addToolBar("Main")
    bar.setObjectName("mainToolBar")
    bar.setMovable(False)
    bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    for act in (w.act_open, w.act_demo, w.act_open_recipe, w.act_save):
        bar.addAction(act)
    bar.addSeparator()
    for act in (w.act_run, w.act_pause, w.act_stop):
        bar.addAction(act)
    fill_recent_menu(w)


def _ask_open(w) -> None:
    path, _ = QFileDialog.getOpenFileName(w, "Open a Keras model", "", "Keras models (*.keras *.h5 *.hdf5);;All files (*)")
    if path:
        w.open_model(path)


def _ask_open_recipe(w) -> None:
    path, _ = QFileDialog.getOpenFileName(w, "Open a recipe", "", "Recipe (*.json)")
    if path:
        w.open_recipe(path)


def fill_recent_menu(w) -> None:
    w.recent_menu.clear()
    recent = recent_files(w.settings_store)
    for path in recent:
        w.recent_menu.addAction(Path(path).name, lambda p=path: w.open_model(p)).setToolTip(path)
    w.recent_menu.setEnabled(bool(recent))


def update_actions(w) -> None:
    """Enable what makes sense in the current state (loading, idle, running, paused)."""
    s = w.session
    running = w.run.running
    loading = bool(w._loaders)
    has_plan = any(p.enabled for p in s.plans.values())
    ready = s.loaded is not None and s.dataset is not None and not loading
    structured = w.structured_wanted()
    w.act_run.setEnabled(ready and (has_plan or structured) and not running)
    w.act_run.setToolTip("Remove the Channels tab's channels, then fine-tune (Ctrl+R)" if structured
                         else "Fine-tune with pruning (Ctrl+R)")
    if getattr(w, "structured_panel", None) is not None:
        w.structured_panel.set_running(running)
        w.structured_panel.set_ready(ready, "Load data in the 'Data and training' tab first." if s.dataset is None
                                     else "Wait until the model and data have loaded.")
    w.act_pause.setEnabled(running and w.run.state in ("running", "paused"))
    w.act_pause.setText("Resume" if w.run.state == "paused" else "Pause")
    w.act_stop.setEnabled(running and w.run.state != "stopping")
    w.act_save.setEnabled(s.loaded is not None)
    for act in (w.act_open, w.act_demo, w.act_open_recipe):
        act.setEnabled(not running and not loading)
    w.tree_model.locked = running  # the tree still scrolls, to follow each layer's zeros
    w.editor.setEnabled(not running)
    w.settings_panel.setEnabled(not running)
    if not ready and not running and s.loaded is not None and s.dataset is None and not loading:
        w.status_text.setText("Load data in the 'Data and training' tab to run.")


def fit_panes(w) -> None:
    """Give the layer tree about half the width (enough for all its columns at 1280 px)."""
    width = w.splitter.width() or w.width()
    left = max(560, int(width * 0.48))
    w.splitter.setSizes([left, max(1, width - left)])


def update_summary(w) -> None:
    if w.session.description is not None:
        w.summary.setText(summary_text(w.session.description, w.session.plans))


def show_tab(w, widget: QWidget) -> None:
    """Bring forward the tab that holds ``widget`` (some pages wrap their panel in a scroll area)."""
    for i in range(w.tabs.count()):
        page = w.tabs.widget(i)
        if page is widget or page.isAncestorOf(widget):
            w.tabs.setCurrentIndex(i)
            return


def select_names(w, names: list[str]) -> None:
    """Select the rows of the named layers in the tree."""
    selection = QItemSelection()
    for name in names:
        index = w.tree_proxy.mapFromSource(w.tree_model.index_of(name))
        if index.isValid():
            selection.select(index, index)
    flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
    w.tree.selectionModel().select(selection, flags)


def wide_tab(w) -> bool:
    """True when the current tab uses the whole width (the export and its results)."""
    page = w.tabs.currentWidget()
    return page is not None and any(p is not None and (page is p or page.isAncestorOf(p)) for p in (w.export_panel, w.results))


def place_banner(w) -> None:
    """Put the warning banner where it shows without moving the panes: the top of the log dock.

    With the log dock closed (or in presentation mode) it goes above the panes instead, the one
    case where showing it relays the window out.
    """
    layout = w.dock_layout if not w.log_dock.isHidden() else w.central_layout
    if layout.indexOf(w.banner) < 0:
        shown = w.banner.isVisibleTo(w.banner.parentWidget()) if w.banner.parentWidget() else False
        layout.insertWidget(0, w.banner)
        w.banner.setVisible(shown)


def show_layer_list(w, shown: bool) -> None:
    """Show or collapse the layer list beside the tabs."""
    w.layer_pane.setVisible(shown)


def fit_tree_columns(w, columns=None) -> None:
    """Size the layer tree's columns to their text (after a fill or a plan change).

    Measured from the model's strings with the view's font metrics: Qt's own
    ResizeToContents asks every cell for every role, ~12,000 calls for MobileNetV2.
    ``columns`` limits the fit to those (a plan change refits only the plan's columns, and a
    width the user dragged elsewhere stays); each distinct string is measured once.
    """
    model, tree = w.tree_model, w.tree
    metrics = tree.fontMetrics()
    header = tree.header()
    columns = list(range(model.columnCount())) if columns is None else list(columns)
    widths = {c: header.sectionSizeFromContents(c).width() for c in columns}
    check = tree.style().pixelMetric(QStyle.PixelMetric.PM_IndicatorWidth) + 8
    indent = tree.indentation()
    advance: dict[str, int] = {}
    for node, depth in model.rows_with_depth():
        for c in columns:
            text = model.display_text(node, c)
            extra = (depth + 1) * indent if c == COL_NAME else (check if c == COL_PRUNE else 0)
            if not text and not extra:
                continue
            width = advance.get(text)
            if width is None:
                width = advance[text] = metrics.horizontalAdvance(text)
            widths[c] = max(widths[c], width + 14 + extra)
    if COL_ZEROS in widths:
        widths[COL_ZEROS] = max(widths[COL_ZEROS], 96)
    for c, width in widths.items():
        header.resizeSection(c, width)

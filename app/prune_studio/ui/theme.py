"""Light and dark themes that follow the system colour scheme.

The style sheets live in ``resources/style/{light,dark}.qss``; pyqtgraph gets matching
background and foreground colours so charts blend in. The palette follows the system
(``QStyleHints.colorScheme``) and switches live when the system changes; charts already on
screen are recoloured then, since pyqtgraph reads its colour options only when an item is made.
A chart that keeps its own colours (the export panel's, which is also saved into reports) sets
the widget property :data:`KEEP_COLOURS`.
"""

from __future__ import annotations

import logging

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from prune_studio.resources import resource_path

log = logging.getLogger(__name__)

#: Chart colours per theme: background, foreground, and a cycle of line colours.
CHART_COLOURS = {
    "light": {"bg": "#ffffff", "fg": "#3b4452", "grid": 60},
    "dark": {"bg": "#181a1e", "fg": "#c9d1dc", "grid": 80},
}
#: Widget property that keeps a chart out of theme recolouring.
KEEP_COLOURS = "pruneStudioKeepColours"
LINE_COLOURS = ["#2f6fd6", "#e8710a", "#1e8e3e", "#d93025", "#9334e6", "#12b5cb", "#b06000", "#e52592"]


def show_grid(plot, x: bool = False, y: bool = False, alpha: float = 0.3) -> None:
    """Grid lines on ``plot`` (a PlotWidget or PlotItem) at its major and first minor ticks.

    pyqtgraph's finest tick level adds dozens of lines so faint they are hardly seen, and they
    made every repaint of a chart cost ~15 ms here (3.8 ms without them).
    """
    plot.showGrid(x=x, y=y, alpha=alpha)
    for side, shown in (("bottom", x), ("left", y)):
        if shown:
            plot.getAxis(side).setStyle(maxTickLevel=1)


def system_scheme() -> str:
    """``"dark"`` when the platform reports a dark colour scheme, else ``"light"``."""
    hints = QGuiApplication.styleHints()
    scheme = hints.colorScheme() if hints is not None else Qt.ColorScheme.Unknown
    return "dark" if scheme == Qt.ColorScheme.Dark else "light"


def current_scheme() -> str:
    """The scheme last applied with :func:`apply_theme` (``"light"`` before any)."""
    app = QApplication.instance()
    return (app.property("pruneStudioScheme") if app else None) or "light"


def apply_theme(app: QApplication, scheme: str | None = None) -> str:
    """Apply the light or dark style sheet (the system's choice when ``scheme`` is None)."""
    scheme = scheme or system_scheme()
    app.setStyle("Fusion")
    app.setPalette(_palette(scheme))
    try:
        qss = resource_path("style", f"{scheme}.qss").read_text(encoding="utf-8")
    except OSError:
        log.warning("style sheet for the %s theme is missing; using Qt defaults", scheme)
        qss = ""
    app.setStyleSheet(qss)
    colours = CHART_COLOURS[scheme]
    pg.setConfigOptions(background=colours["bg"], foreground=colours["fg"], antialias=False)
    app.setProperty("pruneStudioScheme", scheme)
    _recolour_charts(app, colours)
    return scheme


def _recolour_charts(app: QApplication, colours: dict) -> None:
    """Give the charts on screen the theme's background, axes and (default-coloured) labels."""
    for widget in app.allWidgets():
        if not isinstance(widget, pg.GraphicsView) or widget.property(KEEP_COLOURS):
            continue
        widget.setBackground(colours["bg"])
        for item in widget.scene().items():
            if isinstance(item, pg.AxisItem):
                item.setPen(colours["fg"])
                item.setTextPen(colours["fg"])
            elif isinstance(item, pg.LabelItem) and item.opts.get("color") is None:
                item.setText(item.text)  # a label without a colour of its own takes the new default


def follow_system(app: QApplication) -> None:
    """Re-apply the theme whenever the system switches between light and dark."""
    hints = QGuiApplication.styleHints()
    if hints is not None:
        hints.colorSchemeChanged.connect(lambda _scheme: apply_theme(app))


def _palette(scheme: str) -> QPalette:
    """Fusion's palette for the scheme, so check boxes and other native bits match the QSS."""
    if scheme != "dark":
        return QApplication.style().standardPalette()
    p = QPalette()
    role = QPalette.ColorRole
    for r, colour in ((role.Window, "#1f2227"), (role.WindowText, "#e3e6ea"), (role.Base, "#15171b"),
                      (role.AlternateBase, "#20232a"), (role.Text, "#e3e6ea"), (role.Button, "#2c3139"),
                      (role.ButtonText, "#e3e6ea"), (role.Highlight, "#2d4a7a"), (role.HighlightedText, "#ffffff"),
                      (role.ToolTipBase, "#2c3139"), (role.ToolTipText, "#e3e6ea"), (role.PlaceholderText, "#80868f")):
        p.setColor(r, QColor(colour))
    p.setColor(QPalette.ColorGroup.Disabled, role.Text, QColor("#6b717a"))
    p.setColor(QPalette.ColorGroup.Disabled, role.WindowText, QColor("#6b717a"))
    p.setColor(QPalette.ColorGroup.Disabled, role.ButtonText, QColor("#6b717a"))
    return p


def app_icon() -> QIcon:
    """The application icon from ``resources/icons`` (empty when the icons are missing)."""
    icon = QIcon()
    for size in (16, 24, 32, 48, 64, 128, 256, 512):
        try:
            path = resource_path("icons", f"prune-studio-{size}.png")
        except FileNotFoundError:
            return icon
        if path.exists():
            icon.addFile(str(path))
    return icon

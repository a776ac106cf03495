"""Start-up: the window shows before TensorFlow loads; themes, icon and arguments."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from prune_studio.ui.app import _parse
from prune_studio.ui.theme import CHART_COLOURS, app_icon, apply_theme


def test_window_shows_before_tensorflow_is_imported():
    code = textwrap.dedent(
        """
        import os, sys, time
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        start = time.perf_counter()
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from prune_studio.ui.app import create_window
        window = create_window()
        window.show()
        app.processEvents()
        print("tf" if "tensorflow" in sys.modules else "no-tf", round(time.perf_counter() - start, 2))
        window.close()
        window.deleteLater()
        del window
        app.sendPostedEvents(None, 0)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    verdict, seconds = out.stdout.split()[-2:]
    assert verdict == "no-tf"
    assert float(seconds) < 20


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_both_themes_load_their_style_sheet(qapp, scheme):
    try:
        assert apply_theme(qapp, scheme) == scheme
        assert "QTreeView" in qapp.styleSheet()
    finally:
        apply_theme(qapp, "light")


def test_a_live_theme_switch_recolours_the_charts_on_screen(qapp, qtbot):
    from prune_studio.ui.charts import ChartPanel
    from prune_studio.ui.export_panel import ExportPanel

    apply_theme(qapp, "light")
    charts, export = ChartPanel(), ExportPanel()
    qtbot.addWidget(charts)
    qtbot.addWidget(export)
    axis = charts.loss_plot.getAxis("left")

    def looks(scheme):
        colours = CHART_COLOURS[scheme]
        assert charts.view.backgroundBrush().color().name() == colours["bg"]
        assert axis.pen().color().name() == colours["fg"] and axis.textPen().color().name() == colours["fg"]
        assert colours["fg"][1:] in charts.loss_plot.titleLabel.item.toHtml()
        # The export chart is saved into reports as it looks: white with dark ink in both themes.
        assert export.chart.backgroundBrush().color().name() == "#ffffff"
        assert export.chart.getAxis("left").pen().color().name() == CHART_COLOURS["light"]["fg"]

    try:
        looks("light")
        apply_theme(qapp, "dark")
        looks("dark")
    finally:
        apply_theme(qapp, "light")
    looks("light")


def test_app_icon_comes_from_resources(qapp):
    assert not app_icon().isNull()


def test_arguments():
    args = _parse(["model.keras", "--trust"])
    assert args.model == "model.keras" and args.trust and not args.demo and not args.self_test
    assert _parse(["--demo"]).demo and _parse(["--self-test"]).self_test


def test_create_window_needs_an_application(monkeypatch):
    from prune_studio.ui import app as app_module

    monkeypatch.setattr(app_module.QApplication, "instance", staticmethod(lambda: None))
    with pytest.raises(RuntimeError, match="QApplication"):
        app_module.create_window()

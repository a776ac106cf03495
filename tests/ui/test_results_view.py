"""The result view after a real export in the window: cards, the whole table, charts, samples."""

from __future__ import annotations

import re

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from prune_studio.export import ExportSettings
from prune_studio.export.report import Artifact
from prune_studio.ui.results_view import COLUMNS
from sample_predictions import samples_from_files

pytestmark = pytest.mark.slow
HEADLINE = re.compile(r"^[\w .,()-]+: \d+\.\dx (smaller|larger)(, [+-]\d+\.\d pts)?(, \d+\.\dx (faster|slower))?, verified$")


@pytest.fixture
def exported(qtbot, demo_as_opened, tmp_path):
    w = demo_as_opened
    w.resize(1280, 800)
    panel = w.export_panel
    panel.apply_settings(ExportSettings(keras=True, h5=False, tflite=("float32", "dynamic", "int8"), sparse=False))
    panel.folder_edit.setText(str(tmp_path / "out"))
    with qtbot.waitSignal(panel.exportFinished, timeout=120_000) as blocker:
        qtbot.mouseClick(panel.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=10_000)
    qtbot.waitUntil(lambda: w.results.report is blocker.args[0] and not w.results.filling(), timeout=10_000)
    return w, blocker.args[0]


def test_the_export_ends_on_a_full_width_result_view(qtbot, exported):
    w, report = exported
    view = w.results
    assert w.tabs.currentWidget().isAncestorOf(view)  # shown when the export is done
    assert not w.layer_pane.isVisible()  # the layer list is collapsed: the view has the width
    ok = report.ok_artifacts()
    assert len(view.cards) == len(ok) >= 3
    for card in view.cards:
        assert HEADLINE.match(card.headline), card.headline
    if "recommended" in Artifact.__dataclass_fields__:  # once exports recommend a file
        assert sum(card.recommended for card in view.cards) == 1
        assert view.findChild(type(view.cards[0]), "resultCardBest") is not None
    # Every column is in view at 1280 x 800: no sideways scrolling.
    table = view.table
    qtbot.waitUntil(lambda: table.viewport().width() > 0)
    assert table.columnCount() == len(COLUMNS) and table.rowCount() == len(report.artifacts) + 1
    right = table.viewport().width()
    for c in range(table.columnCount()):
        assert table.horizontalHeader().sectionViewportPosition(c) >= 0
        assert table.horizontalHeader().sectionViewportPosition(c) + table.columnWidth(c) <= right + 1, COLUMNS[c]
    assert table.columnWidth(COLUMNS.index("Note")) > 120
    assert view.width() <= w.width() and view.parentWidget().parentWidget().horizontalScrollBar().maximum() == 0
    # The size chart and the scatter: one bar / dot per verified file plus the baseline.
    assert len(view.size_chart.shown) == len(ok) + 1
    dots = view.scatter.points
    assert len(dots) == len(ok) + 1 and sum(p["baseline"] for p in dots) == 1
    base = next(p for p in dots if p["baseline"])
    assert base["symbol"] == "star" and base["pos"][1] == pytest.approx(100 * report.baseline["accuracy"])
    assert view.size_chart.isVisible() and view.scatter.isVisible()
    # A staged fill keeps the charts out of the layout until the rest is in, then shows them.
    with qtbot.waitSignal(view.filled, timeout=10_000):
        view.show_report(report, staged=True)
        assert view.filling() and not view.size_chart.isVisible() and not view.scatter.isVisible()
    assert view.size_chart.isVisible() and view.scatter.isVisible() and len(view.size_chart.shown) == len(ok) + 1
    # Going back to the plan brings the layer list back.
    w.tabs.setCurrentIndex(0)
    assert w.layer_pane.isVisible()


def test_the_sample_strip_shows_only_stored_samples_and_marks_wrong_guesses(qtbot, exported):
    w, report = exported
    view = w.results
    if not getattr(report, "samples", None):
        assert not view.strip.isVisible() and not view.strip_title.isVisible()  # nothing is computed here
        report.samples = samples_from_files(report, w.session.dataset, w.session.loaded.model)
        view.show_report(report)
    samples = report.samples
    assert view.strip.isVisible()
    wrong = sum(1 for s in samples for guess in [s["baseline_pred"], *s["preds"].values()] if guess != s["label"])
    assert view.strip.mismatches == wrong
    first_pred = next(iter(samples[0]["preds"]))
    assert samples[0]["preds"][first_pred] is not None
    pictures = [view.strip.grid.itemAtPosition(0, c).widget() for c in range(1, len(samples) + 1)]
    assert all(p.pixmap() is not None and not p.pixmap().isNull() for p in pictures)  # digits: images
    from PySide6.QtGui import QColor

    from prune_studio.ui.results_charts import BAD_COLOUR

    for (row, _col), cell in view.strip.cells.items():  # a wrong guess is drawn on red, a right one is not
        image = cell.grab().toImage()
        red = image.pixelColor(2, image.height() // 2) == QColor(BAD_COLOUR)
        assert bool(cell.property("mismatch")) == red, (row, cell.text())


def _cards_fit(qtbot, w):
    """Every line of every card is as tall as its wrapped text, and every card is inside the window."""
    view = w.results
    qtbot.waitUntil(lambda: view.cards and view.cards[0].width() > 0)
    qtbot.wait(50)  # the layouts settle on the event loop
    scroll = view.parentWidget().parentWidget()
    assert scroll.horizontalScrollBar().maximum() == 0  # nothing is off to the side
    widths = {card.width() for card in view.cards}
    assert max(widths) - min(widths) <= 1  # equal columns: no card squeezed narrower than the others
    box = view.cards_box.rect()
    for card in view.cards:
        assert card.isVisible() and box.contains(card.geometry()), card.row["name"]
        assert card.height() >= card.heightForWidth(card.width()), card.row["name"]
        assert card.height() >= card.layout().totalHeightForWidth(card.width()), card.row["name"]
        for label in card.labels():
            assert label.geometry().bottom() <= card.contentsRect().bottom(), (card.row["name"], label.text())
            assert label.heightForWidth(label.width()) <= label.height(), (card.row["name"], label.text(), label.width())
    return {card.y() for card in view.cards}


def test_no_card_cuts_its_wrapped_text_off_at_1280x800_or_1600x1000(qtbot, exported):
    w, _report = exported
    assert (w.width(), w.height()) == (1280, 800)
    rows = _cards_fit(qtbot, w)
    assert len(rows) == 1  # five cards share one row at 1280 px
    w.resize(1600, 1000)
    qtbot.waitUntil(lambda: w.results.cards[0].width() > 280)
    assert len(_cards_fit(qtbot, w)) == 1
    # presentation mode's larger fonts: fewer cards share a row, each still shows all its text
    w.results.set_scale(1.5)
    qtbot.waitUntil(lambda: len({card.y() for card in w.results.cards}) > 1)
    assert len(_cards_fit(qtbot, w)) == 2
    # and the table keeps Verified and Note in view (two size columns step aside)
    w.resize(1280, 800)
    table = w.results.table
    qtbot.waitUntil(lambda: table.viewport().width() < 1280)
    shown = [c for c in range(table.columnCount()) if not table.isColumnHidden(c)]
    assert {COLUMNS[c] for c in shown} >= {"File", "Gzipped", "Accuracy", "Change", "Faster", "Verified", "Note"}
    right = table.viewport().width()
    for c in shown:
        assert table.horizontalHeader().sectionViewportPosition(c) + table.columnWidth(c) <= right + 1, COLUMNS[c]
    # no card (nor one of its labels) became a window of its own while the view was filled
    assert [x.objectName() or type(x).__name__ for x in QApplication.topLevelWidgets() if x.isVisible() and x is not w] == []

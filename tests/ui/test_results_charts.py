"""The accuracy-against-size scatter: every label inside the plot, none over another or a dot."""

from __future__ import annotations

import itertools

import pytest

from prune_studio.ui.results_charts import AccuracyScatter

KB = 1000


def _geometry(chart):
    """The plot area and each label's rectangle, in scene pixels (as painted)."""
    area = chart.chart.getPlotItem().getViewBox().sceneBoundingRect()
    return area, [label.mapRectToScene(label.boundingRect()) for label in chart.labels]


def _rows(points):
    rows = [{"name": "Baseline (as opened)", "gzip_bytes": points[0][1] * KB, "accuracy": points[0][2], "ok": True}]
    rows += [{"name": n, "gzip_bytes": kb * KB, "accuracy": acc, "ok": True, "recommended": i == 0}
             for i, (n, kb, acc) in enumerate(points[1:])]
    return rows


#: The structured demo's result (docs/screenshots/shrink_results.png): five files at one accuracy,
#: three of them within a few KB, the two int8 files side by side at the left.
SHRINK = [("baseline", 636.5, 0.9944), ("Keras .keras (tf-keras, stripped)", 113.3, 0.9833),
          ("Keras .keras (Keras 3, stripped)", 113.3, 0.9833), ("TFLite float32", 108.0, 0.9833),
          ("TFLite dynamic-range int8", 33.9, 0.9833), ("TFLite full-integer int8", 32.7, 0.9833)]
#: Files spread out, some close but not on one spot, the lowest at the bottom of the range.
SPREAD = [("baseline", 1050, 0.989), ("TFLite float32", 420, 0.986), ("TFLite float32, sparse", 300, 0.985),
          ("TFLite float16", 215, 0.986), ("TFLite dynamic-range int8", 120, 0.984),
          ("TFLite full-integer int8", 105, 0.975), ("Keras .keras (tf-keras, stripped)", 460, 0.986)]


@pytest.mark.parametrize("points", [SHRINK, SPREAD], ids=["shrink", "spread"])
@pytest.mark.parametrize("size", [(380, 230), (520, 300)])
def test_labels_stay_inside_the_plot_and_apart(qtbot, points, size):
    chart = AccuracyScatter()
    qtbot.addWidget(chart)
    chart.resize(*size)
    chart.show()
    qtbot.waitExposed(chart)
    chart.show_rows(_rows(points))
    qtbot.wait(50)  # painted: the labels' transforms are the final ones
    area, rects = _geometry(chart)
    assert rects and all(r.width() > 10 and r.height() > 5 for r in rects)
    for label, rect in zip(chart.labels, rects):
        assert area.contains(rect), (label.textItem.toPlainText(), rect, area)
    for (a, ra), (b, rb) in itertools.combinations(zip(chart.labels, rects), 2):
        assert not ra.intersects(rb), (a.textItem.toPlainText(), b.textItem.toPlainText())
    # every file is named once, in some label
    text = " ".join(label.textItem.toPlainText() for label in chart.labels)
    assert text.count("int8") == 2 and "baseline" in text


def test_labels_follow_a_resize(qtbot):
    chart = AccuracyScatter()
    qtbot.addWidget(chart)
    chart.resize(520, 300)
    chart.show()
    qtbot.waitExposed(chart)
    chart.show_rows(_rows(SPREAD))
    qtbot.wait(50)
    chart.resize(340, 220)
    qtbot.wait(50)
    area, rects = _geometry(chart)
    assert all(area.contains(r) for r in rects)
    assert not any(a.intersects(b) for a, b in itertools.combinations(rects, 2))

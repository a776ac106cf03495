"""Charts with nothing to show say so, without an axis fitted to nothing ("step (x0.001)")."""

from __future__ import annotations

import pytest

from prune_studio.ui.layout import select_names

pytestmark = pytest.mark.slow


def _tick_texts(plot, name="bottom"):
    """The tick labels an axis would draw now."""
    axis = plot.getAxis(name)
    if not axis.style["showValues"]:
        return []
    low, high = axis.range
    ticks = axis.tickValues(low, high, axis.width() or 400)
    return [t for _spacing, values in ticks for t in axis.tickStrings(values, axis.autoSIPrefixScale, _spacing)]


def _looks_empty(plot, empty):
    assert empty.empty and empty.label.isVisible()
    assert _tick_texts(plot) == [] and _tick_texts(plot, "left") == []
    assert "x0.001" not in plot.getAxis("bottom").labelString() and "(x" not in plot.getAxis("bottom").labelString()


def test_a_fresh_window_shows_clean_empty_charts(make_window):
    w = make_window()
    editor = w.editor.preview.getPlotItem()
    _looks_empty(editor, w.editor.preview_empty)
    assert "Select a pruned layer" in w.editor.preview_empty.text
    assert not w.editor.end_line.isVisible()  # no "training ends" line at step 0 of nothing
    for plot, empty in zip(w.charts._plots, w.charts.empty_states):
        _looks_empty(plot, empty)
        assert empty.text.startswith("Press Run")
    _looks_empty(w.export_panel.chart.getPlotItem(), w.export_panel.chart_empty)
    for view in (w.weights.histogram, w.weights.zero_map):
        _looks_empty(view.getPlotItem(), view.empty_state)
        assert view.empty_state.text.startswith("Select a layer")


def test_selecting_a_pruned_layer_draws_its_ramp_and_a_dense_one_is_empty_again(demo_as_opened):
    w = demo_as_opened  # every prunable layer pruned
    plot = w.editor.preview.getPlotItem()
    select_names(w, ["dense1"])
    assert w.editor.end_line.isVisible()
    assert not w.editor.preview_empty.empty and not w.editor.preview_empty.label.isVisible()
    ticks = _tick_texts(plot)
    assert ticks and all(float(t.replace(",", "")) >= 0 for t in ticks)
    assert "x0.001" not in plot.getAxis("bottom").labelString()
    select_names(w, ["dropout"])  # not prunable: nothing to draw
    _looks_empty(plot, w.editor.preview_empty)
    assert not w.editor.end_line.isVisible()


def test_the_weights_view_draws_a_chosen_layer_and_is_empty_again_without_one(qtbot, demo_as_opened):
    w = demo_as_opened
    view = w.weights.histogram
    select_names(w, ["dense1"])
    qtbot.waitUntil(lambda: view.hist is not None and view.hist["name"] == "dense1", timeout=30_000)
    assert not view.empty_state.label.isVisible() and _tick_texts(view.getPlotItem())
    select_names(w, ["dropout"])  # no weights
    qtbot.waitUntil(lambda: view.hist is None, timeout=30_000)
    _looks_empty(view.getPlotItem(), view.empty_state)

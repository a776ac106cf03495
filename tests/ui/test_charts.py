"""The live chart panel on its own: round-robin redraws, the run's step axis, after-paint calls."""

from __future__ import annotations

import numpy as np

from prune_studio.ui.charts import REDRAW_INTERVAL_MS, ChartPanel

LAYERS = ["conv1", "dense1"]


def _panel(qtbot, show=True):
    panel = ChartPanel()
    qtbot.addWidget(panel)
    panel.resize(900, 600)
    if show:
        panel.show()
        qtbot.waitExposed(panel)
    return panel


def _feed(panel, steps):
    for step in steps:
        panel.add_batches([(step, 0, {"loss": 1.0 / (step + 1), "accuracy": 0.5})])
        panel.add_sparsity(step, 0.4, 0.5, {name: 0.4 for name in LAYERS})


def test_each_timer_tick_redraws_one_plot_and_a_round_covers_all(qtbot):
    panel = _panel(qtbot)
    panel.reset(LAYERS, None, total_steps=100)
    _feed(panel, range(10))
    fed = {name: c for name, c in {**panel.curves, **panel.layer_curves}.items() if c.dirty}
    drawn = []
    for _ in range(4):
        panel._redraw_next_plot()
        drawn.append([name for name, c in fed.items() if not c.dirty])
    # One plot per tick: loss, then accuracy, then overall zeros, then the per-layer plot.
    assert drawn[0] == ["loss"]
    assert drawn[1] == ["loss", "accuracy"]
    assert "sparsity" in drawn[2] and not set(LAYERS) & set(drawn[2])
    assert set(drawn[3]) >= {"loss", "accuracy", "sparsity", *LAYERS}
    assert len(panel.curves["loss"].item.getData()[0]) == 10
    # A whole round of ticks fits in the bounded redraw interval.
    assert panel._timer.interval() * 4 <= REDRAW_INTERVAL_MS


def test_a_run_fixes_the_step_axis_and_a_rerun_keeps_the_legend(qtbot):
    panel = _panel(qtbot)
    panel.reset(LAYERS, (np.array([0, 200]), np.array([0.0, 0.8])), total_steps=200)
    for plot in panel._plots:
        low, high = plot.viewRange()[0]
        assert low <= 0 and 200 <= high < 210
    _feed(panel, range(0, 400, 40))  # data past the planned end does not move the axis
    panel.redraw()
    assert panel.loss_plot.viewRange()[0][1] < 210
    legend_items = list(panel.layer_plot.legend.items)
    panel.reset(LAYERS, None, total_steps=50)
    assert panel.layer_plot.legend.items == legend_items  # same layers: entries reused
    assert all(c.series.n == 0 for c in panel.layer_curves.values())
    panel.reset(["dense1"], None, total_steps=50)
    assert [label.text for _sample, label in panel.layer_plot.legend.items] == ["dense1"]


def test_call_after_paint_waits_for_a_paint_and_falls_back_to_a_timeout(qtbot):
    shown = _panel(qtbot)
    calls = []
    shown.call_after_paint(lambda: calls.append("painted"), timeout_ms=5_000)
    assert calls == []  # never synchronously
    shown.view.viewport().update()
    qtbot.waitUntil(lambda: calls == ["painted"], timeout=3_000)

    hidden = _panel(qtbot, show=False)
    hidden.call_after_paint(lambda: calls.append("timed out"), timeout_ms=50)
    qtbot.waitUntil(lambda: calls == ["painted", "timed out"], timeout=3_000)
    qtbot.wait(100)
    assert calls == ["painted", "timed out"]  # each callback runs once


def test_prepare_sets_up_the_planned_run_while_idle_so_run_only_clears(qtbot):
    from PySide6.QtWidgets import QStackedWidget

    from prune_studio.ui.charts import CURVES_PER_TURN, LEGEND_LAYERS

    stack = QStackedWidget()  # the charts as a hidden tab, as in the window before Run
    qtbot.addWidget(stack)
    front, panel = QStackedWidget(), ChartPanel()
    stack.addWidget(front)
    stack.addWidget(panel)
    stack.resize(900, 600)
    stack.show()
    qtbot.waitExposed(stack)
    names = [f"layer_{i}" for i in range(CURVES_PER_TURN * 2 + 1)]  # a big model: more layers than a legend holds
    target = (np.array([0, 300]), np.array([0.0, 0.8]))
    panel.prepare(names, target, total_steps=300)
    assert len(panel.layer_curves) < len(names)  # a few curves per event-loop turn, not all at once
    qtbot.waitUntil(lambda: panel._job is None, timeout=5_000)
    assert list(panel.layer_curves) == names and len(names) > LEGEND_LAYERS
    assert panel.layer_plot.legend.items == []  # no 13-name legend over the lines
    assert all(empty.label.isVisible() for empty in panel.empty_states)  # still "Press Run"
    low, high = panel.loss_plot.viewRange()[0]
    assert low <= 0 and 300 <= high < 310  # the planned run's step axis
    assert panel.size() == stack.size()
    axes = [plot.getAxis(name) for plot in panel._plots for name in ("left", "bottom")]
    assert all(axis.picture is not None for axis in axes)  # painted once, off screen
    curves = dict(panel.layer_curves)
    panel.reset(names, target, total_steps=300)  # Run with the plan as prepared
    assert panel.layer_curves == curves and not any(empty.label.isVisible() for empty in panel.empty_states)
    stack.setCurrentWidget(panel)  # the charts tab comes forward without laying the plots out again
    assert all(axis.picture is not None for axis in axes)
    # a run's results stay on screen: preparing the next run does not clear them
    _feed(panel, range(3))
    shown = list(panel.layer_curves)
    panel.prepare(["dense1"], None, total_steps=10)
    assert panel._job is None and list(panel.layer_curves) == shown and panel.points_received == 6


def test_a_small_plan_keeps_a_legend_of_its_layers(qtbot):
    panel = _panel(qtbot)
    panel.prepare(LAYERS, None, total_steps=100)
    qtbot.waitUntil(lambda: panel._job is None, timeout=5_000)
    assert [label.text for _sample, label in panel.layer_plot.legend.items] == LAYERS


def test_a_big_plan_draws_its_layers_in_one_item_per_colour_and_highlights_one(qtbot):
    from prune_studio.ui.charts import LEGEND_LAYERS
    from prune_studio.ui.theme import LINE_COLOURS

    panel = _panel(qtbot)
    names = [f"layer_{i}" for i in range(3 * len(LINE_COLOURS) + 2)]
    assert len(names) > LEGEND_LAYERS
    panel.reset(names, None, total_steps=50)
    for step in range(5):
        panel.add_sparsity(step, 0.1, 0.2, {name: i / 100 + step / 10 for i, name in enumerate(names)})
    panel.redraw()
    import pyqtgraph as pg

    lines = [item for item in panel.layer_plot.items if isinstance(item, pg.PlotCurveItem)]
    assert len(lines) <= len(LINE_COLOURS) + 1  # one per colour and the highlight, not one per layer
    drawn = sum(len(item.getData()[0]) for item in lines if item.getData()[0] is not None)
    assert drawn == 5 * len(names)  # every layer's every point
    lane = panel.layer_curves[names[0]].lane
    x, y = lane.item.getData()
    members = [c for c in lane.members if c.series.n]
    assert len(members) >= 3 and len(x) == 5 * len(members)
    assert not lane.item.opts["connect"][4]  # the first layer's last point is not joined to the next layer's first
    panel.highlight(names[1])
    hx, hy = panel._highlight_item.getData()
    assert list(hy) == [0.01 + step / 10 for step in range(5)]
    assert panel._highlight_item.opts["pen"].width() == 4 and lane.item.opts["pen"].width() == 1
    panel.highlight(None)
    assert panel._highlight_item.getData()[0] is None or len(panel._highlight_item.getData()[0]) == 0

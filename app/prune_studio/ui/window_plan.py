"""The main window's plan editing: ticking layers, schedules, targets, the weights view.

A mixin of :class:`~prune_studio.ui.main_window.MainWindow` (kept apart so each file stays
readable); it uses the window's widgets built by :mod:`prune_studio.ui.layout`.
"""

from __future__ import annotations

from prune_studio.ui import layout as window_layout
from prune_studio.ui.layer_tree_model import COL_PRUNE, COL_SCHEDULE, COL_TARGET, NodeRole
from prune_studio.ui.notify import show_error
from prune_studio.ui.session import default_frequency, with_end_step
from prune_studio.ui.worker import Worker


class PlanMixin:
    """Editing the pruning plan in the layer tree and the schedule editor."""

    def _new_layer_plan(self, name: str):
        from prune_studio.pruning.plan import LayerPlan
        from prune_studio.pruning.schedules import PolynomialDecay

        end = max(2, self.settings_panel.prune_end_step() or 1000)
        target = self.global_target.value() / 100
        return LayerPlan(enabled=True, schedule=PolynomialDecay(min(0.5, target), target, 0, end, frequency=default_frequency(end)))

    def selected_names(self) -> list[str]:
        rows = self.tree.selectionModel().selectedRows(0)
        nodes = [i.data(NodeRole) for i in rows]
        return [n.name for n in nodes if n is not None and not n.is_group]

    def set_pruned(self, names: list[str], enabled: bool) -> int:
        return self.tree_model.set_enabled(names, enabled)

    def prune_all_prunable(self) -> None:
        self.tree_model.set_enabled([n.name for n in self.tree_model.prunable_nodes()], True)

    def select_same_type(self) -> None:
        names = self.selected_names()
        if not names:
            return
        kind = self.session.description.find(names[0]).type
        window_layout.select_names(self, [n.name for n in self.tree_model.nodes() if n.info.type == kind])

    def apply_global_target(self) -> None:
        from prune_studio.ui.session import with_target

        target = self.global_target.value() / 100
        for plan in self.session.plans.values():
            if plan.enabled and not plan.sparsity_m_by_n:
                plan.schedule = with_target(plan.schedule, target)
        self.tree_model.refresh_plan_columns()
        self._on_selection()

    def apply_suggested_plan(self, plan) -> None:
        """Use a plan from the sensitivity scan in the tree."""
        self.session.plans = dict(plan.layers)
        self.tree_model.set_plans(self.session.plans)
        self._sync_schedules_to_training()
        self.statusBar().showMessage("Applied the plan suggested by the scan.", 5000)

    def _on_selection(self, *_args) -> None:
        names = [n for n in self.selected_names() if self.tree_model.is_enabled(n)]
        self.editor.load(self.session.plans[names[0]] if names else None, names)
        selected = self.selected_names()
        self.charts.highlight(names[0] if names else (selected or [None])[0])
        if selected:
            self.show_weights(selected[0])

    def show_weights(self, name: str) -> None:
        """Draw the layer's weight histogram, read in a worker (one at a time, latest wins)."""
        model = self.session.current_model()
        if model is None or self.run.running:
            return
        if self._hist_worker is not None:
            self._hist_pending = name
            return
        from prune_studio.ui.weights_view import layer_weight_histogram

        worker = self._hist_worker = Worker(layer_weight_histogram, model, name, pass_report=False)
        worker.returned.connect(self.weights.show_histogram)
        worker.errored.connect(lambda exc: show_error(self, "Weights", exc, modal=False))
        worker.done.connect(self._on_weights_done)
        worker.start()

    def _on_weights_done(self) -> None:
        worker, self._hist_worker = self._hist_worker, None
        worker.wait()
        worker.deleteLater()
        pending, self._hist_pending = self._hist_pending, None
        if pending is not None and not self.isHidden():
            self.show_weights(pending)

    def _on_schedule_edited(self, values: dict) -> None:
        for name in self.selected_names():
            plan = self.session.plans.get(name)
            if plan is not None and plan.enabled:
                for key, value in values.items():
                    setattr(plan, key, value)
        self.tree_model.refresh_plan_columns()
        self._plan_charts_soon()

    def _on_plan_changed(self) -> None:
        window_layout.fit_tree_columns(self, (COL_PRUNE, COL_SCHEDULE, COL_TARGET))
        self._set_dirty(True)
        self._update_summary()
        self._update_actions()
        if not self.editor.editing:
            self._on_selection()

    def _on_settings_changed(self) -> None:
        self._sync_schedules_to_training()
        self._set_dirty(True)
        self._plan_charts_soon()

    def _sync_schedules_to_training(self) -> None:
        """Make every ramp reach its target at the step the settings panel shows."""
        end = self.settings_panel.prune_end_step()
        self.editor.set_total_steps(self.settings_panel.total_steps())
        if end <= 0:
            return
        if self.scan_panel is not None:
            self.scan_panel.set_schedule_steps(0, end)
        for plan in self.session.plans.values():
            plan.schedule = with_end_step(plan.schedule, end)
        self.tree_model.refresh_plan_columns()
        self._on_selection()

    def _update_summary(self) -> None:
        window_layout.update_summary(self)
        self._plan_charts_soon()

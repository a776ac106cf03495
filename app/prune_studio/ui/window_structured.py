"""The main window's channel removal: the Channels tab's choice, the tree's group column, the run.

A mixin of :class:`~prune_studio.ui.main_window.MainWindow`. When a channel group is set below
100% in the Channels tab, Run (or the tab's "Shrink and fine-tune") removes those channels with
``prune_studio.structured.structured_fine_tune`` and fine-tunes the smaller model in the same
worker thread, live charts, pause and stop as a plain run; the layers ticked in the tree also
get their weights zeroed in that fine-tune. The core is reached only through plain objects.
"""

from __future__ import annotations

import time

from prune_studio.ui import tree_columns
from prune_studio.ui.layer_tree_model import COL_CHANNELS
from prune_studio.ui.structured_panel import target_words


class StructuredMixin:
    """Channel removal from the window."""

    def _connect_structured(self) -> None:
        panel = getattr(self, "structured_panel", None)
        if panel is None:
            return
        panel.ratiosChanged.connect(self._on_channels_changed)
        panel.groupsSelected.connect(self._select_group_layers)
        panel.shrinkRequested.connect(self.start_run)
        self.tabs.currentChanged.connect(lambda _i: (self._fill_channels_tab(), self._show_channel_columns(),
                                                     self._tree_selection_to_groups()))
        self.tree.selectionModel().selectionChanged.connect(self._tree_selection_to_groups)
        self._syncing_groups = False

    def _fill_channels_tab(self) -> None:
        """Fill the Channels tab with the open model's groups, once per model, when it is first shown.

        Its table, projected cost and the tree's group column cost ~50 ms of GUI time for
        MobileNetV2 (~35 ms CPU): done while opening, that was the longest stall of the open.
        Nothing else needs them before the tab is shown, except a recipe's channel choice.
        """
        panel, loaded = getattr(self, "structured_panel", None), self.session.loaded
        if panel is None or loaded is None or not loaded.is_built or getattr(self, "_structured_model", None) is loaded.model:
            return
        if self.tabs.currentWidget() is not panel and getattr(self, "_recipe_structured", None) is None:
            return
        self._structured_model = loaded.model
        panel.set_context(loaded.model)

    def structured_wanted(self) -> bool:
        """True when the Channels tab removes at least one channel: Run then shrinks first."""
        panel = getattr(self, "structured_panel", None)
        return panel is not None and panel.has_removal()

    def _on_channels_changed(self) -> None:
        panel = self.structured_panel
        self._flush_recipe_structured()  # a recipe opened before the model was analysed
        members = panel.members()
        had = bool(self.tree_model.channel_groups())
        self.tree_model.set_channel_groups(members)
        if bool(members) != had:
            from prune_studio.ui import layout as window_layout

            window_layout.fit_tree_columns(self, (COL_CHANNELS,))
        self._show_channel_columns()
        if (panel.kept_counts() or panel.global_target() is not None) and not self._dirty:
            self._set_dirty(True)
        self._update_actions()

    def _show_channel_columns(self) -> None:
        """On the Channels tab the tree shows each layer's channel group in place of the zero-weight
        schedule columns and the parameter counts (the Prune tick stays; the tab projects the
        parameters), so the row fits beside the tab at 1280 px."""
        panel = getattr(self, "structured_panel", None)
        on = panel is not None and self.tabs.currentWidget() is panel and bool(self.tree_model.channel_groups())
        tree_columns.show_channel_groups(self.tree, self.settings_store, on)

    def _select_group_layers(self, layers: list) -> None:
        """Selecting groups in the Channels tab selects the layers they tie in the tree."""
        from prune_studio.ui.layout import select_names

        if self._syncing_groups:
            return
        self._syncing_groups = True
        try:
            select_names(self, [n for n in layers if self.tree_model.index_of(n).isValid()])
        finally:
            self._syncing_groups = False

    def _tree_selection_to_groups(self, *_args) -> None:
        """On the Channels tab, picking layers in the tree picks their groups: the slider then acts on them."""
        panel = getattr(self, "structured_panel", None)
        if panel is None or self._syncing_groups or self.tabs.currentWidget() is not panel:
            return
        members = self.tree_model.channel_groups()
        groups = list(dict.fromkeys(members[n].group for n in self.selected_names() if n in members))
        if not groups:
            return
        self._syncing_groups = True
        try:
            panel.select_groups(groups)
        finally:
            self._syncing_groups = False

    def _apply_recipe_structured(self, settings) -> None:
        """Show a recipe's structured section once the model is built and analysed (models open
        lazily: the data task builds them)."""
        if settings is not None and getattr(self, "structured_panel", None) is not None:
            self._recipe_structured = settings
            self._flush_recipe_structured()

    def _flush_recipe_structured(self) -> None:
        settings = getattr(self, "_recipe_structured", None)
        loaded = self.session.loaded
        if settings is None or loaded is None or not loaded.is_built or self.structured_panel.model is not loaded.model:
            return
        self._recipe_structured = None
        self.structured_panel.apply_settings(settings)

    def recipe_structured(self):
        """The recipe's ``"structured"`` section for the current choice (None when nothing is removed)."""
        return self.structured_panel.settings() if self.structured_wanted() else None

    def structured_task(self, plan, settings, model, dataset, compile_settings):
        """The worker task of a structured run: shrink, then fine-tune (returns a ``ShrinkResult``)."""
        structured = self.structured_panel.settings()
        magnitude = plan if any(p.enabled for p in plan.layers.values()) else None

        sources = self.session.run_sources()

        def task(listener, control):
            from prune_studio.structured.run import structured_fine_tune
            from prune_studio.training import run_process
            from prune_studio.training.evaluate import evaluate_keras

            # the charts' "before" line is the model as opened; the fine-tune's own baseline (the
            # smaller model before tuning) becomes a log line
            child = run_process.shared() if sources is not None else None
            if child is not None and child.start():  # as a magnitude run: TensorFlow off the GUI's GIL
                return child.run(*sources, plan, settings, compile_settings, AfterRemoval(listener, passes=1),
                                 control, structured=structured)
            listener.on_phase("Evaluating", None)
            start = time.monotonic()
            baseline = evaluate_keras(model, dataset, compile_settings, settings.batch_size)
            listener.on_phase("Evaluating", time.monotonic() - start)
            listener.on_baseline(baseline)
            return structured_fine_tune(model, dataset, structured, settings, compile_settings,
                                        listener=AfterRemoval(listener), control=control, plan=magnitude)

        target = self.structured_panel.global_target()
        if target is not None:
            return task, f"Removing the least important channels {target_words(target)}, then fine-tuning the smaller model"
        kept = self.structured_panel.kept_counts()
        graph = self.structured_panel.graph
        words = ", ".join(f"{name} {k} of {graph.group(name).size}" for name, k in kept.items())
        return task, f"Removing channels ({words} kept), then fine-tuning the smaller model"

    def _structured_finished(self, shrink) -> None:
        """After a run: the tree shows the smaller model's outputs and parameters (the opened
        model's again after a run that removed no channels, ``shrink`` None)."""
        self.tree_model.set_sizes(getattr(shrink, "layer_sizes", None) or {})
        if shrink is None:
            return
        self.structured_panel.show_result(shrink)
        self.log_panel.append_line(self.structured_panel.status.text())


class AfterRemoval:
    """Passes a run's reports on, except the fine-tune's baseline: that one is the smaller model
    before tuning, said in the log (the charts keep the opened model's as their "before" line)."""

    def __init__(self, listener, passes: int = 0):
        self._listener = listener
        self._passes = passes  # baselines passed on before the rest become log lines

    def __getattr__(self, name):
        return getattr(self._listener, name)

    def on_baseline(self, metrics) -> None:
        from prune_studio.ui.plan_stats import metric_words

        if self._passes > 0:
            self._passes -= 1
            self._listener.on_baseline(metrics)
            return

        self._listener.on_log(f"After removing channels, before fine-tuning, the model scores {metric_words(metrics)}.")

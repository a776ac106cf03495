"""The main window: layer tree, schedule editor, settings, live charts, scan and export.

It holds no pruning or TensorFlow logic: models, data, plans and runs come from the core,
long work runs in :class:`~prune_studio.ui.worker.Worker` threads, and every error goes
through :func:`~prune_studio.ui.notify.show_error`.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from pathlib import Path

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox

from prune_studio.ui import layout as window_layout
from prune_studio.ui.layer_tree_model import NodeRole
from prune_studio.ui.notify import show_error
from prune_studio.ui.plan_stats import metric_words, result_sentence
from prune_studio.ui.run_controller import RunController
from prune_studio.ui.session import Session, default_frequency, load_data_task, load_model_task, with_end_step
from prune_studio.ui.user_settings import add_recent, app_settings
from prune_studio.ui.worker import Worker

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    """Prune Studio's window. ``modelReady`` fires when a model is open and described."""

    modelReady = Signal()
    dataReady = Signal()
    runFinished = Signal(object)
    taskFailed = Signal(object)  # a background load failed (after its message is shown)

    def __init__(self, trust: bool = False):
        super().__init__()
        self.session = Session(trust=trust)
        self.settings_store = app_settings()
        self._loaders: list[Worker] = []
        self._pending_recipe = None
        self._pending_suggest: dict | None = None  # a recipe's goal for the scan's suggested plan
        self._export_settings: dict | None = None
        self._hist_worker: Worker | None = None
        self._hist_pending: str | None = None
        self._close_after_run = False
        self._adopt_plan_steps = False  # a loaded recipe's schedules set the pruning length
        self._demo_plan_pending = False  # the demo opens ready to run: every prunable layer on
        self._dirty = False
        self._loading = 0  # > 0 while the window fills itself from a file: no edit, stays clean
        self._run_started_at = 0.0
        self._run_total = 0
        self.run = RunController(self)
        window_layout.build(self)
        self._connect()
        self._update_actions()
        self._update_title()

    # --- wiring --------------------------------------------------------------------------
    def _connect(self) -> None:
        self.tree_model.planChanged.connect(self._on_plan_changed)
        self.tree.selectionModel().selectionChanged.connect(self._on_selection)
        self.editor.edited.connect(self._on_schedule_edited)
        self.settings_panel.changed.connect(self._on_settings_changed)
        self.settings_panel.dataRequested.connect(self.load_data)
        self.run.runStarted.connect(self._on_run_started)
        self.run.baseline.connect(self._on_baseline)
        self.run.batches.connect(self._on_batches)
        self.run.epochEnded.connect(self._on_epoch_end)
        self.run.sparsity.connect(self.charts.add_sparsity)
        self.run.logLine.connect(self.log_panel.append_line)
        self.run.finished.connect(self._on_run_finished)
        self.run.failed.connect(self._on_run_failed)
        self.run.stateChanged.connect(lambda _s: self._update_actions())
        if self.scan_panel is not None:
            self.scan_panel.planSuggested.connect(self.apply_suggested_plan)
        if self.export_panel is not None:
            self.export_panel.exportFinished.connect(lambda _r: self.log_panel.append_line(self.export_panel.status_label.text()))

    # --- busy indicator ------------------------------------------------------------------
    def _start_task(self, text: str, fn, *args, on_done=None, **kwargs) -> Worker:
        worker = Worker(fn, *args, pass_report=False, **kwargs)
        self._loaders.append(worker)
        self.status_text.setText(text)
        self.busy.setVisible(True)

        outcome: list = []

        def finished() -> None:
            # Runs after returned/errored: the window is no longer busy when on_done runs.
            self._loaders.remove(worker)
            worker.wait()
            worker.deleteLater()
            self.busy.setVisible(bool(self._loaders))
            if not self._loaders:
                self.status_text.setText("Ready")
            if outcome and on_done is not None:
                on_done(outcome[0])
            self._update_actions()

        worker.returned.connect(outcome.append)
        worker.errored.connect(lambda exc: (show_error(self, text.rstrip("…"), exc), self.taskFailed.emit(exc)))
        worker.done.connect(finished)
        worker.start()
        self._update_actions()
        return worker

    def is_busy(self) -> bool:
        return bool(self._loaders) or self.run.running or self._hist_worker is not None

    # --- opening -------------------------------------------------------------------------
    def open_model(self, path: str | Path, data_spec: dict | None = None) -> None:
        """Open a model file in the background; ``data_spec`` is loaded right after."""
        if not self._confirm_discard():
            return
        path = str(path)
        self._add_recent(path)
        self._start_task(f"Opening {Path(path).name}…", load_model_task, path, self.session.trust,
                         on_done=lambda res: self._on_model_loaded(path, res, data_spec))

    def open_demo(self) -> None:
        """The built-in digits model and data, ready to run."""
        from prune_studio.resources import demo_model_path

        self.open_model(demo_model_path(), data_spec={"kind": "digits", "path": None, "options": {}})

    @contextmanager
    def _filling_from_file(self):
        """Changes made inside (opening a model, its data or a recipe) do not mark the session modified."""
        self._loading += 1
        try:
            yield
        finally:
            self._loading -= 1

    def _on_model_loaded(self, path: str, res, data_spec: dict | None) -> None:
        with self._filling_from_file():
            self._fill_from_model(path, res, data_spec)

    def _fill_from_model(self, path: str, res, data_spec: dict | None) -> None:
        loaded, description = res
        self.session = Session(loaded=loaded, description=description, model_path=Path(path), trust=self.session.trust)
        recipe, self._pending_recipe = self._pending_recipe, None
        from prune_studio.resources import demo_model_path

        self._demo_plan_pending = recipe is None and Path(path) == demo_model_path()
        self._pending_suggest = None
        if recipe is not None:
            self.session.plans = dict(recipe.plan.layers) if recipe.plan is not None else {}
            self.settings_panel.set_training_settings(recipe.training)
            self._export_settings = recipe.export.to_dict()
            self._adopt_plan_steps = recipe.plan is not None
            self._pending_suggest = recipe.suggest
            data_spec = recipe.data_spec().to_dict()
        self.tree_model.set_description(description, self.session.plans)
        self.tree.expandAll()
        self.charts.reset([])
        self._update_summary()
        self._update_title()
        self._set_dirty(False)
        self.log_panel.append_line(f"Opened {Path(path).name}: {description.total_params:,} parameters in "
                                   f"{len(description.prunable_layers())} layers that can be pruned.")
        self.modelReady.emit()
        if data_spec is not None:
            self.settings_panel.set_data_spec(data_spec)
            self.load_data(data_spec)
        self._update_panels()

    def load_data(self, spec: dict) -> None:
        model = self.session.loaded.model if self.session.loaded is not None else None
        self._start_task("Loading data…", load_data_task, spec, None, model,
                         on_done=lambda res: self._on_data_loaded(spec, res))

    def _on_data_loaded(self, spec: dict, res) -> None:
        with self._filling_from_file():
            self._fill_from_data(spec, res)
        self.dataReady.emit()

    def _fill_from_data(self, spec: dict, res) -> None:
        dataset, issues = res
        self.session.dataset, self.session.data_spec = dataset, spec
        text = f"{dataset.num_train:,} training and {dataset.num_test:,} test samples, {dataset.num_classes} classes, input {tuple(dataset.input_shape)}."
        if issues:
            text += "\n" + "\n".join(f"⚠ {issue.message}" for issue in issues)
        self.settings_panel.set_data_info(text, dataset.num_train)
        self.log_panel.append_line(f"Loaded the data: {text}")
        if self._demo_plan_pending:
            self._demo_plan_pending = False
            self.prune_all_prunable()
            self.apply_global_target()
        if self._adopt_plan_steps:
            self._adopt_plan_steps = False
            ends = [p.schedule.get_config()["config"].get("end_step", -1) for p in self.session.plans.values() if p.enabled]
            self.settings_panel.set_prune_end_step(max(ends, default=-1))
            self.editor.set_total_steps(self.settings_panel.total_steps())
        else:
            self._sync_schedules_to_training()
        self._update_panels()
        self._update_actions()
        if self._pending_suggest is not None:
            goal, self._pending_suggest = self._pending_suggest, None
            self.log_panel.append_line("This recipe asks for a suggested plan: the sensitivity scan fills the layer list.")
            window_layout.show_tab(self, self.scan_panel)
            self.scan_panel.suggest_after_scan(goal)

    def _update_panels(self) -> None:
        s = self.session
        if s.loaded is None:
            return
        if self.export_panel is not None and s.dataset is not None:
            settings, self._export_settings = self._export_settings, None
            self.export_panel.set_context(s.current_model, s.dataset, str(s.model_path), baseline_model=s.loaded.model,
                                          settings=settings)
        if self.scan_panel is not None and s.dataset is not None:
            self.scan_panel.set_context(s.loaded.model, s.dataset, s.description)

    # --- recipes -------------------------------------------------------------------------
    def open_recipe(self, path: str | Path) -> None:
        from prune_studio.recipe import load_recipe

        try:
            recipe = load_recipe(path)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            show_error(self, "Open recipe", exc)
            return
        if recipe.plan is None and self.scan_panel is None:
            show_error(self, "Open recipe", ValueError("this recipe asks for a suggested plan, which needs the sensitivity scan"))
            return
        self.session.trust = recipe.trust
        self._pending_recipe = recipe
        self._recipe_path = Path(path)
        self.open_model(recipe.model_file())

    def save_recipe(self, path: str | Path | None = None) -> Path | None:
        """Save model path, plan, data and training settings as a recipe (the CLI runs it)."""
        from prune_studio.data import DataSpec
        from prune_studio.recipe import Recipe, save_recipe

        if self.session.loaded is None:
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Save recipe", "recipe.json", "Recipe (*.json)")
            if not path:
                return None
        spec = self.session.data_spec or self.settings_panel.data_spec()
        export = self.export_panel.settings() if hasattr(self.export_panel, "settings") else None
        try:
            recipe = Recipe(model_path=str(self.session.model_path), data=DataSpec.from_dict(spec), plan=self.session.plan(),
                            training=self.settings_panel.training_settings(), export=export, trust=self.session.trust)
            written = save_recipe(recipe, path)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            show_error(self, "Save recipe", exc)
            return None
        self._set_dirty(False)
        self.statusBar().showMessage(f"Saved recipe {written}", 5000)
        return written

    # --- plan editing --------------------------------------------------------------------
    def _new_layer_plan(self, name: str):
        from prune_studio.pruning.plan import LayerPlan
        from prune_studio.pruning.schedules import PolynomialDecay

        end = max(2, self.settings_panel.prune_end_step() or 1000)
        target = self.global_target.value() / 100
        return LayerPlan(enabled=True, schedule=PolynomialDecay(min(0.5, target), target, 0, end, frequency=default_frequency(end)))

    def selected_names(self) -> list[str]:
        rows = self.tree.selectionModel().selectedRows(0)
        return [self.tree_model.data(i, NodeRole).name for i in rows]

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

    def _on_plan_changed(self) -> None:
        self._set_dirty(True)
        self._update_summary()
        self._update_actions()
        if not self.editor.editing:
            self._on_selection()

    def _on_settings_changed(self) -> None:
        self._sync_schedules_to_training()
        self._set_dirty(True)

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

    # --- running -------------------------------------------------------------------------
    def start_run(self) -> None:
        """Start fine-tuning the current plan in the worker thread.

        The GUI work is spread over several event-loop turns so that no single one holds up
        the window: charts are set up now, the charts tab is shown on the next turn, and the
        worker thread starts once the charts have been painted.
        """
        from prune_studio.ui.plan_stats import overall_target_curve

        s = self.session
        if s.loaded is None or s.dataset is None or self.run.running:
            return
        if not any(p.enabled for p in s.plans.values()):
            self.statusBar().showMessage("Tick at least one layer to prune first.", 5000)
            return
        plan, settings, model, dataset, compile_settings = s.plan(), self.settings_panel.training_settings(), s.loaded.model, s.dataset, s.loaded.compile_settings
        enabled = [n for n, p in plan.layers.items() if p.enabled]
        total_steps = self.settings_panel.total_steps()
        self.charts.reset(enabled, overall_target_curve(s.description, plan.layers, total_steps), total_steps)
        self.charts.start_live()
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self._run_started_at = time.monotonic()
        self.log_panel.append_line(f"Fine-tuning {len(enabled)} pruned layers for {settings.epochs} epochs "
                                   f"({total_steps:,} steps of {settings.batch_size} samples).")

        def task(listener, control):
            from prune_studio.training import fine_tune

            return fine_tune(model, plan, dataset, settings, compile_settings=compile_settings, listener=listener, control=control)

        self.run.start(task, defer=self.charts.call_after_paint)
        QTimer.singleShot(0, self, lambda: self.tabs.setCurrentWidget(self.charts))

    def toggle_pause(self) -> None:
        if self.run.state == "paused":
            self.run.resume()
        else:
            self.run.pause()

    def stop_run(self) -> None:
        if self.run.running:
            self.run.stop()
            self.status_text.setText("Stopping after this batch…")

    def _on_run_started(self, total: int, per_epoch: int, epochs: int) -> None:
        self._run_total, self._per_epoch, self._epochs = total, max(per_epoch, 1), epochs
        self.progress.setRange(0, max(total, 1))

    def _on_baseline(self, metrics: dict) -> None:
        self.charts.set_baseline(metrics)
        self.log_panel.append_line(f"Before pruning, the model scores {metric_words(metrics)} on the test set.")

    def _on_batches(self, batches: list) -> None:
        self.charts.add_batches(batches)
        step, epoch, _logs = batches[-1]
        self.progress.setValue(step)
        elapsed = time.monotonic() - self._run_started_at
        left = elapsed / step * (self._run_total - step) if step else 0
        self.progress.setFormat(f"epoch {epoch + 1}/{self._epochs} · step {step:,}/{self._run_total:,} · {int(left) // 60}:{int(left) % 60:02d} left")
        self.status_text.setText("Paused" if self.run.state == "paused" else "Fine-tuning…")

    def _on_epoch_end(self, epoch: int, logs: dict) -> None:
        self.charts.add_epoch((epoch + 1) * self._per_epoch, logs)
        self.log_panel.append_line(f"Epoch {epoch + 1} of {self._epochs} done: {metric_words(logs, validation=True)} "
                                   "on the validation data.")

    def _on_run_finished(self, result) -> None:
        self.charts.stop_live()
        self.progress.setVisible(False)
        self.session.result = result
        word = "Stopped" if result.stopped else "Finished"
        self.status_text.setText(f"{word}: {result_sentence(result)}")
        self.log_panel.append_line(f"{word}: after pruning, the model scores {metric_words(result.final)} on the test set.")
        self._update_panels()
        self._update_actions()
        self._on_selection()
        self.runFinished.emit(result)
        if self._close_after_run:
            QTimer.singleShot(0, self.close)

    def _on_run_failed(self, exc) -> None:
        self.charts.stop_live()
        self.progress.setVisible(False)
        self.status_text.setText("Run failed")
        show_error(self, "Fine-tune", exc, modal=not self._close_after_run)
        self._update_actions()
        self.runFinished.emit(None)
        if self._close_after_run:
            QTimer.singleShot(0, self.close)

    # --- window state --------------------------------------------------------------------
    def _set_dirty(self, dirty: bool) -> None:
        if dirty and self._loading:
            return
        self._dirty = dirty and self.session.loaded is not None
        self.setWindowModified(self._dirty)

    def _update_title(self) -> None:
        name = self.session.model_path.name if self.session.model_path else "no model"
        self.setWindowTitle(f"Prune Studio — {name}[*]")

    def _update_actions(self) -> None:
        window_layout.update_actions(self)

    def _confirm_discard(self) -> bool:
        """Ask about unsaved changes; False when the user cancels."""
        if not self._dirty:
            return True
        answer = QMessageBox.question(self, "Unsaved changes", "Save the current plan and settings as a recipe first?",
                                      QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel)
        if answer == QMessageBox.StandardButton.Save:
            return self.save_recipe() is not None
        return answer == QMessageBox.StandardButton.Discard

    def _add_recent(self, path: str) -> None:
        add_recent(self.settings_store, path)
        window_layout.fill_recent_menu(self)

    def close_without_asking(self) -> bool:
        """Close for programmatic callers: unsaved edits are discarded and a run is stopped first.

        Returns True when the window closed now; during a run it closes itself once the worker
        has stopped (as after the user confirmed).
        """
        self._close_after_run = True
        if self.run.running:
            self.stop_run()
        return self.close()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self.run.running:
            if not self._close_after_run:
                answer = QMessageBox.question(self, "A run is in progress", "Stop the fine-tune and close Prune Studio?")
                if answer != QMessageBox.StandardButton.Yes:
                    event.ignore()
                    return
                self._close_after_run = True
                # The run may have ended while the question was open: then close now.
                if self.run.running:
                    self.stop_run()
            if self.run.running:
                event.ignore()  # closes itself once the worker has stopped
                return
        if not self._close_after_run and not self._confirm_discard():
            event.ignore()
            return
        for worker in list(self._loaders) + [self._hist_worker]:
            if worker is not None:
                worker.wait()
        self._hist_pending = None
        for panel in (self.scan_panel, self.export_panel):
            if panel is not None:
                panel.shutdown()
        self.charts.stop_live()
        self.log_panel.detach()
        event.accept()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not getattr(self, "_panes_fitted", False):
            self._panes_fitted = True
            window_layout.fit_panes(self)
            QTimer.singleShot(0, self.charts.prime)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            path = urls[0]
            self.open_recipe(path) if path.endswith(".json") else self.open_model(path)

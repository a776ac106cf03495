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

from prune_studio.ui import idle_gc
from prune_studio.ui import layout as window_layout
from prune_studio.ui.after_paint import call_after_paint
from prune_studio.ui.layer_tree_model import COL_ZEROS
from prune_studio.ui.notify import show_error
from prune_studio.ui.run_controller import RunController
from prune_studio.ui.session import Session, build_model_task, load_data_task, load_model_task, load_recipe_task
from prune_studio.ui.user_settings import add_recent, app_settings
from prune_studio.ui.window_plan import PlanMixin
from prune_studio.ui.window_run import RunMixin
from prune_studio.ui.window_structured import StructuredMixin
from prune_studio.ui.worker import Worker

log = logging.getLogger(__name__)


#: How long after the layer tree's first paint a model is built (see MainWindow._start_after_paint).
SETTLE_MS = 100


class MainWindow(PlanMixin, RunMixin, StructuredMixin, QMainWindow):
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
        self.run.sparsity.connect(self._on_live_sparsity)
        self.run.logLine.connect(self.log_panel.append_line)
        self.run.phase.connect(self._on_phase)
        self.run.warning.connect(self._on_warning)
        self.banner.dismiss.clicked.connect(self.banner.hide)
        self.run.finished.connect(self._on_run_finished)
        self.run.failed.connect(self._on_run_failed)
        self.run.stateChanged.connect(lambda _s: self._update_actions())
        if self.scan_panel is not None:
            self.scan_panel.planSuggested.connect(self.apply_suggested_plan)
        if self.export_panel is not None:
            self.export_panel.exportFinished.connect(self._on_export_finished)
        self._connect_structured()

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
        """The built-in digits model and data, ready to run with the plan ``prune-studio-cli demo`` uses."""
        from prune_studio.resources import resource_path

        self.open_recipe(resource_path("samples", "digits_demo_recipe.json"))

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
        if self.session.loaded is not None:  # the previous model's objects may be garbage now
            idle_gc.thaw()
        self.session = Session(loaded=loaded, description=description, model_path=Path(path), trust=self.session.trust)
        recipe, self._pending_recipe = self._pending_recipe, None
        self._pending_suggest = None
        if recipe is not None:
            self.session.plans = dict(recipe.plan.layers) if recipe.plan is not None else {}
            self.settings_panel.set_training_settings(recipe.training)
            self._export_settings = recipe.export.to_dict()
            self._adopt_plan_steps = recipe.plan is not None
            self._pending_suggest = recipe.suggest
            self._pending_structured = recipe.structured
            data_spec = recipe.data_spec().to_dict()
        self.tree_model.set_description(description, self.session.plans)
        self.tree.expandAll()
        self.tree.setColumnHidden(COL_ZEROS, True)
        window_layout.fit_tree_columns(self)
        self.charts.reset([])
        self._update_summary()
        self._update_title()
        self._set_dirty(False)
        self.log_panel.append_line(f"Opened {Path(path).name}: {description.total_params:,} parameters in "
                                   f"{len(description.prunable_layers())} layers that can be pruned.")
        # The worker that builds the model starts once the filled tree has been painted (see
        # ui/after_paint.py): started at once, it made that paint wait for the GIL (130 ms, MobileNetV2).
        if data_spec is not None:
            self.settings_panel.set_data_spec(data_spec)
            self._start_after_paint(lambda: self.load_data(data_spec))  # builds the model in its worker
        elif not loaded.is_built:
            self._start_after_paint(lambda: self._start_task("Preparing the model…", build_model_task, loaded,
                                                             on_done=lambda _m: self._update_panels()))
        # After the build started: a listener that closes the window then waits for it.
        self.modelReady.emit()
        self._update_panels()
        structured, self._pending_structured = getattr(self, "_pending_structured", None), None
        self._apply_recipe_structured(structured)

    def _start_after_paint(self, start) -> None:
        """Call ``start()`` 100 ms after the layer tree's next paint (the view lays the rows out
        again just after its first paint: a worker started between the two made that layout wait
        for the GIL, 40-52 ms), unless another model was opened or the window closed meanwhile."""
        session = self.session

        def go() -> None:
            if self.session is session and not getattr(self, "_closed", False):
                start()

        call_after_paint(self.tree.viewport(), lambda: QTimer.singleShot(SETTLE_MS, self, go))

    def load_data(self, spec: dict) -> None:
        self._start_task("Loading data…", load_data_task, spec, None, self.session.loaded,
                         on_done=lambda res: self._on_data_loaded(spec, res))

    def _on_data_loaded(self, spec: dict, res) -> None:
        with self._filling_from_file():
            self._fill_from_data(spec, res)
        self.dataReady.emit()

    def _fill_from_data(self, spec: dict, res) -> None:
        dataset, issues = res
        self.session.dataset, self.session.data_spec = dataset, spec
        self.results.set_dataset(dataset)
        text = f"{dataset.num_train:,} training and {dataset.num_test:,} test samples, {dataset.num_classes} classes, input {tuple(dataset.input_shape)}."
        if issues:
            text += "\n" + "\n".join(f"⚠ {issue.message}" for issue in issues)
        self.settings_panel.set_data_info(text, dataset.num_train)
        self.log_panel.append_line(f"Loaded the data: {text}")
        if self._adopt_plan_steps:
            self._adopt_plan_steps = False
            ends = [p.schedule.get_config()["config"].get("end_step", -1) for p in self.session.plans.values() if p.enabled]
            self.settings_panel.set_prune_end_step(max(ends, default=-1))
            self.editor.set_total_steps(self.settings_panel.total_steps())
        else:
            self._sync_schedules_to_training()
        self._update_panels()
        self._update_actions()
        self._plan_charts_soon()
        self._prepare_run_child()
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
        self._fill_channels_tab()

    def _on_live_sparsity(self, _step: int, _overall: float, _target: float, layers: dict) -> None:
        """The tree's "Zeros now" bars, at most twice a second (the charts show every point)."""
        now = time.monotonic()
        if now - getattr(self, "_live_shown_at", 0.0) >= 0.5 or not self.run.running:
            self._live_shown_at, self._live_pending = now, None
            self.tree_model.set_live_sparsity(layers)
        else:
            self._live_pending = layers

    def _on_export_finished(self, report) -> None:
        self.log_panel.append_line(self.export_panel.status_label.text())
        # The view is shown first and filled over the next event-loop turns (see show_report).
        window_layout.show_tab(self, self.results)
        self.results.show_report(report, staged=True)

    # --- recipes -------------------------------------------------------------------------
    def open_recipe(self, path: str | Path) -> None:
        """Open a recipe, then its model and data, in the background.

        Reading a recipe's plan builds pruning schedules, which imports TensorFlow: on the GUI
        thread that froze the window for 5-12 s the first time (``--demo`` does it at start-up).
        """
        self._start_task(f"Opening {Path(path).name}…", load_recipe_task, str(path),
                         on_done=lambda recipe: self._on_recipe_read(Path(path), recipe))

    def _on_recipe_read(self, path: Path, recipe) -> None:
        if recipe.plan is None and self.scan_panel is None:
            show_error(self, "Open recipe", ValueError("this recipe asks for a suggested plan, which needs the sensitivity scan"))
            return
        self.session.trust = recipe.trust
        self._pending_recipe = recipe
        self._recipe_path = path
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
                            training=self.settings_panel.training_settings(), export=export, trust=self.session.trust,
                            structured=self.recipe_structured())
            written = save_recipe(recipe, path)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            show_error(self, "Save recipe", exc)
            return None
        self._set_dirty(False)
        self.statusBar().showMessage(f"Saved recipe {written}", 5000)
        return written

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
        self._closed = True  # work waiting for a paint (see _start_after_paint) does not start now
        for worker in list(self._loaders) + [self._hist_worker, getattr(self, "_prepare_worker", None)]:
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


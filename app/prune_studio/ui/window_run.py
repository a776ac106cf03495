"""The main window's runs: start, pause, stop, and what a run reports while it trains.

A mixin of :class:`~prune_studio.ui.main_window.MainWindow` (kept apart so each file stays
readable). The fine-tune itself runs in :class:`~prune_studio.ui.run_controller.RunController`'s
worker thread; these methods only show what it reports.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer

from prune_studio.ui.layer_tree_model import COL_ZEROS
from prune_studio.ui.notify import show_error
from prune_studio.ui.plan_stats import metric_words, result_sentence
from prune_studio.ui.worker import Worker


class RunMixin:
    """Running the fine-tune from the window."""

    def start_run(self) -> None:
        """Start fine-tuning the current plan in the worker thread.

        The GUI work is spread over several event-loop turns so that no single one holds up
        the window: the charts were set up for this plan while the window was idle
        (:meth:`_plan_charts_soon`), so here they are only cleared; the charts tab is shown on
        the next turn, and the worker thread starts once the charts have been painted.
        """
        s = self.session
        if s.loaded is None or s.dataset is None or self.run.running:
            return
        structured = self.structured_wanted()
        if not structured and not any(p.enabled for p in s.plans.values()):
            self.statusBar().showMessage("Tick at least one layer to prune, or thin a channel group in the Channels tab, first.", 5000)
            return
        plan, settings, model, dataset, compile_settings = s.plan(), self.settings_panel.training_settings(), s.loaded.model, s.dataset, s.loaded.compile_settings
        enabled = [n for n, p in plan.layers.items() if p.enabled]
        total_steps = self.settings_panel.total_steps()
        self.charts.reset(enabled, self._target_curve(plan, total_steps), total_steps)
        self.charts.start_live()
        self.banner.hide()
        self._phase = ""
        self.tree_model.set_live_sparsity({})
        self.tree.setColumnHidden(COL_ZEROS, not enabled)  # a run that only removes channels zeroes nothing
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self._run_started_at = time.monotonic()
        self._run_title = "Shrink" if structured else "Fine-tune"
        if structured:
            task, words = self.structured_task(plan, settings, model, dataset, compile_settings)
            self.log_panel.append_line(f"{words} for {settings.epochs} epochs ({total_steps:,} steps of "
                                       f"{settings.batch_size} samples)"
                                       + (f", zeroing weights in {len(enabled)} layers." if enabled else "."))
        else:
            self.log_panel.append_line(f"Fine-tuning {len(enabled)} pruned layers for {settings.epochs} epochs "
                                       f"({total_steps:,} steps of {settings.batch_size} samples).")

            sources = s.run_sources()

            def task(listener, control):
                from prune_studio.export import tflite_process
                from prune_studio.training import fine_tune
                from prune_studio.training import run_process

                child = run_process.shared() if sources is not None else None
                if child is not None and child.start():  # TensorFlow's graph building keeps off the GUI's GIL
                    result = child.run(*sources, plan, settings, compile_settings, listener, control)
                else:
                    result = fine_tune(model, plan, dataset, settings, compile_settings=compile_settings,
                                       listener=listener, control=control)
                # An export usually follows: the TFLite converter's process imports TensorFlow
                # (seconds) meanwhile; started from this thread, it runs niced as this one.
                converter = tflite_process.shared()
                if converter is not None:
                    converter.start()
                return result

        self.run.start(task, defer=self.charts.call_after_paint)
        QTimer.singleShot(0, self, lambda: self.tabs.setCurrentWidget(self.charts))

    def _prepare_run_child(self) -> None:
        """Have the training child open the model and load the data while the user sets the plan,
        so Run starts at once. A worker starts the child: it inherits the worker's lower priority."""
        sources = self.session.run_sources()
        if sources is None or getattr(self, "_prepare_worker", None) is not None:
            return

        def prepare() -> None:
            from prune_studio.training import run_process

            child = run_process.shared()
            if child is not None:
                child.prepare(*sources)

        def done() -> None:
            worker, self._prepare_worker = self._prepare_worker, None
            worker.wait()
            worker.deleteLater()

        worker = self._prepare_worker = Worker(prepare, pass_report=False)
        worker.done.connect(done)
        worker.start()

    def _plan_charts_soon(self) -> None:
        """Set the live charts up for the planned run once the plan has stopped changing.

        See :meth:`~prune_studio.ui.charts.ChartPanel.prepare`: what Run used to do on the GUI
        thread while the worker thread started is done while the window is idle.
        """
        timer = getattr(self, "_charts_timer", None)
        if timer is None:
            timer = self._charts_timer = QTimer(self)
            timer.setSingleShot(True)
            timer.setInterval(300)
            timer.timeout.connect(self._prepare_charts)
        timer.start()

    def _prepare_charts(self) -> None:
        s = self.session
        if s.loaded is None or s.dataset is None or self.run.running:
            return
        plan = s.plan()
        enabled = [n for n, p in plan.layers.items() if p.enabled]
        if enabled:
            total = self.settings_panel.total_steps()
            self.charts.prepare(enabled, self._target_curve(plan, total), total)

    def _target_curve(self, plan, total_steps: int):
        """The planned overall zeros over the run; kept from the last call while the plan is the same."""
        from prune_studio.ui.plan_stats import overall_target_curve

        key = (id(self.session.description), total_steps, tuple((n, repr(p.schedule.get_config()), p.sparsity_m_by_n)
                                  for n, p in plan.layers.items() if p.enabled))
        cached = getattr(self, "_target_cache", None)
        if cached is None or cached[0] != key:
            cached = self._target_cache = (key, overall_target_curve(self.session.description, plan.layers, total_steps))
        return cached[1]

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
        phase = getattr(self, "_phase", "") or "Fine-tuning"
        self.status_text.setText("Paused" if self.run.state == "paused" else f"{phase}…")

    def _on_epoch_end(self, epoch: int, logs: dict) -> None:
        self.charts.add_epoch((epoch + 1) * self._per_epoch, logs)
        self.log_panel.append_line(f"Epoch {epoch + 1} of {self._epochs} done: {metric_words(logs, validation=True)} "
                                   "on the validation data.")

    def _on_run_finished(self, result) -> None:
        pending, self._live_pending = getattr(self, "_live_pending", None), None
        if pending is not None:  # the last zeros of the run, even if they came in a burst
            self.tree_model.set_live_sparsity(pending)
        self.charts.stop_live()
        self.progress.setVisible(False)
        shrink = None
        if hasattr(result, "fine_tune") and hasattr(result, "before"):  # a structured run's ShrinkResult
            shrink, result = result, result.fine_tune
        self.session.result, self.session.shrink = result, shrink
        self._structured_finished(shrink)
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
        show_error(self, getattr(self, "_run_title", "Fine-tune"), exc, modal=not self._close_after_run)
        self._update_actions()
        self.runFinished.emit(None)
        if self._close_after_run:
            QTimer.singleShot(0, self.close)

    def _on_phase(self, name: str, seconds) -> None:
        """A phase of the run starts (``seconds`` None) or ends: shown beside the progress bar."""
        if seconds is None:
            self._phase = name
            self.status_text.setText(f"{name}…")
            self.progress.setVisible(True)
            if name != "Fine-tuning":
                self.progress.setFormat(f"{name}…")
            return
        self._phase = ""
        self.log_panel.append_line(f"{name}: done in {seconds:.1f} s.")

    def _on_warning(self, kind: str, message: str) -> None:
        """A sentence the user should act on (``accuracy_drop``): a banner atop the log dock."""
        from prune_studio.ui.layout import place_banner

        place_banner(self)
        self.banner.show_message(message)
        self.log_panel.append_line(f"Warning: {message}")

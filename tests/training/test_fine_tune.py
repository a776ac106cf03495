"""fine_tune on a tiny real model: metrics, sparsity, listener rate limit, stop/pause, errors."""

import threading
import time

import numpy as np
import pytest

from prune_studio.compat import tf
from prune_studio.training import RunControl, TrainingError, TrainingListener, TrainingSettings, fine_tune, steps_for


class Recorder(TrainingListener):
    """Records every call with the time it arrived."""

    def __init__(self):
        self.calls = []
        self.batch_event = threading.Event()
        self.steps = 0

    def _add(self, name, *args):
        self.calls.append((name, time.monotonic(), args))

    def on_run_start(self, *args):
        self._add("run_start", *args)

    def on_baseline(self, metrics):
        self._add("baseline", metrics)

    def on_batch_end(self, step, epoch, logs):
        self.steps = step
        self._add("batch_end", step, epoch, logs)
        self.batch_event.set()

    def on_epoch_end(self, epoch, logs):
        self._add("epoch_end", epoch, logs)

    def on_sparsity(self, step, overall, target, layers):
        self._add("sparsity", step, overall, target, layers)

    def on_run_end(self, result):
        self._add("run_end", result)

    def named(self, name):
        return [c for c in self.calls if c[0] == name]


def _plan(model, settings, dataset, target=0.75):
    from prune_studio.pruning.plan import PruningPlan

    end = max(1, steps_for(settings, dataset.num_train) - 2)
    return PruningPlan.uniform(model, target, 0, end, frequency=2)


def _zeros(stripped, name):
    kernel = stripped.get_layer(name).kernel.numpy()
    return float(np.mean(kernel == 0))


def test_run_reaches_target_and_reports(mlp, tiny_dataset, compile_settings, tmp_path):
    settings = TrainingSettings(epochs=2, batch_size=16, learning_rate=1e-3)
    listener = Recorder()
    result = fine_tune(mlp, _plan(mlp, settings, tiny_dataset), tiny_dataset, settings,
                       compile_settings=compile_settings, listener=listener, logdir=str(tmp_path / "logs"))
    total = steps_for(settings, tiny_dataset.num_train)
    assert listener.named("run_start")[0][2] == (total, total // 2, 2)
    assert len(listener.named("batch_end")) == total
    assert [c[2][0] for c in listener.named("epoch_end")] == [0, 1]
    assert set(result.baseline) == set(result.final) == {"loss", "accuracy"}
    assert listener.named("baseline")[0][2][0] == result.baseline
    assert listener.named("run_end")[0][2][0] is result
    assert not result.stopped and result.skipped == {}
    assert set(result.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    for name in ("hidden", "out"):
        assert result.sparsity[name] == pytest.approx(0.75, abs=0.02)
        assert _zeros(result.stripped_model, name) == pytest.approx(0.75, abs=0.02)
    # on_sparsity at most ~10 per second (plus the final one), though every batch ended
    times = [c[1] for c in listener.named("sparsity")]
    batch_times = [c[1] for c in listener.named("batch_end")]
    assert len(times) >= 2 and len(times) <= (batch_times[-1] - batch_times[0]) / 0.1 + 2
    last = listener.named("sparsity")[-1][2]
    assert last[1] == pytest.approx(0.75, abs=0.02) and last[2] == pytest.approx(0.75, abs=0.01)
    tags = _event_tags(tmp_path / "logs")
    assert {"epoch_loss", "epoch_accuracy"} <= tags
    assert any("hidden" in t and t.endswith("/sparsity") for t in tags), tags
    assert any("_out/" in t and t.endswith("/sparsity") for t in tags), tags


def _event_tags(logdir):
    """Every scalar tag in the TensorBoard event files under ``logdir``."""
    tags = set()
    for path in logdir.rglob("events.out.tfevents*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags.update(value.tag for value in event.summary.value)
    return tags


def test_pause_and_stop_from_another_thread(mlp, tiny_dataset, compile_settings):
    settings = TrainingSettings(epochs=4, batch_size=16)
    listener, control = Recorder(), RunControl()
    seen = {}

    def operator():
        listener.batch_event.wait(60)
        control.pause()
        deadline = time.monotonic() + 60  # the batch in flight ends (slow on a loaded machine), then the run holds
        while not control.holding and time.monotonic() < deadline:
            time.sleep(0.005)
        seen["paused_at"] = listener.steps
        time.sleep(0.4)
        seen["after_wait"] = listener.steps
        control.resume()
        deadline = time.monotonic() + 60
        while listener.steps < seen["after_wait"] + 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        seen["stop_at"] = listener.steps
        control.stop()

    thread = threading.Thread(target=operator)
    thread.start()
    result = fine_tune(mlp, _plan(mlp, settings, tiny_dataset), tiny_dataset, settings,
                       compile_settings=compile_settings, listener=listener, control=control)
    thread.join(10)
    total = steps_for(settings, tiny_dataset.num_train)
    assert seen["after_wait"] == seen["paused_at"], "batches ran while paused"
    assert result.stopped
    assert seen["after_wait"] + 3 <= seen["stop_at"] <= listener.steps <= seen["stop_at"] + 1 < total
    # a consistent model: the stripped weights carry the masks reached at the stop
    for name, share in result.sparsity.items():
        assert _zeros(result.stripped_model, name) == pytest.approx(share, abs=1e-6)
    assert np.isfinite(result.final["loss"])


def test_nan_loss_raises_training_error(mlp, tiny_npz, compile_settings, tmp_path):
    from prune_studio.data import DataSpec, load_data

    with np.load(tiny_npz) as d:
        arrays = {k: d[k] for k in d.files}
    arrays["x_train"] = arrays["x_train"].copy()
    arrays["x_train"][5:, 0, 0, 0] = np.nan
    path = tmp_path / "nan.npz"
    np.savez(path, **arrays)
    dataset = load_data(DataSpec(kind="npz", path=str(path)))
    settings = TrainingSettings(epochs=1, batch_size=16)
    listener = Recorder()
    with pytest.raises(TrainingError, match="NaN at step 1") as info:
        fine_tune(mlp, _plan(mlp, settings, dataset), dataset, settings, compile_settings=compile_settings,
                  listener=listener)
    assert "learning rate" in str(info.value)
    assert listener.named("run_end") == []


def test_data_that_does_not_fit_raises_training_error(tiny_dataset, compile_settings):
    from prune_studio.compat import keras

    model = keras.Sequential([keras.layers.Input((5,)), keras.layers.Dense(10, activation="softmax", name="d")])
    with pytest.raises(TrainingError, match="does not fit the model"):
        fine_tune(model, _plan(model, TrainingSettings(), tiny_dataset), tiny_dataset,
                  TrainingSettings(epochs=1), compile_settings=compile_settings)


def test_invalid_settings_raise_before_training(mlp, tiny_dataset):
    with pytest.raises(TrainingError, match="batch_size"):
        fine_tune(mlp, None, tiny_dataset, TrainingSettings(batch_size=0))

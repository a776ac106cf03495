"""The window's fine-tune in a child process (training/run_process.py + training/run_child.py).

A real child, a real small model file and data file: what the listener hears, stop and pause
passed on, errors coming back as the same sentence and class, and a child that dies.
"""

import threading

import numpy as np
import pytest

from prune_studio.compat import keras
from prune_studio.data import DataError, DataSpec, load_data
from prune_studio.pruning import PolynomialDecay
from prune_studio.pruning.plan import LayerPlan, PruningPlan
from prune_studio.training.control import RunControl
from prune_studio.training.listener import TrainingListener
from prune_studio.training.run_process import DataSource, ModelSource, RunProcess, RunProcessError, _rebuilt
from prune_studio.training.settings import TrainingSettings


class Recorder(TrainingListener):
    def __init__(self, on_batch=None):
        self.events, self.batches, self._on_batch = [], [], on_batch

    def on_run_start(self, total_steps, steps_per_epoch, epochs):
        self.events.append(("run_start", total_steps, steps_per_epoch, epochs))

    def on_baseline(self, metrics):
        self.events.append(("baseline", metrics))

    def on_batch_end(self, step, epoch, logs):
        self.batches.append((step, epoch, logs))
        if self._on_batch is not None:
            self._on_batch(step)

    def on_phase(self, name, seconds):
        self.events.append(("phase", name, seconds))

    def on_run_end(self, result):
        self.events.append(("run_end", result))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run_child")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(320, 12)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int64")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Input((12,)), keras.layers.Dense(32, activation="relu", name="hidden"),
                              keras.layers.Dense(2, activation="softmax", name="out")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=5, verbose=0)
    model.save(folder / "model.keras")
    np.savez(folder / "data.npz", x=x, y=y)
    return ModelSource(str(folder / "model.keras")), DataSource({"kind": "npz", "path": str(folder / "data.npz"), "options": {}})


@pytest.fixture(scope="module")
def child():
    process = RunProcess()
    yield process
    process.close()


def _plan(target=0.6, end_step=16):
    return PruningPlan({"hidden": LayerPlan(enabled=True, schedule=PolynomialDecay(0.0, target, 0, end_step, frequency=2))})


def test_a_run_in_the_child_reports_like_one_here_and_gives_the_stripped_model(child, files):
    model, data = files
    listener = Recorder()
    result = child.run(model, data, _plan(), TrainingSettings(epochs=2, batch_size=32), listener=listener)
    kinds = [e[0] for e in listener.events]
    assert kinds[0] == "phase" and "run_start" in kinds and "baseline" in kinds and kinds[-1] == "run_end"
    total = next(e for e in listener.events if e[0] == "run_start")[1]
    assert [b[0] for b in listener.batches] == list(range(1, total + 1))
    assert ("phase", "Reading the pruned model", None) in listener.events
    assert result.wrapped_model is None and not result.stopped
    kernel = result.stripped_model.get_layer("hidden").kernel.numpy()
    assert (kernel == 0).mean() == pytest.approx(0.6, abs=0.01) == pytest.approx(result.sparsity["hidden"], abs=0.01)
    # The model read back is the one the child evaluated: same accuracy on the same test split here.
    dataset = load_data(DataSpec.from_dict(data.spec))
    _loss, accuracy = result.stripped_model.evaluate(dataset.x_test, dataset.y_test, verbose=0)
    assert accuracy == pytest.approx(result.final["accuracy"], abs=1e-6)
    opened = keras.models.load_model(model.path)
    assert opened.evaluate(dataset.x_test, dataset.y_test, verbose=0)[1] == pytest.approx(result.baseline["accuracy"], abs=1e-6)


def test_stop_and_pause_reach_the_child(child, files):
    model, data = files
    control = RunControl()
    paused_at = []

    def on_batch(step):
        if step == 3:
            control.pause()
            paused_at.append(step)
            threading.Timer(0.6, control.stop).start()

    listener = Recorder(on_batch)
    result = child.run(model, data, _plan(), TrainingSettings(epochs=50, batch_size=32), listener=listener,
                       control=control)
    assert result.stopped and paused_at == [3]
    # The pause reached the child within a batch or two (it is polled every 50 ms); nothing ran while held.
    assert 3 <= len(listener.batches) < 3 + 40


def test_an_error_in_the_child_is_the_same_error_here(child, files):
    model, _data = files
    missing = DataSource({"kind": "npz", "path": "/nonexistent/data.npz", "options": {}})
    with pytest.raises(DataError, match="does not exist"):
        child.run(model, missing, _plan(), TrainingSettings(epochs=1))
    result = child.run(model, files[1], _plan(), TrainingSettings(epochs=1))  # the child still serves
    assert not result.stopped


def test_a_child_that_dies_is_one_sentence_and_the_next_run_starts_a_new_one(child, files):
    model, data = files

    def kill(step):
        if step == 2:
            child._process.kill()

    with pytest.raises(RunProcessError, match="stopped unexpectedly.*try the run again"):
        child.run(model, data, _plan(), TrainingSettings(epochs=20, batch_size=32), listener=Recorder(kill))
    assert not child.alive()
    assert not child.run(model, data, _plan(), TrainingSettings(epochs=1)).stopped


def test_only_this_packages_error_classes_are_rebuilt():
    assert isinstance(_rebuilt({"type": "prune_studio.data.dataset.DataError", "message": "m", "expected": True}), DataError)
    for name in ("os.system", "subprocess.Popen", "prune_studio.compat.tf"):
        error = _rebuilt({"type": name, "message": "m", "expected": True})
        assert type(error) is RunProcessError and str(error) == "m"
    error = _rebuilt({"type": "builtins.ValueError", "message": "bad", "expected": False})
    assert type(error) is RunProcessError and "ValueError: bad" in str(error)


def test_a_channel_removal_run_in_the_child_gives_the_smaller_model(child, files):
    from prune_studio.structured.run import ShrinkResult
    from prune_studio.structured.settings import StructuredSettings

    model, data = files
    listener = Recorder()
    baselines = []
    listener.on_baseline = lambda metrics: baselines.append(metrics)
    shrunk = child.run(model, data, PruningPlan(), TrainingSettings(epochs=1, batch_size=32), listener=listener,
                       structured=StructuredSettings(mode="global", reduction=0.5, metric="params"))
    assert isinstance(shrunk, ShrinkResult) and shrunk.fine_tune is not None and not shrunk.stopped
    assert shrunk.after.params < shrunk.before.params
    units = shrunk.model.get_layer("hidden").units
    assert units < 32 and shrunk.layer_sizes["hidden"][1] == shrunk.model.get_layer("hidden").count_params()
    assert shrunk.groups["hidden"] == {"size": 32, "kept": units}
    # The first baseline is the model as opened; the round's own (the smaller model untuned) follows.
    dataset = load_data(DataSpec.from_dict(data.spec))
    opened = keras.models.load_model(model.path).evaluate(dataset.x_test, dataset.y_test, verbose=0)[1]
    assert len(baselines) == 2 and baselines[0]["accuracy"] == pytest.approx(opened, abs=1e-6)
    assert shrunk.fine_tune.baseline["accuracy"] == pytest.approx(opened, abs=1e-6)

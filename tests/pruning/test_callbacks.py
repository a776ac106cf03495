"""UpdatePruningStep under fit: the step driver in ``model.train_function`` and its fallbacks."""

import numpy as np
import pytest

from prune_studio.compat import keras
from prune_studio import pruning
from prune_studio.pruning.callbacks import _StepDriver

BATCH = 8
BATCHES = 12


def _pruned(seed=0, run_eagerly=False, schedule=None):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.layers.Dense(24, activation="relu", input_shape=(16,), name="h"), keras.layers.Dense(4, name="o")]
    )
    schedule = schedule or pruning.PolynomialDecay(0.3, 0.8, begin_step=1, end_step=10, frequency=3)
    pruned = pruning.prune_low_magnitude(model, schedule)
    pruned.compile(
        keras.optimizers.Adam(0.02),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        run_eagerly=run_eagerly,
    )
    return pruned


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    return rng.normal(size=(BATCH * BATCHES, 16)).astype(np.float32), rng.integers(0, 4, BATCH * BATCHES)


def _state(model):
    return [v.numpy().copy() for w in pruning.prune.wrappers_of(model) for triple in w.pruning_vars for v in triple]


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-6)


def _hook_driven(data):
    """The custom-loop path: batch hooks and train_on_batch, no driver."""
    model = _pruned()
    callback = pruning.UpdatePruningStep()
    callback.set_model(model)
    callback.on_train_begin()
    x, y = data
    for i in range(BATCHES):
        callback.on_train_batch_begin(batch=-1)
        model.train_on_batch(x[i * BATCH : (i + 1) * BATCH], y[i * BATCH : (i + 1) * BATCH])
    callback.on_train_end()
    return model


def test_fit_drives_the_masks_from_the_train_function_and_gives_it_back(data):
    model = _pruned()
    callback = pruning.UpdatePruningStep()
    seen = []

    class Watch(keras.callbacks.Callback):  # epoch hooks only, so Keras dispatches no batch hooks
        def on_epoch_end(self, epoch, logs=None):
            seen.append(self.model.train_function)

    assert not callback._implements_train_batch_hooks()
    model.fit(*data, batch_size=BATCH, shuffle=False, callbacks=[callback, Watch()], verbose=0)
    assert isinstance(seen[0], _StepDriver) and seen[0].callback is callback
    assert not isinstance(model.train_function, _StepDriver)
    assert model.train_function is seen[0].inner
    assert int(model.layers[0].pruning_step.numpy()) == BATCHES
    for wrapper in model.layers:
        (weight, mask, _), = wrapper.pruning_vars
        kept = max(1, round(mask.numpy().size * (1 - 0.8)))
        assert int(mask.numpy().sum()) == kept
        assert np.all(weight.numpy()[mask.numpy() == 0] == 0)
    # Same masks, thresholds and weights as the hook-driven custom loop.
    _assert_same(_state(model), _state(_hook_driven(data)))


def test_another_callback_with_batch_hooks_does_not_update_twice(data):
    calls = []
    busy = keras.callbacks.LambdaCallback(on_train_batch_begin=lambda batch, logs: calls.append(batch))
    model = _pruned()
    model.fit(*data, batch_size=BATCH, shuffle=False, callbacks=[pruning.UpdatePruningStep(), busy], verbose=0)
    assert len(calls) == BATCHES
    assert int(model.layers[0].pruning_step.numpy()) == BATCHES
    _assert_same(_state(model), _state(_hook_driven(data)))


def test_run_eagerly_updates_the_masks_the_same_way(data):
    model = _pruned(run_eagerly=True)
    model.fit(*data, batch_size=BATCH, shuffle=False, callbacks=[pruning.UpdatePruningStep()], verbose=0)
    _assert_same(_state(model), _state(_hook_driven(data)))


def test_fit_after_an_interrupted_fit_resumes_the_schedule(data):
    class Stop(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 4:
                raise KeyboardInterrupt

    x, y = data
    model = _pruned()
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=BATCH, shuffle=False, callbacks=[pruning.UpdatePruningStep(), Stop()], verbose=0)
    assert isinstance(model.train_function, _StepDriver)  # fit never reached train end
    done = 5 * BATCH
    callback = pruning.UpdatePruningStep()
    model.fit(x[done:], y[done:], batch_size=BATCH, shuffle=False, callbacks=[callback], verbose=0)
    assert not isinstance(model.train_function, _StepDriver)
    assert int(model.layers[0].pruning_step.numpy()) == BATCHES
    _assert_same(_state(model), _state(_hook_driven(data)))


def test_a_new_callback_for_each_fit_does_not_trace_the_training_step_again(data):
    model = _pruned(schedule=pruning.ConstantSparsity(0.5, begin_step=0, frequency=5))  # due in every fit
    traces = []
    train_step = model.train_step

    def counted(batch):  # runs only while the training step is traced
        traces.append(1)
        return train_step(batch)

    model.train_step = counted
    for epoch in range(3):  # a loop that makes a new callback per fit, as scripts often do
        model.fit(*data, batch_size=BATCH, shuffle=False, callbacks=[pruning.UpdatePruningStep()], verbose=0)
        if epoch == 0:
            first = len(traces)
    assert first >= 1 and len(traces) == first
    assert int(model.layers[0].pruning_step.numpy()) == 3 * BATCHES


def test_a_schedule_changed_between_fits_is_followed(data):
    model = _pruned(schedule=pruning.ConstantSparsity(0.5, begin_step=0, frequency=4))
    model.fit(*data, batch_size=BATCH, shuffle=False, callbacks=[pruning.UpdatePruningStep()], verbose=0)
    for wrapper in model.layers:
        wrapper.pruning_schedule = pruning.ConstantSparsity(0.75, begin_step=0, frequency=4)
    model.fit(*data, batch_size=BATCH, shuffle=False, callbacks=[pruning.UpdatePruningStep()], verbose=0)
    for wrapper in model.layers:
        (_, mask, _), = wrapper.pruning_vars
        assert int(mask.numpy().sum()) == round(mask.numpy().size * 0.25)

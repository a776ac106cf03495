"""Checkpoints written mid-fine-tune reload under prune_scope and resume at the same step."""

import h5py
import numpy as np
import pytest

from prune_studio.compat import keras
from prune_studio import pruning


def _pruned_model():
    keras.utils.set_random_seed(8)
    model = keras.Sequential(
        [
            keras.layers.Conv2D(4, 3, input_shape=(8, 8, 1), name="conv"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, name="out"),
        ]
    )
    schedule = pruning.PolynomialDecay(0.2, 0.8, begin_step=0, end_step=20, frequency=2)
    pruned = pruning.prune_low_magnitude(model, schedule)
    pruned.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return pruned


def _state(model):
    return {
        w.layer.name: (int(w.pruning_step.numpy()), [m.numpy().copy() for _, m, _ in w.pruning_vars])
        for w in model.layers
        if isinstance(w, pruning.PruneLowMagnitude) and w.pruning_vars
    }


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_save_mid_fine_tune_reload_and_resume(tmp_path, digits, suffix):
    x, y = digits["x_train"][:96], digits["y_train"][:96]
    pruned = _pruned_model()
    path = tmp_path / f"mid{suffix}"
    # A checkpoint every 5 batches, in the middle of the first epoch (12 batches per epoch).
    saver = keras.callbacks.ModelCheckpoint(str(path), save_freq=5, save_weights_only=False)
    pruned.fit(x, y, batch_size=8, epochs=1, shuffle=False, callbacks=[pruning.UpdatePruningStep(), saver], verbose=0)
    saved_at = 10  # the last checkpoint was written after batch 10 (steps 1..10 done)
    with pruning.prune_scope():
        restored = keras.models.load_model(str(path))
    state = _state(restored)
    assert {name: step for name, (step, _) in state.items()} == {"conv": saved_at, "out": saved_at}
    # Weights in the checkpoint are already sparse: masked entries are exactly zero.
    for wrapper in restored.layers:
        if isinstance(wrapper, pruning.PruneLowMagnitude) and wrapper.pruning_vars:
            weight, mask, _ = wrapper.pruning_vars[0]
            assert np.all(weight.numpy()[mask.numpy() == 0] == 0)
            assert mask.numpy().min() == 0.0
    # Resuming runs the next batch at step 11 (steps count from 1), not a pruning step
    # (frequency 2): the masks stay as saved.
    masks_before = {name: masks for name, (_, masks) in state.items()}
    restored.fit(x[:8], y[:8], batch_size=8, epochs=1, callbacks=[pruning.UpdatePruningStep()], verbose=0)
    after = _state(restored)
    assert after["conv"][0] == saved_at + 1
    for name, (_, masks) in after.items():
        for mask, before in zip(masks, masks_before[name]):
            np.testing.assert_array_equal(mask, before)
    # Step 12 prunes: the masks move to that step's target.
    restored.fit(x[:8], y[:8], batch_size=8, epochs=1, callbacks=[pruning.UpdatePruningStep()], verbose=0)
    target = pruning.PolynomialDecay(0.2, 0.8, 0, 20, frequency=2).value_at(12)[1]
    for name, (step, masks) in _state(restored).items():
        assert step == saved_at + 2
        for mask in masks:
            assert int(mask.sum()) == max(1, round(mask.size * (1 - target)))


def test_stripped_model_saves_sparse_weights(tmp_path, digits):
    pruned = _pruned_model()
    pruned.fit(digits["x_train"][:64], digits["y_train"][:64], batch_size=8, callbacks=[pruning.UpdatePruningStep()], verbose=0)
    stripped = pruning.strip_pruning(pruned)
    path = tmp_path / "stripped.h5"
    stripped.save(str(path))
    with h5py.File(path) as f:
        kernel = f["model_weights/out/out/kernel:0"][()]
    # 8 batches ran at steps 1..8; the last pruning step was 8: keep round(n * (1 - s(8))).
    target = pruning.PolynomialDecay(0.2, 0.8, 0, 20, frequency=2).value_at(8)[1]
    assert np.count_nonzero(kernel) == round(kernel.size * (1 - target))
    reloaded = keras.models.load_model(str(path))
    np.testing.assert_array_equal(reloaded.get_layer("out").kernel.numpy(), kernel)
    assert np.count_nonzero(kernel) == np.count_nonzero(pruned.layers[-1].pruning_vars[0][1].numpy())


def test_resumed_checkpoint_matches_uninterrupted_training(tmp_path, digits):
    x, y = digits["x_train"][:64], digits["y_train"][:64]
    straight = _pruned_model()
    straight.fit(x, y, batch_size=8, epochs=2, shuffle=False, callbacks=[pruning.UpdatePruningStep()], verbose=0)
    first = _pruned_model()
    first.fit(x, y, batch_size=8, epochs=1, shuffle=False, callbacks=[pruning.UpdatePruningStep()], verbose=0)
    first.save(str(tmp_path / "half.keras"))
    with pruning.prune_scope():
        second = keras.models.load_model(str(tmp_path / "half.keras"))
    second.fit(x, y, batch_size=8, epochs=1, shuffle=False, callbacks=[pruning.UpdatePruningStep()], verbose=0)
    assert _state(second).keys() == _state(straight).keys()
    for name in _state(straight):
        assert _state(second)[name][0] == _state(straight)[name][0] == 16
        np.testing.assert_array_equal(_state(second)[name][1][0], _state(straight)[name][1][0])
    np.testing.assert_allclose(second.predict(x, verbose=0), straight.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("save_freq", [5, "epoch"])
def test_a_checkpoint_callback_listed_first_saves_the_step_reached(tmp_path, digits, save_freq):
    # The step is counted outside the graph; a checkpoint written by a callback that runs
    # before UpdatePruningStep (per batch, or at the epoch's end) must still hold it.
    x, y = digits["x_train"][:96], digits["y_train"][:96]
    pruned = _pruned_model()
    path = tmp_path / "first.keras"
    saver = keras.callbacks.ModelCheckpoint(str(path), save_freq=save_freq, save_weights_only=False)
    pruned.fit(x, y, batch_size=8, epochs=1, shuffle=False, callbacks=[saver, pruning.UpdatePruningStep()], verbose=0)
    with pruning.prune_scope():
        restored = keras.models.load_model(str(path))
    expected = 10 if save_freq == 5 else 12  # 12 batches per epoch; per-batch saves after 5 and 10
    assert {name: step for name, (step, _) in _state(restored).items()} == {"conv": expected, "out": expected}
    assert all(int(w.pruning_step.numpy()) == 12 for w in pruned.layers if isinstance(w, pruning.PruneLowMagnitude))

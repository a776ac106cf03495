"""Under fit the masks reach the weights through the gradients where that is exact, and the
step counter is written from Python: the weights, masks and steps must be those of the mask
constraint and of an in-graph counter."""

import numpy as np
import pytest

from prune_studio import pruning
from prune_studio.compat import keras, tf
from prune_studio.pruning import gradient_masks
from prune_studio.pruning.prune import wrappers_of
from prune_studio.pruning.wrapper import _MaskConstraint

BATCH = 8
BATCHES = 12
SCHEDULE = dict(initial_sparsity=0.3, final_sparsity=0.8, begin_step=1, end_step=10, frequency=3)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(5)
    return rng.normal(size=(BATCH * BATCHES, 16)).astype(np.float32), rng.integers(0, 4, BATCH * BATCHES)


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [keras.layers.Dense(24, activation="relu", input_shape=(16,)), keras.layers.Dense(4)]
    )


def _fit(optimizer, data, epochs=2, callbacks=()):
    pruned = pruning.prune_low_magnitude(_model(), pruning.PolynomialDecay(**SCHEDULE))
    pruned.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    pruned.fit(
        *data, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0,
        callbacks=[pruning.UpdatePruningStep(), *callbacks],
    )
    return pruned


def _subclass(cls):
    """The same optimizer under another class, which the gradient path does not trust."""
    return type(f"My{cls.__name__}", (cls,), {})


OPTIMIZERS = {
    "sgd-momentum": (keras.optimizers.SGD, dict(learning_rate=0.05, momentum=0.9, nesterov=True)),
    "adam": (keras.optimizers.Adam, dict(learning_rate=0.02)),
    "adamw": (keras.optimizers.AdamW, dict(learning_rate=0.02, weight_decay=0.01)),
    "rmsprop-momentum": (keras.optimizers.RMSprop, dict(learning_rate=0.01, momentum=0.5, centered=True)),
    "adagrad": (keras.optimizers.Adagrad, dict(learning_rate=0.1)),
    "lion": (keras.optimizers.Lion, dict(learning_rate=0.002)),
    "adamax": (keras.optimizers.Adamax, dict(learning_rate=0.02)),
    "adadelta": (keras.optimizers.Adadelta, dict(learning_rate=1.0)),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_masked_gradients_give_exactly_the_weights_of_the_mask_constraint(data, name):
    cls, kwargs = OPTIMIZERS[name]
    seen = []

    class Watch(keras.callbacks.Callback):  # epoch hooks only: the driver's fast path runs
        def on_epoch_end(self, epoch, logs=None):
            seen.append([v.constraint for w in wrappers_of(self.model) for v, _, _ in w.pruning_vars])

    fast = _fit(cls(**kwargs), data, callbacks=[Watch()])
    slow = _fit(_subclass(cls)(**kwargs), data)
    assert hasattr(fast.optimizer, gradient_masks._MASKS_ATTRIBUTE)
    assert not hasattr(slow.optimizer, gradient_masks._MASKS_ATTRIBUTE)
    assert seen and all(c is None for c in seen[0])  # no constraint ran during the fit
    for a, b in zip(fast.get_weights(), slow.get_weights()):
        np.testing.assert_array_equal(a, b)
    for wrapper in wrappers_of(fast):
        assert int(wrapper.pruning_step.numpy()) == 2 * BATCHES
        for weight, mask, _ in wrapper.pruning_vars:
            assert isinstance(weight.constraint, _MaskConstraint)  # back after the fit
            assert np.all(weight.numpy()[mask.numpy() == 0] == 0)
            assert 1 - mask.numpy().mean() == pytest.approx(0.8, abs=0.02)


def test_gradient_clipping_by_norm_keeps_the_constraint(data):
    clipped = keras.optimizers.Adam(0.02, clipnorm=0.5)
    assert not gradient_masks.can_mask_gradients(clipped)
    assert not gradient_masks.can_mask_gradients(keras.optimizers.Adam(0.02, use_ema=True))
    assert not gradient_masks.can_mask_gradients(keras.optimizers.Ftrl(0.02))
    assert not gradient_masks.can_mask_gradients(keras.optimizers.Nadam(0.02))
    model = _fit(clipped, data, epochs=1)
    for wrapper in wrappers_of(model):
        for weight, mask, _ in wrapper.pruning_vars:
            assert np.all(weight.numpy()[mask.numpy() == 0] == 0)


def test_an_embedding_keeps_its_pruned_rows_at_zero_with_sparse_gradients():
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, 50, size=(64, 6))
    labels = rng.integers(0, 2, 64)
    model = keras.Sequential(
        [keras.layers.Embedding(50, 8, input_length=6), keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(2)]
    )
    pruned = pruning.prune_low_magnitude(model, pruning.ConstantSparsity(0.6, begin_step=0, frequency=2))
    pruned.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    pruned.fit(tokens, labels, batch_size=8, epochs=2, verbose=0, callbacks=[pruning.UpdatePruningStep()])
    assert hasattr(pruned.optimizer, gradient_masks._MASKS_ATTRIBUTE)
    (weight, mask, _), = wrappers_of(pruned)[0].pruning_vars
    assert np.all(weight.numpy()[mask.numpy() == 0] == 0)
    assert 1 - mask.numpy().mean() == pytest.approx(0.6, abs=0.01)


def test_a_custom_loop_after_fit_keeps_the_masks_and_counts_its_steps(data):
    x, y = data
    model = _fit(keras.optimizers.Adam(0.02), data, epochs=1)
    for wrapper in wrappers_of(model):
        wrapper.pruning_schedule = pruning.ConstantSparsity(0.9, begin_step=0, frequency=2)
    callback = pruning.UpdatePruningStep()
    callback.set_model(model)
    callback.on_train_begin()
    optimizer = keras.optimizers.SGD(0.5, momentum=0.9)  # not the model's: the constraint works
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step(xb, yb):
        with tf.GradientTape() as tape:
            value = loss(yb, model(xb, training=True))
        grads = tape.gradient(value, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))

    for i in range(6):
        callback.on_train_batch_begin(batch=-1)
        step(x[i * BATCH : (i + 1) * BATCH], y[i * BATCH : (i + 1) * BATCH])
        for wrapper in wrappers_of(model):
            assert int(wrapper.pruning_step.numpy()) == BATCHES + i + 1
            for weight, mask, _ in wrapper.pruning_vars:
                assert np.all(weight.numpy()[mask.numpy() == 0] == 0)
    callback.on_train_end()
    (weight, mask, _), = wrappers_of(model)[0].pruning_vars
    assert 1 - mask.numpy().mean() == pytest.approx(0.9, abs=0.01)


def test_an_error_inside_a_training_step_leaves_the_steps_reached(data):
    x, y = data

    def batches():
        for i in range(BATCHES):
            if i == 7:
                raise RuntimeError("the data source broke")
            yield x[i * BATCH : (i + 1) * BATCH], y[i * BATCH : (i + 1) * BATCH]

    dataset = tf.data.Dataset.from_generator(
        batches,
        output_signature=(tf.TensorSpec([None, 16], tf.float32), tf.TensorSpec([None], tf.int64)),
    )
    pruned = pruning.prune_low_magnitude(_model(), pruning.PolynomialDecay(**SCHEDULE))
    pruned.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(Exception, match="data source broke"):
        pruned.fit(dataset, epochs=1, verbose=0, callbacks=[pruning.UpdatePruningStep()])
    assert [int(w.pruning_step.numpy()) for w in wrappers_of(pruned)] == [7, 7]


def test_several_steps_per_execution_count_in_the_graph(data):
    pruned = pruning.prune_low_magnitude(_model(), pruning.ConstantSparsity(0.5, begin_step=0, frequency=4))
    pruned.compile(
        "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), steps_per_execution=3
    )
    pruned.fit(*data, batch_size=BATCH, epochs=1, verbose=0, callbacks=[pruning.UpdatePruningStep()])
    for wrapper in wrappers_of(pruned):
        assert wrapper.step_in_graph
        assert int(wrapper.pruning_step.numpy()) == BATCHES
        (weight, mask, _), = wrapper.pruning_vars
        assert 1 - mask.numpy().mean() == pytest.approx(0.5, abs=0.02)
        assert np.all(weight.numpy()[mask.numpy() == 0] == 0)

"""The wrapper: step-by-step sparsity, zeros staying zero, config, argument errors."""

import numpy as np
import pytest

from prune_studio.compat import keras, tf
from prune_studio import pruning
from prune_studio.pruning.schedules import reached_sparsity


def _mlp(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.layers.Flatten(input_shape=(8, 8, 1)),
            keras.layers.Dense(32, activation="relu", name="h"),
            keras.layers.Dense(10, name="o"),
        ]
    )


def test_sparsity_follows_the_schedule_batch_by_batch_and_zeros_stay_zero(digits):
    schedule = pruning.PolynomialDecay(0.3, 0.9, begin_step=2, end_step=11, frequency=3)
    pruned = pruning.prune_low_magnitude(_mlp(), schedule)
    pruned.compile(keras.optimizers.Adam(0.05), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = digits["x_train"][:16 * 16], digits["y_train"][:16 * 16]
    seen = []

    class Check(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            step = batch + 1  # pruning step this batch ran at (steps count from 1)
            for wrapper in pruned.layers[1:]:
                (weight, mask, _), = wrapper.pruning_vars
                w, m = weight.numpy(), mask.numpy()
                # Pruned weights are exactly zero after the optimizer's update.
                assert np.all(w[m == 0] == 0), (step, wrapper.name)
                target = reached_sparsity(schedule, step)
                kept = m.size if target == 0 else max(1, round(m.size * (1 - target)))
                assert int(m.sum()) == kept, (step, wrapper.name)
            seen.append(step)

    pruned.fit(x, y, batch_size=16, epochs=1, shuffle=False, callbacks=[pruning.UpdatePruningStep(), Check()], verbose=0)
    assert seen == list(range(1, 17))
    report = {r.name: r for r in pruning.sparsity_report(pruned)}
    assert report["h"].target == pytest.approx(0.9) and report["h"].sparsity == pytest.approx(1 - 205 / 2048)
    assert pruning.overall_sparsity(pruned) == pytest.approx(1 - (205 + 32) / (2048 + 320))


def test_masks_match_the_reference_rule_on_the_weights_at_a_pruning_step():
    layer = pruning.prune_low_magnitude(keras.layers.Dense(40), pruning.ConstantSparsity(0.7, 0, frequency=1))
    model = keras.Sequential([keras.Input((30,)), layer])
    model.compile("sgd", "mse")
    before = layer.layer.kernel.numpy().copy()
    # Step 0 prunes (from the weights as they were), then SGD updates.
    model.fit(np.ones((2, 30)), np.zeros((2, 40)), callbacks=[pruning.UpdatePruningStep()], verbose=0)
    a = np.abs(before)
    threshold = np.sort(a.ravel())[::-1][round(a.size * 0.3) - 1]
    np.testing.assert_array_equal(layer.pruning_vars[0][1].numpy(), (a >= threshold).astype(np.float32))


def test_training_without_the_callback_says_what_to_add():
    layer = pruning.prune_low_magnitude(keras.layers.Dense(8), pruning.ConstantSparsity(0.5, 0, frequency=1))
    model = keras.Sequential([keras.Input((4,)), layer])
    model.compile("sgd", "mse")
    # tfmot's error type (its check runs in the graph), with a sentence saying what to add.
    with pytest.raises(tf.errors.InvalidArgumentError, match="needs the UpdatePruningStep callback"):
        model.fit(np.ones((4, 4)), np.zeros((4, 8)), batch_size=2, verbose=0)


def test_custom_training_loop_with_gradient_tape():
    layer = pruning.prune_low_magnitude(keras.layers.Dense(6), pruning.ConstantSparsity(0.5, 2, frequency=2))
    model = keras.Sequential([keras.Input((5,)), layer])
    optimizer = keras.optimizers.SGD(0.1)
    callback = pruning.UpdatePruningStep()
    callback.set_model(model)
    callback.on_train_begin()

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(model(x, training=True) ** 2)
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))

    x = tf.ones((3, 5))
    callback.on_train_batch_begin(batch=-1)
    step(x)
    assert np.count_nonzero(layer.layer.kernel.numpy()) == 30  # step 1: before begin_step
    callback.on_train_batch_begin(batch=-1)
    step(x)
    assert np.count_nonzero(layer.layer.kernel.numpy()) == 15  # step 2 pruned
    callback.on_epoch_end(0)
    assert int(layer.pruning_step.numpy()) == 2


def test_inference_does_not_advance_the_step_or_change_masks():
    layer = pruning.prune_low_magnitude(keras.layers.Dense(4), pruning.ConstantSparsity(0.5, 0, frequency=1))
    model = keras.Sequential([keras.Input((3,)), layer])
    model.predict(np.ones((2, 3)), verbose=0)
    model(np.ones((2, 3)), training=False)
    assert int(layer.pruning_step.numpy()) == -1
    assert layer.pruning_vars[0][1].numpy().min() == 1.0


def test_get_config_from_config_round_trip():
    schedule = pruning.PolynomialDecay(0.1, 0.6, 0, 50, frequency=5)
    layer = pruning.prune_low_magnitude(
        keras.layers.Dense(8, name="d"), schedule, block_size=(2, 4), block_pooling_type="max"
    )
    config = layer.get_config()
    assert config["name"] == "prune_low_magnitude_d"
    assert config["pruning_schedule"] == schedule.get_config()
    assert config["block_pooling_type"] == "MAX" and config["block_size"] == [2, 4]
    again = pruning.PruneLowMagnitude.from_config(config)
    assert again.get_config() == config
    assert isinstance(again.pruning_schedule, pruning.PolynomialDecay)
    m_by_n = pruning.prune_low_magnitude(keras.layers.Dense(8), sparsity_m_by_n=(2, 4))
    assert pruning.PruneLowMagnitude.from_config(m_by_n.get_config()).sparsity_m_by_n == (2, 4)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"pruning_schedule": 0.5}, "pruning_schedule=0.5"),
        ({"block_size": (0, 2)}, r"block_size=\(0, 2\)"),
        ({"block_size": (1, 2, 3)}, r"block_size=\(1, 2, 3\)"),
        ({"block_size": "big"}, "block_size='big'"),
        ({"block_pooling_type": "MEAN"}, "block_pooling_type='MEAN'"),
        ({"sparsity_m_by_n": (4, 2)}, r"sparsity_m_by_n=\(4, 2\)"),
        ({"sparsity_m_by_n": (2,)}, r"sparsity_m_by_n=\(2,\)"),
        ({"sparsity_m_by_n": (2, 4), "block_size": (1, 2)}, "cannot be combined"),
        ({"pruning_policy": "fast"}, "pruning_policy='fast'"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs, words):
    with pytest.raises(ValueError, match=words):
        pruning.prune_low_magnitude(keras.layers.Dense(3), **kwargs)
    with pytest.raises(ValueError, match=words):
        pruning.prune_low_magnitude(_mlp(), **kwargs)


def test_shape_errors_for_block_and_m_by_n():
    conv = keras.Sequential([keras.Input((6, 6, 2)), keras.layers.Conv2D(4, 3)])
    with pytest.raises(ValueError, match="Block sparsity.*shape \\(3, 3, 2, 4\\)"):
        pruning.prune_low_magnitude(conv, block_size=(2, 2))
    dense = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)])
    with pytest.raises(ValueError, match=r"sparsity_m_by_n=\(2, 4\).*shape \(3, 4\)"):
        pruning.prune_low_magnitude(dense, sparsity_m_by_n=(2, 4))
    with pytest.raises(ValueError, match="can only prune.*str"):
        pruning.prune_low_magnitude("model.keras")


def test_unsupported_single_layer_is_refused():
    class Custom(keras.layers.Layer):
        def build(self, shape):
            self.w = self.add_weight("w", shape=(shape[-1],))

    with pytest.raises(ValueError, match="Custom is not a layer type"):
        pruning.prune_low_magnitude(Custom())


def test_custom_schedule_in_training_and_callback_reused_across_models():
    class AtStepThree(pruning.PruningSchedule):
        def __call__(self, step):
            return tf.equal(step, 3), tf.constant(0.75)

        def get_config(self):
            return {"class_name": "AtStepThree", "config": {}}

    callback = pruning.UpdatePruningStep()
    for units in (8, 4):
        layer = pruning.prune_low_magnitude(keras.layers.Dense(units), AtStepThree())
        model = keras.Sequential([keras.Input((4,)), layer])
        model.compile("sgd", "mse")
        model.fit(np.ones((4, 4)), np.zeros((4, units)), batch_size=2, callbacks=[callback], verbose=0)
        assert np.count_nonzero(layer.layer.kernel.numpy()) == 4 * units  # steps 1, 2: no pruning
        model.fit(np.ones((2, 4)), np.zeros((2, units)), batch_size=2, callbacks=[callback], verbose=0)
        assert np.count_nonzero(layer.layer.kernel.numpy()) == units  # step 3 pruned to 75%
        assert int(layer.pruning_step.numpy()) == 3


def test_masks_updated_together_equal_each_wrapper_updating_its_own():
    from prune_studio.pruning.wrapper import update_masks_together

    def model():
        keras.utils.set_random_seed(3)
        schedule = pruning.ConstantSparsity(0.5, 0, frequency=1)
        return keras.Sequential([
            keras.Input((8, 8, 3)),
            pruning.prune_low_magnitude(keras.layers.Conv2D(6, 3, name="conv"), schedule),
            keras.layers.Flatten(),
            pruning.prune_low_magnitude(keras.layers.Dense(16, name="dense"), schedule),
            pruning.prune_low_magnitude(keras.layers.Dense(12, name="blocks"), schedule, block_size=(2, 2)),
            pruning.prune_low_magnitude(keras.layers.Dense(4, name="m_by_n"), schedule, sparsity_m_by_n=(2, 4)),
        ])

    together, alone = model(), model()
    wrapped = lambda m: [layer for layer in m.layers if hasattr(layer, "pruning_vars")]  # noqa: E731
    for sparsity in (0.3, 0.55, 0.9):
        updates = [(w, tf.constant(sparsity)) for w in wrapped(together)]
        tf.function(lambda: update_masks_together(updates), autograph=False)()
        for w in wrapped(alone):
            w.update_masks(tf.constant(sparsity))
        for a, b in zip(wrapped(together), wrapped(alone)):
            for (wa, ma, ta), (wb, mb, tb) in zip(a.pruning_vars, b.pruning_vars):
                np.testing.assert_array_equal(ma.numpy(), mb.numpy(), err_msg=a.name)
                np.testing.assert_array_equal(wa.numpy(), wb.numpy(), err_msg=a.name)
                assert ta.numpy() == tb.numpy(), a.name
    dense = [w for w in wrapped(together) if w.layer.name == "dense"][0]
    assert dense.by_magnitude_alone() and not [w for w in wrapped(together) if w.layer.name == "blocks"][0].by_magnitude_alone()
    assert 1 - dense.pruning_vars[0][1].numpy().mean() == pytest.approx(0.9, abs=0.01)

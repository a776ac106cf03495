"""BatchNorm statistics re-estimation on real tiny CNNs: exact statistics, restored accuracy, no side effects."""

import numpy as np
import pytest

from prune_studio.compat import keras
from prune_studio.pruning import masks
from prune_studio.training.batchnorm import (
    batchnorm_layers,
    reestimate_batchnorm,
    restore_statistics,
    save_statistics,
    training_sample,
)


def make_bn_cnn(seed=0):
    """8x8x1 -> conv-BN-ReLU -> dropout -> conv-BN-ReLU -> pool -> dense 10."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(16, 3, padding="same", use_bias=False, name="conv1")(inp)
    h = keras.layers.BatchNormalization(name="bn1")(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.Dropout(0.3)(h)
    h = keras.layers.Conv2D(32, 3, padding="same", use_bias=False, name="conv2")(h)
    h = keras.layers.BatchNormalization(name="bn2")(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    out = keras.layers.Dense(10, activation="softmax", name="out")(h)
    model = keras.Model(inp, out)
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    return model


def train_bn_cnn(dataset, seed=0):
    """The CNN trained on the digits, with settled statistics (as a converged model has)."""
    model = make_bn_cnn(seed)
    model.fit(dataset.x_train, dataset.y_train, epochs=6, batch_size=32, verbose=0)
    reestimate_batchnorm(model, dataset.x_train)
    return model


@pytest.fixture(scope="module")
def trained_cnn(digits_dataset):
    return train_bn_cnn(digits_dataset)


def _accuracy(model, dataset):
    return float(np.mean(np.argmax(model.predict(dataset.x_test, verbose=0), -1) == dataset.y_test))


def _copy(model):
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    clone.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    return clone


def test_statistics_are_the_mean_and_variance_of_what_each_layer_sees(trained_cnn, digits_dataset):
    model = _copy(trained_cnn)
    x = digits_dataset.x_train[:300]
    assert reestimate_batchnorm(model, x, batch_size=300) == 2
    conv1 = keras.Model(model.input, model.get_layer("conv1").output).predict(x, verbose=0)
    bn1 = model.get_layer("bn1")
    np.testing.assert_allclose(bn1.moving_mean.numpy(), conv1.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn1.moving_variance.numpy(), conv1.var(axis=(0, 1, 2)), rtol=1e-2, atol=1e-4)
    # bn1's layer is back to its own settings: inference mode at inference, its momentum kept
    assert bn1.momentum == pytest.approx(0.99)
    assert "_get_training_value" not in bn1.__dict__


def test_restores_accuracy_after_pruning_made_the_statistics_stale(trained_cnn, digits_dataset):
    model = _copy(trained_cnn)
    dense_accuracy = _accuracy(model, digits_dataset)
    for name in ("conv1", "conv2"):
        kernel = model.get_layer(name).kernel
        kernel.assign(kernel * masks.magnitude_mask(kernel, 0.6)[1])
    stale = _accuracy(model, digits_dataset)
    reestimate_batchnorm(model, digits_dataset)
    fresh = _accuracy(model, digits_dataset)
    assert dense_accuracy > 0.7
    assert stale < dense_accuracy - 0.1, (dense_accuracy, stale)
    assert fresh > stale + 0.1, (stale, fresh)


def test_changes_only_the_moving_statistics_and_is_deterministic(trained_cnn, digits_dataset):
    model = _copy(trained_cnn)
    model.get_layer("bn2").moving_mean.assign(np.full(32, 5.0, np.float32))
    before = {w.name: w.numpy() for w in model.weights}
    reestimate_batchnorm(model, digits_dataset)
    first = save_statistics(model)
    changed = {w.name for w in model.weights if not np.array_equal(before[w.name], w.numpy())}
    assert changed and all("moving_mean" in n or "moving_variance" in n for n in changed), changed
    restore_statistics(model, [(m * 0, v * 0 + 1) for m, v in first])
    reestimate_batchnorm(model, digits_dataset)  # same seed, same sample: dropout stayed off
    for (m1, v1), (m2, v2) in zip(first, save_statistics(model)):
        np.testing.assert_allclose(m1, m2, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(v1, v2, rtol=1e-5, atol=1e-6)


def test_a_wrapped_model_counts_no_pruning_step(trained_cnn, digits_dataset):
    from prune_studio.pruning import ConstantSparsity, prune_low_magnitude

    wrapped = prune_low_magnitude(_copy(trained_cnn), pruning_schedule=ConstantSparsity(0.5, 0))
    steps = [w.numpy() for w in wrapped.weights if "pruning_step" in w.name]
    assert steps
    assert reestimate_batchnorm(wrapped, digits_dataset) == 2
    assert [w.numpy() for w in wrapped.weights if "pruning_step" in w.name] == steps


def test_nested_models_and_models_without_batchnorm(digits_dataset, mlp):
    inner = keras.Sequential([keras.layers.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, name="c"),
                              keras.layers.BatchNormalization(name="inner_bn")], name="inner")
    outer = keras.Sequential([keras.layers.Input((8, 8, 1)), inner, keras.layers.Flatten(), keras.layers.Dense(10)])
    assert [layer.name for layer in batchnorm_layers(outer)] == ["inner_bn"]
    assert reestimate_batchnorm(outer, digits_dataset) == 1
    assert np.any(inner.get_layer("inner_bn").moving_mean.numpy() != 0)
    assert reestimate_batchnorm(mlp, digits_dataset) == 0


def test_training_sample_spans_the_whole_split(digits_dataset):
    x = training_sample(digits_dataset, 200)
    assert x.shape == (200, 8, 8, 1)
    picked = {arr.tobytes() for arr in x}
    assert any(a.tobytes() in picked for a in digits_dataset.x_train[-300:])  # not only the first rows

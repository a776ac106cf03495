"""End-to-end basics: wrap, fit with the callback, exact sparsity, zeros stay zero, strip."""

import numpy as np
import pytest

from prune_studio.compat import keras
from prune_studio import pruning


def _cnn():
    inp = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(8, 3, name="c1")(inp)
    h = keras.layers.Flatten(name="flatten")(h)
    h = keras.layers.Dropout(0.1, name="dropout")(h)
    out = keras.layers.Dense(10, name="d1")(h)
    return keras.Model(inp, out)


@pytest.fixture
def data(digits):
    return digits["x_train"][:128], digits["y_train"][:128]


def _fit(model, data, epochs=1, batch_size=16):
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(*data, batch_size=batch_size, epochs=epochs, callbacks=[pruning.UpdatePruningStep()], verbose=0)


def test_functional_model_reaches_exact_sparsity_and_strips(data):
    keras.utils.set_random_seed(0)
    model = _cnn()
    keep = keras.models.clone_model(model)  # callers that need the original clone it first
    keep.set_weights(model.get_weights())
    original = [w.copy() for w in keep.get_weights()]
    pruned = pruning.prune_low_magnitude(keep, pruning.PolynomialDecay(0.5, 0.8, 0, 10, frequency=5))
    # Every layer wrapped (weightless ones in wrappers that prune nothing), as tfmot does, and
    # the wrappers hold the model's own layers.
    assert [layer.name for layer in pruned.layers][1:] == [
        "prune_low_magnitude_c1",
        "prune_low_magnitude_flatten",
        "prune_low_magnitude_dropout",
        "prune_low_magnitude_d1",
    ]
    assert all(w.layer is layer for w, layer in zip(pruned.layers[1:], keep.layers[1:]))
    _fit(pruned, data, epochs=2)  # 16 steps, last pruning step 10 -> 80%
    report = {r.name: r for r in pruning.sparsity_report(pruned)}
    # k = max(1, round(n * 0.2)) kept: c1 has 72 weights -> 14 kept, d1 has 2880 -> 576 kept.
    assert report["c1"].pruned == 72 - 14 and report["d1"].pruned == 2880 - 576
    kernel = pruned.get_layer("prune_low_magnitude_d1").layer.kernel.numpy()
    assert np.count_nonzero(kernel) == 576
    stripped = pruning.strip_pruning(pruned)
    assert [type(layer).__name__ for layer in stripped.layers][1:] == ["Conv2D", "Flatten", "Dropout", "Dense"]
    np.testing.assert_array_equal(stripped.predict(data[0], verbose=0), pruned.predict(data[0], verbose=0))
    # The model pruned shares the pruned weights; the one cloned before is untouched.
    assert np.count_nonzero(keep.get_layer("d1").kernel.numpy()) == 576
    for before, after in zip(original, model.get_weights()):
        np.testing.assert_array_equal(before, after)


def test_sequential_model_and_single_layers(data):
    keras.utils.set_random_seed(1)
    schedule = pruning.ConstantSparsity(0.75, 0, frequency=1)
    model = keras.Sequential(
        [
            keras.layers.Flatten(input_shape=(8, 8, 1)),
            pruning.prune_low_magnitude(keras.layers.Dense(16, name="h"), schedule),
            keras.layers.Dense(10, name="o"),
        ]
    )
    _fit(model, data)
    kernel = model.layers[1].layer.kernel.numpy()
    assert np.count_nonzero(kernel) == round(64 * 16 * 0.25)
    assert model.layers[1].pruning_step.numpy() == 8  # one step per batch, in the graph
    assert pruning.get_skipped_layers(model) == {}

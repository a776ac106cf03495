"""The scan on a BatchNorm CNN: points measured after fresh statistics, the model left as found,
and a max_drop plan checked with every layer pruned at once."""

import numpy as np
import pytest

from prune_studio.compat import keras
from prune_studio.scan import checked_targets, joint_drop, projected_sparsity, sensitivity_scan, suggest_targets
from prune_studio.training.batchnorm import reestimate_batchnorm

SPARSITIES = (0.0, 0.5, 0.8, 0.95)


@pytest.fixture(scope="module")
def bn_cnn(digits_dataset):
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1))
    h = inp
    for i, filters in enumerate((16, 32, 32)):
        h = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i}")(h)
        h = keras.layers.BatchNormalization(name=f"bn{i}")(h)
        h = keras.layers.ReLU()(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    out = keras.layers.Dense(10, activation="softmax", name="head")(h)
    model = keras.Model(inp, out)
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(digits_dataset.x_train, digits_dataset.y_train, epochs=5, verbose=0)
    reestimate_batchnorm(model, digits_dataset)
    return model


@pytest.fixture(scope="module")
def scans(bn_cnn, digits_dataset, tmp_path_factory):
    cache = tmp_path_factory.mktemp("scan-cache")
    kwargs = dict(sparsities=SPARSITIES, max_samples=256, cache_dir=cache, split="train")
    return (sensitivity_scan(bn_cnn, digits_dataset, **kwargs),
            sensitivity_scan(bn_cnn, digits_dataset, reestimate_batchnorm=False, **kwargs))


def test_fresh_statistics_show_what_an_exported_layer_keeps(scans):
    fresh, stale = scans
    assert fresh.baseline == pytest.approx(stale.baseline, abs=0.01)  # the statistics had settled
    # pruning a conv layer shifts what its BatchNorm sees; with fresh statistics far less is lost
    gains = [dict(fresh.curves[n])[0.8] - dict(stale.curves[n])[0.8] for n in ("conv0", "conv1", "conv2")]
    assert max(gains) > 0.05, gains
    assert min(gains) > -0.03, gains


def test_the_model_and_its_statistics_are_left_as_found(bn_cnn, digits_dataset, tmp_path):
    before = [w.copy() for w in bn_cnn.get_weights()]
    sensitivity_scan(bn_cnn, digits_dataset, layers=["conv1"], sparsities=(0.8,), max_samples=64, cache_dir=tmp_path)
    for a, b in zip(before, bn_cnn.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert "_get_training_value" not in bn_cnn.get_layer("bn1").__dict__


def test_checked_targets_measure_within_the_budget(bn_cnn, digits_dataset, scans):
    fresh, _ = scans
    before = [w.copy() for w in bn_cnn.get_weights()]
    for max_drop in (0.01, 0.05):
        naive = suggest_targets(fresh, max_drop=max_drop)
        targets, drop = checked_targets(bn_cnn, digits_dataset, fresh, max_drop, max_samples=256)
        assert drop <= max_drop
        assert joint_drop(bn_cnn, digits_dataset, fresh, targets, max_samples=256) == pytest.approx(drop, abs=1e-9)
        if joint_drop(bn_cnn, digits_dataset, fresh, naive, max_samples=256) > max_drop:
            assert projected_sparsity(targets, fresh.params) < projected_sparsity(naive, fresh.params)
        else:
            assert targets == naive
    for a, b in zip(before, bn_cnn.get_weights()):
        np.testing.assert_array_equal(a, b)

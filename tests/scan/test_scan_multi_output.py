"""The sensitivity scan on models with two inputs and two outputs: the score is the mean
accuracy of the outputs (the fine-tune's headline accuracy), for outputs given as a list or a dict."""

import numpy as np
import pytest

from prune_studio.compat import keras
from prune_studio.data import DataSpec, load_data
from prune_studio.scan import sensitivity_scan
from prune_studio.scan.sensitivity import ScanError
from small_models import trained_two_by_two, two_by_two_data, two_by_two_model, two_by_two_npz


def _list_outputs_model(seed=0):
    """Outputs as a list (a 3-class softmax and a yes/no sigmoid) and a BatchNorm layer."""
    keras.utils.set_random_seed(seed)
    left, right = keras.Input((8,), name="left"), keras.Input((8,), name="right")
    x = keras.layers.Concatenate(name="join")([left, right])
    x = keras.layers.BatchNormalization(name="bn")(keras.layers.Dense(16, activation="relu", name="hidden")(x))
    first = keras.layers.Dense(3, activation="softmax", name="first")(x)
    second = keras.layers.Dense(1, activation="sigmoid", name="second")(x)
    return keras.Model([left, right], [first, second], name="list_outputs")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    raw = two_by_two_data(n=288)
    raw["second"] = (raw["right"][:, 0] > 0).astype(np.int64)  # a yes/no label fits both models' second output
    return raw, two_by_two_npz(tmp_path_factory.mktemp("scan_mo") / "data.npz", raw)


def _expected(model, x, y):
    pred = model.predict(x, verbose=0)
    pred = dict(zip(model.output_names, pred)) if isinstance(pred, list) else pred
    first = np.mean(np.argmax(pred["first"], -1) == y["first"])
    second = pred["second"]
    second = np.mean((second[:, 0] > 0.5) == y["second"]) if second.shape[-1] == 1 else \
        np.mean(np.argmax(second, -1) == y["second"])
    return float(np.mean([first, second]))


@pytest.mark.parametrize("kind", ["dict", "list"])
def test_two_output_model_is_scanned_with_the_mean_accuracy(data, kind, tmp_path):
    raw, npz = data
    if kind == "dict":
        model = trained_two_by_two(raw, epochs=6)
    else:
        model = _list_outputs_model()
        model.compile("adam", ["sparse_categorical_crossentropy", "binary_crossentropy"])
        model.fit([raw["left"], raw["right"]], [raw["first"], raw["second"]], epochs=6, verbose=0)
    dataset = load_data(DataSpec("npz", str(npz)), model=model)
    result = sensitivity_scan(model, dataset, sparsities=(0.5, 0.99), max_samples=96, cache_dir=tmp_path,
                              reestimate_batchnorm=False)
    x, y = dataset.sample(96)
    assert result.metric_name == "accuracy"
    assert result.baseline == pytest.approx(_expected(model, x, y), abs=1e-6)
    assert "second" in result.curves and len(result.curves) >= 3
    assert all(len(curve) == 3 for curve in result.curves.values())
    assert min(v for curve in result.curves.values() for _, v in curve) < result.baseline  # pruning costs something
    again = sensitivity_scan(model, dataset, sparsities=(0.5, 0.99), max_samples=96, cache_dir=tmp_path,
                             reestimate_batchnorm=False)
    assert again.curves == result.curves  # read back from the cache keyed by the named arrays
    if kind == "list":  # BatchNorm statistics re-estimated on the named training inputs
        with_bn = sensitivity_scan(model, dataset, sparsities=(0.5,), max_samples=96, use_cache=False)
        assert 0.0 < with_bn.baseline <= 1.0 and set(with_bn.curves) == set(result.curves)


def test_missing_labels_for_an_output_are_named(data, tmp_path):
    raw, npz = data
    model = two_by_two_model()
    dataset = load_data(DataSpec("npz", str(npz)), model=model)
    dataset.y_test = {"first": dataset.y_test["first"]}
    with pytest.raises(ScanError, match="no labels for second"):
        sensitivity_scan(model, dataset, sparsities=(0.5,), max_samples=32, cache_dir=tmp_path)

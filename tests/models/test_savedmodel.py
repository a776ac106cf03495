"""SavedModel folders: graph networks are rebuilt from their config; built subclassed models open."""

import numpy as np
import pytest

from prune_studio.compat import keras
from prune_studio.models import ModelLoadError, describe_model, load_model


class Net(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(8, activation="relu", name="hidden")
        self.out = keras.layers.Dense(3, activation="softmax", name="out")

    def call(self, x):
        return self.out(self.hidden(x))


def test_built_subclassed_savedmodel_opens_with_trust(tmp_path):
    model = Net(name="net")
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    rng = np.random.default_rng(0)
    model.fit(rng.random((16, 4)), rng.integers(0, 3, 16), epochs=1, verbose=0)
    model.save(str(tmp_path / "net"), save_format="tf")

    # its traced graph runs when it is called, so it is not opened without trust
    with pytest.raises(ModelLoadError, match=r"'net' \(custom class Net\).*--trust"):
        load_model(tmp_path / "net")
    loaded = load_model(tmp_path / "net", trust=True)
    assert loaded.model.input_shape == (None, 4) and loaded.model.output_shape == (None, 3)
    x = rng.random((5, 4)).astype("float32")
    np.testing.assert_allclose(loaded.model.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5)
    desc = describe_model(loaded.model, loaded.path)
    # listed, but not prunable: the revived call() cannot be rewired (see test_zoo_structure.py)
    inside = [desc.find("net/hidden"), desc.find("net/out")]
    assert all(info is not None and not info.prunable and "subclassed model" in info.reason for info in inside)
    assert desc.prunable_layers() == []
    assert desc.total_params == model.count_params()


def test_functional_savedmodel_is_rebuilt_from_config_with_its_weights(tmp_path):
    """The quick path (config + checkpoint) must apply, not fall back to tf-keras's slow loader."""
    import json

    from tf_keras.protobuf import saved_metadata_pb2

    from prune_studio.models.savedmodel import _rebuild_from_config

    inp = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(3, 3, name="conv")(inp)
    x = keras.layers.BatchNormalization(name="bn")(x)
    model = keras.Model(inp, keras.layers.Dense(2, name="head")(keras.layers.Flatten()(x)))
    model.compile("adam", "mse")
    rng = np.random.default_rng(1)
    model.fit(rng.random((8, 6, 6, 2)), rng.random((8, 2)), epochs=1, verbose=0)  # optimizer slots too
    model.save(str(tmp_path / "f"), save_format="tf")
    metadata = saved_metadata_pb2.SavedMetadata()
    metadata.ParseFromString((tmp_path / "f" / "keras_metadata.pb").read_bytes())
    rebuilt = _rebuild_from_config(tmp_path / "f", json.loads(metadata.nodes[0].metadata), {})
    assert rebuilt is not None
    for mine, saved in zip(rebuilt.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, saved)
    loaded = load_model(tmp_path / "f")
    x = rng.random((3, 6, 6, 2)).astype("float32")
    np.testing.assert_allclose(loaded.model.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5)

"""A built subclassed model saved as a SavedModel opens (with trust) and can be described and run."""

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
    assert {"net/hidden", "net/out"} <= {info.path for info in desc.prunable_layers()}
    assert desc.total_params == model.count_params()

"""Models written by tf-keras open in every format, with the same outputs and settings."""

import numpy as np
import pytest

from prune_studio.compat import keras
from prune_studio.models import LoadedModel, load_model


def _nested_model():
    inner = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="relu", name="in_dense")], name="block")
    inp = keras.Input((4, 4, 1), name="img")
    x = keras.layers.Conv2D(2, 3, padding="same", name="conv")(inp)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Flatten(name="flat")(x)
    x = keras.layers.Dense(6, name="d1")(x)
    x = inner(x)
    out = keras.layers.Dense(3, activation="softmax", name="out")(x)
    model = keras.Model(inp, out, name="nested")
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    return model


@pytest.mark.parametrize("fmt", ["keras", "h5", "savedmodel"])
def test_every_tf_keras_format_round_trips(tmp_path, fmt):
    model = _nested_model()
    path = tmp_path / ("m" if fmt == "savedmodel" else f"m.{fmt}")
    if fmt == "savedmodel":
        model.save(str(path), save_format="tf")
    else:
        model.save(str(path))
    loaded = load_model(path)
    assert isinstance(loaded, LoadedModel)
    assert loaded.fmt == fmt
    assert loaded.saved_with.startswith("tf-keras")
    x = np.random.default_rng(0).random((3, 4, 4, 1), dtype=np.float32)
    np.testing.assert_allclose(loaded.model(x, training=False), model(x, training=False), atol=1e-6)
    assert loaded.compile_settings.loss == "sparse_categorical_crossentropy"
    assert loaded.compile_settings.source == "file"
    assert "accuracy" in loaded.compile_settings.metrics
    assert loaded.model.compiled_loss is not None  # ready for evaluate()


def test_demo_model_opens_compiled(demo_model_file, digits):
    loaded = load_model(demo_model_file)
    assert loaded.compile_settings.metrics == ["accuracy"]
    _, acc = loaded.model.evaluate(digits["x_test"], digits["y_test"], verbose=0)
    assert acc > 0.95


def test_uncompiled_model_gets_inferred_settings(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)])  # logits
    model.save(tmp_path / "plain.keras")
    settings = load_model(tmp_path / "plain.keras").compile_settings
    assert settings.source == "inferred"
    assert settings.loss == "sparse_categorical_crossentropy" and settings.from_logits

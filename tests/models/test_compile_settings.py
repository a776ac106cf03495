"""Compile settings are inferred from the output layer and label format, and round-trip."""

import json

import numpy as np
import pytest

from prune_studio.compat import keras
from prune_studio.models import CompileSettings, infer_compile_settings
from prune_studio.models.compile_settings import settings_from_saved


def _model(units, activation=None, softmax_layer=False):
    layers = [keras.Input((3,)), keras.layers.Dense(units, activation=activation)]
    if softmax_layer:
        layers.append(keras.layers.Softmax())
    return keras.Sequential(layers)


@pytest.mark.parametrize(
    "units, activation, softmax_layer, y, loss, metric, logits",
    [
        (4, "softmax", False, None, "sparse_categorical_crossentropy", "accuracy", False),
        (4, None, True, None, "sparse_categorical_crossentropy", "accuracy", False),
        (4, None, False, None, "sparse_categorical_crossentropy", "accuracy", True),
        (4, "softmax", False, np.eye(4)[[0, 1]], "categorical_crossentropy", "accuracy", False),
        (1, "sigmoid", False, None, "binary_crossentropy", "accuracy", False),
        (1, None, False, None, "mean_squared_error", "mean_absolute_error", False),
    ],
)
def test_inferred_from_output_layer(units, activation, softmax_layer, y, loss, metric, logits):
    settings = infer_compile_settings(_model(units, activation, softmax_layer), y)
    assert (settings.loss, settings.metrics, settings.from_logits) == (loss, [metric], logits)


def test_logits_loss_object_is_built_from_logits():
    loss = CompileSettings("sparse_categorical_crossentropy", ["accuracy"], from_logits=True).keras_loss()
    assert isinstance(loss, keras.losses.SparseCategoricalCrossentropy)
    assert loss.get_config()["from_logits"] is True


def test_round_trip_through_json():
    settings = CompileSettings("categorical_crossentropy", ["accuracy", "auc"], True, "user")
    assert CompileSettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings


@pytest.mark.parametrize(
    "saved, loss, metrics, logits",
    [
        ({"loss": "mse", "metrics": [["mae"]]}, "mean_squared_error", ["mean_absolute_error"], False),
        (
            {"loss": {"class_name": "SparseCategoricalCrossentropy", "config": {"from_logits": True}}, "metrics": ["accuracy"]},
            "sparse_categorical_crossentropy",
            ["accuracy"],
            True,
        ),
        ({"loss": {"out": "binary_crossentropy"}, "metrics": {"out": ["accuracy"]}}, "binary_crossentropy", ["accuracy"], False),
    ],
)
def test_read_from_saved_config(saved, loss, metrics, logits):
    settings = settings_from_saved(saved)
    assert (settings.loss, settings.metrics, settings.from_logits, settings.source) == (loss, metrics, logits, "file")


def test_unusable_saved_config_gives_none():
    assert settings_from_saved({"loss": None}) is None
    assert settings_from_saved(None) is None

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


def _two_outputs():
    x = keras.Input((3,), name="x")
    h = keras.layers.Dense(4, activation="relu")(x)
    nested = keras.Sequential([keras.layers.Dense(5), keras.layers.Softmax()], name="kind")
    return keras.Model(x, [nested(h), keras.layers.Dense(1, name="score")(h),
                           keras.layers.Dense(3, activation="sigmoid", name="tags")(h)])


def test_inferred_per_output_through_a_nested_sequential():
    settings = infer_compile_settings(_two_outputs(), {"kind": np.eye(5)[[0, 1]], "score": np.zeros(2)})
    assert list(settings.outputs) == ["kind", "score", "tags"]
    got = {k: (s.loss, s.metrics, s.from_logits) for k, s in settings.outputs.items()}
    assert got == {"kind": ("categorical_crossentropy", ["accuracy"], False),
                   "score": ("mean_squared_error", ["mean_absolute_error"], False),
                   "tags": ("binary_crossentropy", ["binary_accuracy"], False)}
    assert settings.keras_loss() == {"kind": "categorical_crossentropy", "score": "mean_squared_error",
                                     "tags": "binary_crossentropy"}
    assert settings.keras_metrics(["tags", "kind"]) == [["binary_accuracy"], ["accuracy"]]
    assert settings.metrics == ["accuracy", "mean_absolute_error", "binary_accuracy"]


def test_per_output_settings_from_a_saved_dict_or_list():
    saved = {"loss": {"a": "mse", "b": {"class_name": "SparseCategoricalCrossentropy", "config": {"from_logits": True}}},
             "metrics": {"a": ["mae"], "b": ["accuracy"]}, "loss_weights": {"a": 0.5, "b": 2.0}}
    settings = settings_from_saved(saved)
    assert settings.source == "file" and settings.loss_weights == {"a": 0.5, "b": 2.0}
    assert (settings.outputs["b"].loss, settings.outputs["b"].from_logits) == ("sparse_categorical_crossentropy", True)
    assert isinstance(settings.keras_loss()["b"], keras.losses.SparseCategoricalCrossentropy)
    assert settings.keras_loss_weights(["b", "a"]) == [2.0, 0.5]
    as_list = settings_from_saved({"loss": ["mse", "binary_crossentropy"], "metrics": [["mae"], ["accuracy"]],
                                   "loss_weights": [1.0, 3.0]}, output_names=["a", "b"])
    assert {k: s.loss for k, s in as_list.outputs.items()} == {"a": "mean_squared_error", "b": "binary_crossentropy"}
    assert as_list.outputs["b"].metrics == ["accuracy"] and as_list.loss_weights == {"a": 1.0, "b": 3.0}
    # a list without the output names cannot be placed: not guessed
    assert settings_from_saved({"loss": ["mse", "binary_crossentropy"]}) is None


def test_per_output_round_trip_and_fitting_to_a_model():
    model = _two_outputs()
    partial = CompileSettings("mean_squared_error", ["mae"], source="user",
                              outputs={"score": CompileSettings("huber", ["mae"]), "gone": CompileSettings("mse")},
                              loss_weights={"score": 2.0, "gone": 1.0})
    fitted = partial.for_model(model)
    assert list(fitted.outputs) == ["kind", "score", "tags"]
    assert fitted.outputs["score"].loss == "huber" and fitted.outputs["kind"].loss == "sparse_categorical_crossentropy"
    assert fitted.loss_weights == {"score": 2.0}
    assert CompileSettings.from_dict(json.loads(json.dumps(fitted.to_dict()))) == fitted
    model.compile("adam", loss=fitted.keras_loss(), metrics=fitted.keras_metrics(),
                  loss_weights=fitted.keras_loss_weights())
    logs = model.evaluate(np.zeros((4, 3)), {"kind": np.zeros(4), "score": np.zeros(4), "tags": np.zeros((4, 3))},
                          verbose=0, return_dict=True)
    assert {"kind_accuracy", "score_mae", "tags_binary_accuracy"} <= set(logs)

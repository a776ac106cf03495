"""The loss and metrics a model is trained with, read from its file or inferred.

A model file usually carries the settings it was compiled with; those are reused so a
fine-tune continues the way the author trained. When a file has none, the loss and metric are
inferred from the output layer (softmax, sigmoid or logits, number of units) and the label
format, and the user can override them.

Example::

    settings = infer_compile_settings(model, y_train)
    model.compile("adam", loss=settings.keras_loss(), metrics=settings.metrics)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_CLASS_TO_LOSS = {
    "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
    "CategoricalCrossentropy": "categorical_crossentropy",
    "BinaryCrossentropy": "binary_crossentropy",
    "MeanSquaredError": "mean_squared_error",
    "MeanAbsoluteError": "mean_absolute_error",
    "Huber": "huber",
}
_LOSS_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error"}
_CROSSENTROPY = {"sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy"}


@dataclass
class CompileSettings:
    """What a model is compiled with for fine-tuning.

    Attributes:
        loss: A Keras loss name, e.g. ``"sparse_categorical_crossentropy"``.
        metrics: Keras metric names, e.g. ``["accuracy"]``.
        from_logits: True when the model outputs logits (no softmax/sigmoid), so a
            cross-entropy loss must be built with ``from_logits=True``.
        source: ``"file"`` when read from the model file, ``"inferred"`` or ``"user"``.
    """

    loss: str
    metrics: list[str] = field(default_factory=list)
    from_logits: bool = False
    source: str = "inferred"

    def keras_loss(self):
        """The loss as a tf-keras object (or name), honouring ``from_logits``."""
        from prune_studio.compat import keras

        if self.from_logits and self.loss in _CROSSENTROPY:
            cls = {v: k for k, v in _CLASS_TO_LOSS.items()}[self.loss]
            return getattr(keras.losses, cls)(from_logits=True)
        return self.loss

    def to_dict(self) -> dict:
        return {
            "loss": self.loss,
            "metrics": list(self.metrics),
            "from_logits": self.from_logits,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "CompileSettings":
        return cls(
            loss=d["loss"],
            metrics=list(d.get("metrics", [])),
            from_logits=bool(d.get("from_logits", False)),
            source=d.get("source", "user"),
        )


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _loss_from_config(loss: Any) -> tuple[str, bool] | None:
    """(loss name, from_logits) from a saved loss entry, or None if not understood."""
    if isinstance(loss, list) and len(loss) == 1:
        loss = loss[0]
    if isinstance(loss, dict) and len(loss) == 1 and "class_name" not in loss:
        loss = next(iter(loss.values()))  # {output_name: loss}
    if isinstance(loss, str):
        return _LOSS_ALIASES.get(loss, loss), False
    if isinstance(loss, dict) and "class_name" in loss:
        cls = loss["class_name"]
        config = loss.get("config") or {}
        if cls == "function":  # Keras 3 serialises a plain loss function this way
            return _loss_from_config(config)
        name = _CLASS_TO_LOSS.get(cls, _snake(cls))
        return name, bool(config.get("from_logits", False))
    return None


def _metric_names(metrics: Any) -> list[str]:
    """Flatten a saved ``metrics`` entry to plain names, dropping what is not a name."""
    names: list[str] = []

    def walk(item):
        if isinstance(item, str):
            names.append(_LOSS_ALIASES.get(item, item))
        elif isinstance(item, (list, tuple)):
            for sub in item:
                walk(sub)
        elif isinstance(item, dict):
            if "class_name" in item:
                config = item.get("config") or {}
                if item["class_name"] == "function":
                    walk(config)
                else:
                    walk(config.get("name") or _snake(item["class_name"]))
            else:
                for sub in item.values():
                    walk(sub)

    walk(metrics)
    out = []
    for n in names:
        if n not in out:
            out.append(n)
    return out


def settings_from_saved(config: dict | None) -> CompileSettings | None:
    """CompileSettings from a file's ``compile_config`` / ``training_config``, if usable."""
    if not isinstance(config, dict):
        return None
    loss = _loss_from_config(config.get("loss"))
    if loss is None:
        return None
    metrics = _metric_names(config.get("metrics") or [])
    metrics += [m for m in _metric_names(config.get("weighted_metrics") or []) if m not in metrics]
    return CompileSettings(loss=loss[0], metrics=metrics, from_logits=loss[1], source="file")


def _output_layer_activation(model) -> tuple[str, int]:
    """(activation name, units) of the layer that produces the model's first output."""
    from prune_studio.compat import keras

    layer = model
    while isinstance(layer, keras.Model) and layer.layers:
        outputs = getattr(layer, "outputs", None)
        if outputs:
            history = getattr(outputs[0], "_keras_history", None)
            layer = history.layer if history is not None else layer.layers[-1]
        else:
            layer = layer.layers[-1]
    units = int(model.outputs[0].shape[-1]) if model.outputs and model.outputs[0].shape[-1] else 1
    if isinstance(layer, keras.layers.Softmax):
        return "softmax", units
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", None) or str(activation or "linear")
    return name, units


def infer_compile_settings(model, y=None) -> CompileSettings:
    """Pick a loss and metric from the model's output layer and the label format.

    Args:
        model: A built tf-keras model.
        y: Optional training labels (numpy). One-hot labels (2-D, width equal to the output
            units) select ``categorical_crossentropy``; integer labels the sparse variant.

    Returns:
        CompileSettings with ``source="inferred"``.
    """
    activation, units = _output_layer_activation(model)
    one_hot = y is not None and np.ndim(y) == 2 and np.shape(y)[-1] == units and units > 1
    if units == 1:
        if activation == "sigmoid":
            return CompileSettings("binary_crossentropy", ["accuracy"])
        return CompileSettings("mean_squared_error", ["mean_absolute_error"])
    if activation == "sigmoid":  # multi-label
        return CompileSettings("binary_crossentropy", ["binary_accuracy"])
    loss = "categorical_crossentropy" if one_hot else "sparse_categorical_crossentropy"
    return CompileSettings(loss, ["accuracy"], from_logits=activation != "softmax")

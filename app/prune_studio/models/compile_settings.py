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
from typing import Any, Sequence

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
        loss: A Keras loss name, e.g. ``"sparse_categorical_crossentropy"`` (with several
            outputs: the first output's, for display; ``outputs`` holds each one's).
        metrics: Keras metric names, e.g. ``["accuracy"]`` (with several outputs: all of them).
        from_logits: True when the model outputs logits (no softmax/sigmoid), so a
            cross-entropy loss must be built with ``from_logits=True``.
        source: ``"file"`` when read from the model file, ``"inferred"`` or ``"user"``.
        outputs: For a model with several outputs, each output's own settings by output name
            (empty: ``loss`` and ``metrics`` apply to every output, as Keras does).
        loss_weights: Weight of each output's loss in the total, by output name (empty: 1 each).
    """

    loss: str
    metrics: list[str] = field(default_factory=list)
    from_logits: bool = False
    source: str = "inferred"
    outputs: dict[str, "CompileSettings"] = field(default_factory=dict)
    loss_weights: dict[str, float] = field(default_factory=dict)

    def _single_loss(self):
        from prune_studio.compat import keras

        if self.from_logits and self.loss in _CROSSENTROPY:
            cls = {v: k for k, v in _CLASS_TO_LOSS.items()}[self.loss]
            return getattr(keras.losses, cls)(from_logits=True)
        return self.loss

    def _output(self, name: str) -> "CompileSettings":
        return self.outputs.get(name, self)

    def keras_loss(self, output_names: Sequence[str] | None = None):
        """The loss as a tf-keras object (or name), honouring ``from_logits``.

        With per-output settings: a dict by output name, or, given ``output_names``, a list in
        that order (what a model whose outputs were renamed, e.g. by pruning wrappers, needs).
        """
        if not self.outputs:
            return self._single_loss()
        if output_names is None:
            return {name: s._single_loss() for name, s in self.outputs.items()}
        return [self._output(name)._single_loss() for name in output_names]

    def keras_metrics(self, output_names: Sequence[str] | None = None):
        """Metrics for ``Model.compile``: a list, or per output a dict (or list, as ``keras_loss``)."""
        if not self.outputs:
            return list(self.metrics)
        if output_names is None:
            return {name: list(s.metrics) for name, s in self.outputs.items()}
        return [list(self._output(name).metrics) for name in output_names]

    def keras_loss_weights(self, output_names: Sequence[str] | None = None):
        """Loss weights for ``Model.compile`` (``None`` when every output weighs 1)."""
        if not self.loss_weights:
            return None
        if output_names is None:
            return dict(self.loss_weights)
        return [float(self.loss_weights.get(name, 1.0)) for name in output_names]

    def for_model(self, model, y: Any = None) -> "CompileSettings":
        """These settings fitted to ``model``'s outputs: each output named, missing ones inferred.

        Settings without per-output entries (one loss for every output) are returned unchanged;
        entries for names the model does not have are dropped.
        """
        names = list(getattr(model, "output_names", None) or [])
        if not self.outputs or len(names) < 2:
            return self
        inferred = None
        outputs = {}
        for name in names:
            if name in self.outputs:
                outputs[name] = self.outputs[name]
            else:
                inferred = inferred or infer_compile_settings(model, y)
                outputs[name] = inferred.outputs[name]
        weights = {k: v for k, v in self.loss_weights.items() if k in names}
        return _combined(outputs, self.source, weights)

    def to_dict(self) -> dict:
        d = {
            "loss": self.loss,
            "metrics": list(self.metrics),
            "from_logits": self.from_logits,
            "source": self.source,
        }
        if self.outputs:
            d["outputs"] = {name: s.to_dict() for name, s in self.outputs.items()}
        if self.loss_weights:
            d["loss_weights"] = dict(self.loss_weights)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "CompileSettings":
        return cls(
            loss=d["loss"],
            metrics=list(d.get("metrics", [])),
            from_logits=bool(d.get("from_logits", False)),
            source=d.get("source", "user"),
            outputs={name: cls.from_dict(s) for name, s in (d.get("outputs") or {}).items()},
            loss_weights={name: float(w) for name, w in (d.get("loss_weights") or {}).items()},
        )


def _combined(outputs: dict[str, CompileSettings], source: str, loss_weights: dict | None = None) -> CompileSettings:
    """Settings for a model with several outputs, from each output's own settings."""
    first = next(iter(outputs.values()))
    metrics: list[str] = []
    for s in outputs.values():
        metrics += [m for m in s.metrics if m not in metrics]
    for s in outputs.values():
        s.source = source
    return CompileSettings(first.loss, metrics, first.from_logits, source, dict(outputs), dict(loss_weights or {}))


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


def _per_output(entry: Any, names: Sequence[str] | None) -> dict[str, Any] | None:
    """A saved per-output entry (``{name: x}``, or ``[x, y]`` given the output names) by name."""
    if isinstance(entry, dict) and "class_name" not in entry and len(entry) > 1:
        return dict(entry)
    if isinstance(entry, (list, tuple)) and len(entry) > 1 and names is not None and len(entry) == len(names):
        return dict(zip(names, entry))
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


def settings_from_saved(config: dict | None, output_names: Sequence[str] | None = None) -> CompileSettings | None:
    """CompileSettings from a file's ``compile_config`` / ``training_config``, if usable.

    Args:
        config: The saved compile configuration.
        output_names: The model's output names; needed to read losses saved as a list, one per
            output (losses saved as ``{output name: loss}`` are read without them).
    """
    if not isinstance(config, dict):
        return None
    losses = _per_output(config.get("loss"), output_names)
    if losses is not None:
        return _saved_per_output(config, losses, output_names)
    loss = _loss_from_config(config.get("loss"))
    if loss is None:
        return None
    metrics = _metric_names(config.get("metrics") or [])
    metrics += [m for m in _metric_names(config.get("weighted_metrics") or []) if m not in metrics]
    return CompileSettings(loss=loss[0], metrics=metrics, from_logits=loss[1], source="file")


def _saved_per_output(config: dict, losses: dict[str, Any], names: Sequence[str] | None) -> CompileSettings | None:
    metrics = _per_output(config.get("metrics"), list(losses))
    weighted = _per_output(config.get("weighted_metrics"), list(losses)) or {}
    outputs = {}
    for name, entry in losses.items():
        loss = _loss_from_config(entry)
        if loss is None:
            return None
        own = _metric_names(metrics.get(name, []) if metrics is not None else config.get("metrics") or [])
        own += [m for m in _metric_names(weighted.get(name, [])) if m not in own]
        outputs[name] = CompileSettings(loss[0], own, loss[1], "file")
    weights = config.get("loss_weights")
    if isinstance(weights, (list, tuple)) and len(weights) == len(outputs):
        weights = dict(zip(outputs, weights))
    weights = {k: float(v) for k, v in weights.items()} if isinstance(weights, dict) else {}
    return _combined(outputs, "file", weights)


def _output_layer_activation(model, index: int = 0) -> tuple[str, int]:
    """(activation name, units) of the layer that produces the model's output ``index``."""
    from prune_studio.compat import keras

    layer, which = model, index
    while isinstance(layer, keras.Model) and layer.layers:
        outputs = getattr(layer, "outputs", None)
        if outputs:
            history = getattr(outputs[min(which, len(outputs) - 1)], "_keras_history", None)
            if history is not None:
                layer, which = history.layer, history.tensor_index
            else:
                layer, which = layer.layers[-1], 0
        else:
            layer, which = layer.layers[-1], 0
    shape = model.outputs[index].shape if model.outputs else None
    units = int(shape[-1]) if shape is not None and shape.rank and shape[-1] else 1
    if isinstance(layer, keras.layers.Softmax):
        return "softmax", units
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", None) or str(activation or "linear")
    return name, units


def _infer_one(activation: str, units: int, y: Any) -> CompileSettings:
    one_hot = y is not None and np.ndim(y) == 2 and np.shape(y)[-1] == units and units > 1
    if units == 1:
        if activation == "sigmoid":
            return CompileSettings("binary_crossentropy", ["accuracy"])
        return CompileSettings("mean_squared_error", ["mean_absolute_error"])
    if activation == "sigmoid":  # multi-label
        return CompileSettings("binary_crossentropy", ["binary_accuracy"])
    loss = "categorical_crossentropy" if one_hot else "sparse_categorical_crossentropy"
    return CompileSettings(loss, ["accuracy"], from_logits=activation != "softmax")


def infer_compile_settings(model, y=None) -> CompileSettings:
    """Pick a loss and metric from the model's output layer(s) and the label format.

    Args:
        model: A built tf-keras model.
        y: Optional training labels (numpy; with several outputs a dict by output name). One-hot
            labels (2-D, width equal to the output units) select ``categorical_crossentropy``;
            integer labels the sparse variant.

    Returns:
        CompileSettings with ``source="inferred"``; with several outputs, one entry per output
        in ``outputs``.
    """
    names = list(getattr(model, "output_names", None) or [])
    if len(names) < 2:
        labels = next(iter(y.values())) if isinstance(y, dict) and len(y) == 1 else y
        return _infer_one(*_output_layer_activation(model), None if isinstance(labels, dict) else labels)
    labels = y if isinstance(y, dict) else {}
    outputs = {name: _infer_one(*_output_layer_activation(model, i), labels.get(name)) for i, name in enumerate(names)}
    return _combined(outputs, "inferred")

"""A plain, JSON-able description of a model for the layer tree and reports.

The window's tree view, the CLI's ``info`` command and the recipe all need the same facts per
layer: type, output shape, parameter count, which weights would be pruned and, when a layer
cannot be pruned, why. Computing them once here keeps the views thin.

Example::

    desc = describe_model(loaded.model, loaded.path)
    for info in desc.prunable_layers():
        print(info.name, info.params)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class WeightInfo:
    """One prunable weight: its variable name, shape and number of values."""

    name: str
    shape: list[int]
    size: int

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "size": self.size}

    @classmethod
    def from_dict(cls, d: dict) -> "WeightInfo":
        return cls(d["name"], list(d["shape"]), int(d["size"]))


@dataclass
class LayerInfo:
    """One node of the layer tree; nested models have children.

    Attributes:
        name: The layer name (unique within its parent model).
        path: Names from the root down, joined with ``/`` (e.g. ``"encoder/dense1"``).
        type: The class name, e.g. ``"Conv2D"``.
        output_shape: The output shape with None for the batch axis (a list of shapes for
            layers with several outputs), or None when unknown.
        params: Number of parameters (trainable and not).
        prunable: Whether the engine can prune this layer.
        reason: Why not, as a sentence, when ``prunable`` is False.
        weights: The weights that would be pruned.
        children: Layers inside a nested model.
    """

    name: str
    path: str
    type: str
    output_shape: list | None
    params: int
    prunable: bool
    reason: str = ""
    weights: list[WeightInfo] = field(default_factory=list)
    children: list["LayerInfo"] = field(default_factory=list)

    @property
    def prunable_params(self) -> int:
        """Values in this layer's prunable weights (0 when not prunable)."""
        return sum(w.size for w in self.weights) if self.prunable else 0

    def walk(self):
        """Yield this node and every node below it, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "path": self.path,
            "type": self.type,
            "output_shape": self.output_shape,
            "params": self.params,
            "prunable": self.prunable,
            "reason": self.reason,
            "weights": [w.to_dict() for w in self.weights],
            "children": [c.to_dict() for c in self.children],
        }

    @classmethod
    def from_dict(cls, d: dict) -> "LayerInfo":
        return cls(
            name=d["name"],
            path=d["path"],
            type=d["type"],
            output_shape=d.get("output_shape"),
            params=int(d["params"]),
            prunable=bool(d["prunable"]),
            reason=d.get("reason", ""),
            weights=[WeightInfo.from_dict(w) for w in d.get("weights", [])],
            children=[LayerInfo.from_dict(c) for c in d.get("children", [])],
        )


@dataclass
class ModelDescription:
    """The whole model: its tree and totals.

    Attributes:
        name: The model name.
        root: The model itself as a LayerInfo whose children are its layers.
        total_params: All parameters.
        prunable_params: Parameters in prunable weights of prunable layers.
        file_bytes: Size of the model file or folder on disk, or None.
    """

    name: str
    root: LayerInfo
    total_params: int
    prunable_params: int
    file_bytes: int | None = None

    def layers(self) -> list[LayerInfo]:
        """Every layer below the root, depth first."""
        return list(self.root.walk())[1:]

    def prunable_layers(self) -> list[LayerInfo]:
        """The layers the engine can prune, depth first."""
        return [info for info in self.layers() if info.prunable]

    def find(self, name: str) -> LayerInfo | None:
        """The layer with this name (or ``/``-joined path), or None."""
        for info in self.layers():
            if info.path == name:
                return info
        for info in self.layers():
            if info.name == name:
                return info
        return None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "root": self.root.to_dict(),
            "total_params": self.total_params,
            "prunable_params": self.prunable_params,
            "file_bytes": self.file_bytes,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "ModelDescription":
        return cls(
            name=d["name"],
            root=LayerInfo.from_dict(d["root"]),
            total_params=int(d["total_params"]),
            prunable_params=int(d["prunable_params"]),
            file_bytes=d.get("file_bytes"),
        )


def shape_list(shape):
    """A shape (TensorShape, tuple, or list of them) as nested JSON-able lists."""
    if shape is None:
        return None
    if hasattr(shape, "as_list"):
        try:
            return shape.as_list()
        except ValueError:  # unknown rank
            return None
    if isinstance(shape, (list, tuple)):
        if all(d is None or isinstance(d, int) for d in shape):
            return [None if d is None else int(d) for d in shape]
        return [shape_list(s) for s in shape]
    return None


def _output_shape(layer):
    try:
        return shape_list(layer.output_shape)
    except (AttributeError, RuntimeError, ValueError):
        # Shared layers have one output shape per call; unbuilt layers have none.
        return None


def file_size(path) -> int | None:
    """Bytes of a file, or of every file under a folder (a SavedModel), or None."""
    if path is None:
        return None
    p = Path(path)
    if p.is_file():
        return p.stat().st_size
    if p.is_dir():
        return sum(
            os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(p) for f in files
        )
    return None


_NO_WEIGHTS = "it has no weights to prune."
#: Why a layer kind is not pruned, first match along the class's bases; the engine's own
#: reason is used for kinds not listed here.
LAYER_REASONS = (
    (("InputLayer",), "The model's input; it has no weights."),
    (("TFOpLambda", "SlicingOpLambda"),
     "A TensorFlow operation (such as + or a slice) on other layers' outputs; " + _NO_WEIGHTS),
    (("Lambda",), "Runs Python code stored in the model; it has no weights the pruning engine can see."),
    (("Pooling1D", "Pooling2D", "Pooling3D", "GlobalPooling1D", "GlobalPooling2D", "GlobalPooling3D"),
     "Pooling keeps the largest or the average of neighbouring values; " + _NO_WEIGHTS),
    (("Flatten", "Reshape", "Permute", "RepeatVector"),
     "Only rearranges values into another shape; " + _NO_WEIGHTS),
    (("ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D",
      "UpSampling1D", "UpSampling2D", "UpSampling3D"),
     "Only pads, crops or repeats values to change the size; " + _NO_WEIGHTS),
    (("Dropout", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization"),
     "Acts only while training (drops or perturbs values at random); " + _NO_WEIGHTS),
    (("PReLU",), "An activation that learns one slope per value; its few weights are not worth pruning."),
    (("Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "ThresholdedReLU"),
     "Applies a fixed function to each value; " + _NO_WEIGHTS),
    (("BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization"),
     "Normalises values with a scale and a shift per channel; these few weights set every output's "
     "range, so zeroing them would distort the model rather than shrink it."),
    (("Rescaling", "Resizing", "CenterCrop", "Normalization", "RandomFlip", "RandomRotation", "RandomZoom",
      "RandomTranslation", "RandomContrast", "RandomCrop"),
     "Prepares the input (scales, resizes or augments it); it has no learned weights to prune."),
    (("_Merge", "Merge"), "Combines the outputs of other layers (adds, joins or multiplies them); " + _NO_WEIGHTS),
    (("Masking",), "Marks padded time steps to skip; " + _NO_WEIGHTS),
    (("Attention", "AdditiveAttention"),
     "Weighs values by how well queries match keys, with no weight matrices of its own to prune."),
)


def kind_reason(cls) -> str | None:
    """The sentence saying why layers of class ``cls`` are not pruned, or None when the kind has
    no reason of its own (the engine's is used)."""
    names = {klass.__name__ for klass in cls.__mro__}
    for kinds, reason in LAYER_REASONS:
        if names.intersection(kinds):
            return reason
    return None


def layer_reason(layer, engine_reason: str) -> str:
    """The sentence saying why ``layer`` is not pruned: its kind's own reason when known."""
    return kind_reason(type(layer)) or engine_reason


def _describe_layer(layer, parent_path: str, keras) -> LayerInfo:
    path = f"{parent_path}/{layer.name}" if parent_path else layer.name
    params = layer.count_params() if layer.built else 0
    if isinstance(layer, keras.Model):
        children = [_describe_layer(child, path, keras) for child in layer.layers]
        return LayerInfo(
            name=layer.name,
            path=path,
            type=type(layer).__name__,
            output_shape=_output_shape(layer),
            params=params,
            prunable=False,
            reason="This is a group of layers; choose the layers inside it.",
            children=children,
        )
    return layer_info(layer, parent_path, _output_shape(layer))


def layer_info(layer, parent_path: str, output_shape) -> LayerInfo:
    """The LayerInfo of one built layer that is not a model, given its output shape."""
    from prune_studio.pruning.registry import prunability, prunable_weights

    path = f"{parent_path}/{layer.name}" if parent_path else layer.name
    params = layer.count_params() if layer.built else 0
    prunable, reason = prunability(layer)
    weights = []
    if prunable:
        weights = [
            WeightInfo(w.name, [int(d) for d in w.shape], int(w.shape.num_elements() or 0))
            for w in prunable_weights(layer)
        ]
    return LayerInfo(
        name=layer.name,
        path=path,
        type=type(layer).__name__,
        output_shape=output_shape,
        params=params,
        prunable=bool(prunable),
        reason=layer_reason(layer, reason) if not prunable else "",
        weights=weights,
    )


def describe_model(model, path=None) -> ModelDescription:
    """Describe a built tf-keras model as a tree of LayerInfo plus totals.

    Args:
        model: A built tf-keras ``Model`` (Sequential, Functional, or nested).
        path: The file or SavedModel folder it came from, for ``file_bytes``.

    Returns:
        A ModelDescription; the root is the model, its children the model's layers.
    """
    from prune_studio.compat import keras
    from prune_studio.pruning.cloning import locked_in_subclassed

    children = [_describe_layer(layer, "", keras) for layer in model.layers]
    locked = locked_in_subclassed(model)
    for info in (i for child in children for i in child.walk()):
        if info.name in locked and info.prunable:
            info.prunable, info.reason, info.weights = False, locked[info.name], []
    root = LayerInfo(
        name=model.name,
        path="",
        type=type(model).__name__,
        output_shape=_output_shape(model),
        params=model.count_params() if model.built else 0,
        prunable=False,
        reason="The whole model; choose the layers inside it.",
        children=children,
    )
    prunable_params = sum(info.prunable_params for info in root.walk())
    return ModelDescription(
        name=model.name,
        root=root,
        total_params=root.params,
        prunable_params=prunable_params,
        file_bytes=file_size(path),
    )

"""Describe a saved model from its config alone, without building the tf-keras model.

Rebuilding a saved Functional model makes tf-keras call every layer symbolically and create and
initialise every variable, then read the weights: 4-6 s for MobileNetV2 and 6-20 s for
ResNet50 here, all before the window can show a single layer. Describing needs none of that. The walk
follows the config's call graph with each call's input shapes. The common built-in kinds (convolutions,
Dense, normalisation, pooling, merges, activations, reshapes: ``layer_shapes.RULES``) are not
made at all: their weight and output shapes are worked out from the config, and their
prunability from their class. Every other layer is made from its (already scanned) config, its
output shape comes from ``compute_output_shape``, and its weights are created as
*uninitialised* variables (``UninitializedVariable``: a shape, a dtype and a name, no values), so
parameter counts, prunable weight names and the engine's own prunability verdicts come from the
same layer classes the full build uses. Nothing is read from the weights.

A config the walk does not understand (a TensorFlow op called with tensor keyword arguments, an
unknown node format, a layer whose shape cannot be computed) gives ``None``: the caller then
describes the built model instead. Tests check that both give equal descriptions.

Example::

    desc = describe_config(model_config, custom={}, path="model.keras")
"""

from __future__ import annotations

import functools
import threading

from prune_studio.models.describe import (
    LayerInfo,
    ModelDescription,
    WeightInfo,
    file_size,
    kind_reason,
    layer_info,
    shape_list,
)
from prune_studio.models.layer_shapes import RULES, NotByHand
from prune_studio.models.safety import builtin_layer_classes, skips_first_call

_MODELS = ("Sequential", "Functional", "Model")


class _Unsupported(Exception):
    """The walk cannot follow this config; describe the built model instead."""


_REAL = threading.local()


def _creator(next_creator, **kwargs):
    """Variables with a shape, dtype and name but no value (nothing is allocated), except while
    a layer whose ``build`` reads its own variables is built again with real ones."""
    from prune_studio.compat import tf
    from tensorflow.python.ops import resource_variable_ops

    if getattr(_REAL, "on", False):
        return next_creator(**kwargs)
    shape = kwargs.get("shape")
    if shape is None:
        initial = kwargs.get("initial_value")
        shape = getattr(initial() if callable(initial) else initial, "shape", None)
    if shape is None:
        raise _Unsupported("a variable without a shape")
    dtype = kwargs.get("dtype") or tf.float32
    return resource_variable_ops.UninitializedVariable(
        shape=shape, dtype=tf.as_dtype(dtype).base_dtype, name=kwargs.get("name"),
        trainable=kwargs.get("trainable", True) is not False,
    )


def _shape(value):
    """A TensorShape, or a list of them for several outputs."""
    from prune_studio.compat import tf

    if isinstance(value, tf.TensorShape):
        return value
    if isinstance(value, (list, tuple)) and all(d is None or isinstance(d, int) for d in value):
        return tf.TensorShape(value)
    if isinstance(value, (list, tuple)):
        return [_shape(v) for v in value]
    raise _Unsupported(f"an output shape {value!r}")


def _tuples(shape):
    """Shapes as the tuples tf-keras's ``layer.output_shape`` gives."""
    if isinstance(shape, list):
        return [_tuples(s) for s in shape]
    return tuple(shape.as_list()) if shape.rank is not None else None


class _Weight:
    """A weight of a layer described by hand: its variable name and shape."""

    def __init__(self, name: str, shape):
        self.name, self.shape = name, shape


@functools.lru_cache(maxsize=None)
def _hand_class(kind: str):
    """The built-in class of a layer kind ``layer_shapes`` works out by hand, or None: the kind
    must also have a reason of its own for not being pruned, or be one the engine prunes."""
    from prune_studio.pruning.registry import SUPPORTED

    if kind not in RULES and kind != "InputLayer":
        return None
    cls = builtin_layer_classes().get(kind)
    if cls is None or (cls not in SUPPORTED and kind_reason(cls) is None):
        return None
    return cls


class _Hand:
    """A built-in layer described from its config (``layer_shapes``); no layer object is made."""

    def __init__(self, cls, entry: dict):
        self.cls, self.config = cls, entry.get("config") or {}
        self.name = self.config.get("name") or entry.get("name")
        self.rule = RULES.get(entry.get("class_name"))
        self.weights: list = []
        self.called = False

    def call(self, inputs):
        from prune_studio.compat import tf

        weights, out = self.rule(self.config, _lists(inputs))
        made = [(f"{self.name}/{name}:0", shape) for name, shape in weights]
        if not self.called:
            self.weights = [_Weight(name, tf.TensorShape(shape)) for name, shape in made]
            self.called = True
        elif made != [(w.name, w.shape.as_list()) for w in self.weights]:
            raise _Unsupported("a shared layer called on inputs of other shapes")
        return tf.TensorShape(out)

    def info(self, parent_path: str, output_shape) -> LayerInfo:
        """What ``layer_info`` gives for the built layer."""
        from prune_studio.pruning.registry import SUPPORTED

        path = f"{parent_path}/{self.name}" if parent_path else self.name
        prunable = self.cls in SUPPORTED
        by_name = {w.name: w for w in self.weights}
        weights = [by_name[f"{self.name}/{attr}:0"] for attr in SUPPORTED[self.cls]] if prunable else []
        return LayerInfo(
            name=self.name, path=path, type=self.cls.__name__, output_shape=output_shape,
            params=int(sum(w.shape.num_elements() for w in self.weights)), prunable=prunable,
            reason="" if prunable else kind_reason(self.cls),
            weights=[WeightInfo(w.name, w.shape.as_list(), int(w.shape.num_elements())) for w in weights],
        )


def _lists(inputs):
    """Input shape(s) as lists (a list of lists for several), for ``layer_shapes``."""
    if isinstance(inputs, list):
        return [_lists(s) for s in inputs]
    if inputs.rank is None:
        raise NotByHand("an input of unknown rank")
    return inputs.as_list()


class _Walk:
    """Layers of one (possibly nested) model config, with the shapes of their calls."""

    def __init__(self, entry: dict, custom: dict, outer_input=None):
        self.entry, self.custom = entry, custom
        self.config = entry.get("config") or {}
        self.kind = entry.get("class_name")
        self.layers: list = []  # (layer object or nested _Walk, config entry)
        self.calls: dict = {}  # layer name -> {node index: output shape(s)}
        if self.kind == "Sequential":
            self._walk_sequential(outer_input)
        else:
            self._walk_functional()

    # --- making and building one layer --------------------------------------------------
    def _make(self, entry: dict):
        """A :class:`_Hand` for the kinds described by hand, else the layer object."""
        kind = entry.get("class_name")
        if (isinstance(kind, str) and kind not in self.custom and entry.get("registered_name") in (None, kind)
                and _keras_module(entry.get("module"))):
            cls = _hand_class(kind)
            if cls is not None:
                return _Hand(cls, entry)
        return self._make_layer(entry)

    def _make_layer(self, entry: dict):
        from prune_studio.compat import keras

        if entry.get("class_name") in _MODELS:
            raise _Unsupported("nested models are walked, not made")
        plain = {k: entry[k] for k in ("class_name", "config", "module", "registered_name") if k in entry}
        return keras.layers.deserialize(plain, custom_objects=self.custom)

    def _call(self, name: str, made: dict, entry: dict, inputs, kwargs: dict | None = None):
        """The output shape(s) of calling layer ``name`` on ``inputs`` (shapes), building it first.

        Plain calls use the layer's ``compute_output_shape``; calls with keyword arguments (a
        TensorFlow op's operands, attention's ``value``) are traced in a scratch graph.
        """
        from prune_studio.compat import keras, tf

        layer = made[name]
        if isinstance(layer, _Hand):
            try:
                if kwargs:
                    raise NotByHand("a call with keyword arguments")
                return layer.call(inputs)
            except NotByHand:
                if layer.called:
                    raise _Unsupported("a shared layer the rules read only for some of its calls") from None
                layer = made[name] = self._make_layer(entry)
        if kwargs:
            return _traced(layer, inputs, kwargs)
        if not layer.built:
            try:
                with tf.name_scope(layer.name):
                    layer.build(inputs)
            except Exception:  # noqa: BLE001 - its build reads its variables (Normalization): real ones
                layer = made[name] = self._make_layer(entry)
                _REAL.on = True
                try:
                    with tf.name_scope(layer.name):
                        layer.build(inputs)
                finally:
                    _REAL.on = False
            keras.layers.Layer.build(layer, inputs)  # marks it built, as a first call does
        if type(layer).compute_output_shape is keras.layers.Layer.compute_output_shape:
            return _traced(layer, inputs, {})
        return _shape(layer.compute_output_shape(inputs))

    def _nested(self, entry: dict, inputs):
        walk = _Walk(entry, self.custom, outer_input=inputs)
        return walk, walk.output_shape()

    # --- Sequential ---------------------------------------------------------------------
    def _walk_sequential(self, outer_input):
        from prune_studio.compat import tf

        entries = list(self.config.get("layers") or [])
        shape = None
        if entries and entries[0].get("class_name") == "InputLayer":
            shape = tf.TensorShape(_input_shape(entries.pop(0)))
        elif self.config.get("build_input_shape"):
            shape = tf.TensorShape(self.config["build_input_shape"])
        elif entries and _declared(entries[0]):
            shape = tf.TensorShape(_declared(entries[0]))
        elif outer_input is not None:
            shape = outer_input
        if shape is None:
            raise _Unsupported("a Sequential model without an input shape")
        self.input_shape = shape
        for entry in entries:
            if entry.get("class_name") in _MODELS:
                layer, out = self._nested(entry, shape)
                name = layer.config.get("name")
            else:
                made = {"layer": self._make(entry)}
                out = self._call("layer", made, entry, shape)
                layer, name = made["layer"], made["layer"].name
            self.layers.append((layer, entry))
            self.calls[name] = {0: out}
            shape = out
        self.outputs = shape

    # --- Functional ---------------------------------------------------------------------
    def _walk_functional(self):
        from prune_studio.compat import tf

        entries = [e for e in self.config.get("layers") or [] if isinstance(e, dict)]
        made = {}
        for entry in entries:
            name = entry.get("name") or (entry.get("config") or {}).get("name")
            if entry.get("class_name") == "InputLayer":
                made[name] = self._make(entry)
                self.calls[name] = {0: tf.TensorShape(_input_shape(entry))}
            elif entry.get("class_name") not in _MODELS:
                made[name] = self._make(entry)
            self.layers.append((name, entry))
        pending = [(e, k) for _, e in self.layers for k in range(len(e.get("inbound_nodes") or []))]
        nested: dict = {}
        while pending:  # calls in an order where every input exists (configs are not always sorted)
            left = []
            for entry, k in pending:
                if not self._try_call(entry, k, made, nested):
                    left.append((entry, k))
            if len(left) == len(pending):
                raise _Unsupported("calls whose inputs never appear")
            pending = left
        self.layers = [(nested.get(name) or made[name], entry) for name, entry in self.layers]
        self.outputs = [self._ref_shape(ref) for ref in _refs(self.config.get("output_layers"))]

    def _ref_shape(self, ref):
        name, node = ref[0], ref[1] if len(ref) > 1 else 0
        index = ref[2] if len(ref) > 2 else 0
        calls = self.calls.get(name) or {}
        if node not in calls:
            return None
        out = calls[node]
        if isinstance(out, list):
            return out[index]
        return out

    def _try_call(self, entry: dict, k: int, made: dict, nested: dict) -> bool:
        name = entry.get("name") or (entry.get("config") or {}).get("name")
        node = entry["inbound_nodes"][k]
        single = _is_ref(node)  # an op layer called on one tensor keeps it unwrapped
        refs = [node] if single else node
        if not isinstance(refs, list) or not refs or not all(_is_ref(r) for r in refs):
            raise _Unsupported("a call in a format this walk does not read")
        kwargs = refs[0][3] if len(refs[0]) > 3 else {}
        if not isinstance(kwargs, dict):
            raise _Unsupported("call keyword arguments this walk does not read")
        kwargs = {key: self._ref_shape(v) if _is_ref(v) else _plain(v) for key, v in kwargs.items()}
        shapes = [self._ref_shape(ref) for ref in refs]
        if any(s is None for s in shapes) or any(v is None for v in kwargs.values() if v is not _NONE):
            return False
        kwargs = {key: (None if v is _NONE else v) for key, v in kwargs.items()}
        if entry.get("class_name") not in _OP_LAYERS:
            kwargs = {key: v for key, v in kwargs.items() if not (key == "training" or v is None)}
        inputs = shapes[0] if len(shapes) == 1 and (single or entry.get("class_name") not in _OP_LAYERS) else shapes
        index = k + (int(skips_first_call(entry)) if entry.get("class_name") in _MODELS else 0)
        if entry.get("class_name") in _MODELS:
            walk = nested.get(name)
            if walk is None:
                walk = nested[name] = _Walk(entry, self.custom, outer_input=inputs)
            out = walk.output_shape()
        else:
            out = self._call(name, made, entry, inputs, kwargs)
        self.calls.setdefault(name, {})[index] = out
        return True

    # --- results ------------------------------------------------------------------------
    def output_shape(self):
        """The model's output shape(s) (one shape, or a list for several outputs)."""
        outputs = self.outputs
        if isinstance(outputs, list):
            return outputs[0] if len(outputs) == 1 else list(outputs)
        return outputs

    def layer_output_shape(self, name: str, kind: str):
        """What ``layer.output_shape`` gives in the built model: the calls' common shape."""
        calls = self.calls.get(name) or {}
        if self.kind != "Sequential" and kind in _MODELS:
            own = self._nested_own(name)
            if own is not None:
                calls = {**calls, -1: own}
        values = [_tuples(s) for s in calls.values()]
        if not values or any(v != values[0] for v in values):
            return None
        return shape_list([values[0]] if kind == "InputLayer" else values[0])

    def _nested_own(self, name: str):
        for layer, _ in self.layers:
            if isinstance(layer, _Walk) and layer.config.get("name") == name and skips_first_call(layer.entry):
                return layer.output_shape()
        return None

    def weights(self) -> list:
        """Every variable of every layer, nested ones included."""
        out = []
        for layer, _ in self.layers:
            out += layer.weights() if isinstance(layer, _Walk) else list(layer.weights)
        return out

    def count_params(self) -> int:
        unique = {id(w): w for w in self.weights()}
        return int(sum(w.shape.num_elements() or 0 for w in unique.values()))

    def infos(self, parent_path: str) -> list[LayerInfo]:
        """The LayerInfo of each layer, in ``model.layers`` order."""
        out = []
        for layer, entry in self.layers:
            if isinstance(layer, _Walk):
                name = layer.config.get("name")
                path = f"{parent_path}/{name}" if parent_path else name
                out.append(LayerInfo(
                    name=name, path=path, type=_model_type(layer.kind),
                    output_shape=self.layer_output_shape(name, layer.kind), params=layer.count_params(),
                    prunable=False, reason="This is a group of layers; choose the layers inside it.",
                    children=layer.infos(path),
                ))
            elif isinstance(layer, _Hand):
                out.append(layer.info(parent_path, self.layer_output_shape(layer.name, entry.get("class_name"))))
            else:
                out.append(layer_info(layer, parent_path, self.layer_output_shape(layer.name, entry.get("class_name"))))
        return out


_NONE = object()  # a keyword argument whose value is None (not a missing input)
_OP_LAYERS = ("TFOpLambda", "SlicingOpLambda")


def _keras_module(module) -> bool:
    return module is None or (isinstance(module, str) and module.split(".")[0] in ("keras", "tf_keras"))


def _is_ref(value) -> bool:
    """``[layer name, node index, tensor index(, kwargs)]``: one tensor of another layer's call."""
    return (isinstance(value, list) and 3 <= len(value) <= 4 and isinstance(value[0], str)
            and value[0] != "_CONSTANT_VALUE" and isinstance(value[1], int) and isinstance(value[2], int))


def _plain(value):
    """A keyword argument that is plain data (a number, a string, a list of them)."""
    if value is None:
        return _NONE
    if isinstance(value, (int, float, str, bool)):
        return value
    if isinstance(value, list) and all(isinstance(v, (int, float, str, bool)) or v is None for v in value):
        return value
    raise _Unsupported("a call with keyword arguments this walk does not read")


def _traced(layer, inputs, kwargs: dict):
    """Call ``layer`` on placeholders of ``inputs`` (and of shapes in ``kwargs``) in a scratch graph."""
    from prune_studio.compat import tf

    def placeholder(shape):
        return tf.compat.v1.placeholder(tf.float32 if layer.dtype is None else layer.dtype, shape)

    def tensors(value):
        if isinstance(value, tf.TensorShape):
            return placeholder(value)
        if isinstance(value, list) and value and all(isinstance(v, tf.TensorShape) for v in value):
            return [placeholder(v) for v in value]
        return value

    with tf.__internal__.FuncGraph(f"{layer.name}_shape").as_default():
        outputs = layer(tensors(inputs), **{key: tensors(v) for key, v in kwargs.items()})
        return _shape(tf.nest.map_structure(lambda t: t.shape, outputs))


def _model_type(kind: str) -> str:
    return "Sequential" if kind == "Sequential" else "Functional"


def _input_shape(entry: dict):
    config = entry.get("config") or {}
    shape = config.get("batch_input_shape") or config.get("batch_shape")
    if shape is None:
        raise _Unsupported("an input without a shape")
    return shape


def _declared(entry: dict):
    config = entry.get("config") or {}
    if config.get("batch_input_shape"):
        return config["batch_input_shape"]
    if config.get("input_shape"):
        return [None, *config["input_shape"]]
    if config.get("input_dim"):
        return [None, config["input_dim"]]
    return None


def _refs(node) -> list:
    if isinstance(node, list) and node and isinstance(node[0], str):
        return [node]
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    return []


def describe_config(model_config: dict, custom: dict | None = None, path=None) -> ModelDescription | None:
    """The description ``describe_model`` gives of the built model, from the config alone.

    Args:
        model_config: A tf-keras Sequential or Functional config (already scanned for code;
            Keras 3 configs converted to the tf-keras dialect first).
        custom: Classes registered from the user's custom-objects file.
        path: The model file, for ``file_bytes``.

    Returns:
        The ModelDescription, or None when the config needs the full build to be described.
    """
    from prune_studio.compat import tf

    if not isinstance(model_config, dict) or model_config.get("class_name") not in _MODELS:
        return None
    try:
        with tf.variable_creator_scope(_creator):
            walk = _Walk(model_config, dict(custom or {}))
            children = walk.infos("")
    except Exception:  # noqa: BLE001 - anything unexpected: describe the built model instead
        return None
    name = walk.config.get("name") or "model"
    root = LayerInfo(
        name=name, path="", type=_model_type(walk.kind), output_shape=_root_shape(walk),
        params=walk.count_params(), prunable=False, reason="The whole model; choose the layers inside it.",
        children=children,
    )
    return ModelDescription(
        name=name, root=root, total_params=root.params,
        prunable_params=sum(info.prunable_params for info in root.walk()), file_bytes=file_size(path),
    )


def _root_shape(walk: _Walk):
    if not isinstance(walk.config.get("output_layers", []), list):
        return None  # outputs given as a dict: tf-keras has no single output shape either
    out = walk.output_shape()
    return shape_list(_tuples(out)) if out is not None else None

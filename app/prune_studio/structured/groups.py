"""Dependency groups: which output channels of a Keras model must be removed together.

Every tensor of a functional (or sequential) tf-keras model gets a *channel vector*: one node id
per entry of its last axis. Layers that create channels (Conv1D/2D, Dense, SeparableConv2D,
Conv2DTranspose, a MultiHeadAttention's output and its heads) make new nodes; layers that keep
channels in place (BatchNormalization, activations, pooling, padding, dropout,
DepthwiseConv2D) pass their input's vector on; element-wise merges (Add, Multiply, Subtract...)
tie their inputs' nodes together; Concatenate joins vectors end to end; Flatten (and a Reshape
to one axis) repeats the vector once per spatial position, so each channel maps to a block of
the next Dense layer's inputs. Tied nodes are merged with a union-find; each merged node is one
removable channel. A channel is *fixed* (never removed) when it reaches a model output, a
model input, or a layer the analysis cannot follow; those layers are listed with the reason.

Example::

    graph = analyze(model)
    for group in graph.groups:
        print(group.name, group.size, group.prunable, group.reason)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from prune_studio.errors import PruneStudioError


class StructureError(PruneStudioError, ValueError):
    """A model (or a request) the channel analysis cannot handle."""


#: layers that make new output channels from all their input channels
PRODUCERS = {"Conv1D", "Conv2D", "Conv3D", "Dense", "SeparableConv2D", "SeparableConv1D", "Conv2DTranspose"}
#: layers whose output channel c depends only on input channel c (no weights across channels)
ELEMENTWISE = {
    "Activation", "ReLU", "LeakyReLU", "ELU", "ThresholdedReLU", "Dropout", "SpatialDropout1D",
    "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
    "ActivityRegularization", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D",
    "AveragePooling2D", "AveragePooling3D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
    "GlobalAveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D",
    "UpSampling1D", "UpSampling2D", "UpSampling3D",
}
MERGES = {"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"}
#: activations that mix channels (softmax normalises over the last axis)
MIXING_ACTIVATIONS = {"softmax", "log_softmax"}


@dataclass
class ChannelGroup:
    """Channels (or attention heads) that can only be removed together.

    Attributes:
        name: a stable name (the first layer that makes these channels, ``"<mha>/heads"`` for heads).
        kind: ``"channels"`` or ``"heads"``.
        producers: layers whose outputs (or heads) these are; more than one when merged (residuals).
        layers: every layer whose weights or shape change when a channel of the group goes.
        size: number of channels (heads) in the group.
        prunable: whether channels can be removed.
        reason: why not, as a sentence (empty when prunable).
    """

    name: str
    kind: str
    producers: list[str]
    layers: list[str]
    size: int
    prunable: bool
    reason: str = ""
    nodes: np.ndarray = field(default=None, repr=False)  # root node id of channel i

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "producers": list(self.producers),
                "layers": list(self.layers), "size": self.size, "prunable": self.prunable,
                "reason": self.reason}


@dataclass
class LayerRecord:
    """What surgery and the cost model need to know about one layer with channels."""

    name: str
    handler: str  # producer | bn | depthwise | mha | flatten | reshape | other
    inputs: list  # channel vectors (np int arrays) of the inputs it slices, or None
    output: np.ndarray | None = None  # channel vector it creates (producers, MHA)
    heads: np.ndarray | None = None  # MHA heads


class ChannelGraph:
    """The result of :func:`analyze`: groups, skipped layers, and per-layer channel vectors."""

    def __init__(self, model):
        self.model = model
        self.parent: list[int] = []
        self.fixed: dict[int, str] = {}  # node -> reason (kept on roots after unions)
        self.members: list[list[tuple[str, str]]] = []  # node -> [(layer, role)]
        self.records: dict[str, LayerRecord] = {}
        self.skipped: dict[str, str] = {}
        self.groups: list[ChannelGroup] = []
        self.root_of: np.ndarray = np.zeros(0, dtype=np.int64)
        self.shapes: dict[str, tuple] = {}  # layer -> (input shapes, output shapes) of its first call

    # --- union-find -------------------------------------------------------------------------
    def new_nodes(self, n: int, layer: str, role: str, fixed: str | None = None) -> np.ndarray:
        start = len(self.parent)
        self.parent.extend(range(start, start + n))
        self.members.extend([[(layer, role)] for _ in range(n)])
        if fixed:
            for i in range(start, start + n):
                self.fixed[i] = fixed
        return np.arange(start, start + n, dtype=np.int64)

    def find(self, i: int) -> int:
        parent = self.parent
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            parent[i], i = root, parent[i]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(int(a)), self.find(int(b))
        if ra == rb:
            return
        if rb < ra:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.members[ra].extend(self.members[rb])
        self.members[rb] = []
        if rb in self.fixed and ra not in self.fixed:
            self.fixed[ra] = self.fixed[rb]
        self.fixed.pop(rb, None)

    def union_vectors(self, a: np.ndarray, b: np.ndarray) -> None:
        for x, y in zip(a.tolist(), b.tolist()):
            self.union(x, y)

    def fix(self, vector: np.ndarray | None, reason: str) -> None:
        if vector is None:
            return
        for i in set(vector.tolist()):
            root = self.find(i)
            self.fixed.setdefault(root, reason)

    # --- results ---------------------------------------------------------------------------
    def group(self, name: str) -> ChannelGroup:
        for g in self.groups:
            if g.name == name:
                return g
        raise StructureError(
            f"There is no channel group named '{name}'; groups are: {', '.join(g.name for g in self.groups)}."
        )

    def prunable_groups(self) -> list[ChannelGroup]:
        return [g for g in self.groups if g.prunable]

    def keep_nodes(self, selection: dict[str, np.ndarray] | None) -> np.ndarray:
        """A bool per node: kept under ``selection`` (group name -> kept channel indices)."""
        keep_root = np.ones(len(self.parent), dtype=bool)
        for name, kept in (selection or {}).items():
            group = self.group(name)
            kept = np.asarray(kept, dtype=np.int64)
            if not group.prunable and len(kept) != group.size:
                raise StructureError(f"Channels of group '{name}' cannot be removed: {group.reason}")
            if len(kept) == 0:
                raise StructureError(f"Group '{name}' would keep no channel; keep at least one.")
            if kept.min() < 0 or kept.max() >= group.size or len(np.unique(kept)) != len(kept):
                raise StructureError(
                    f"Group '{name}' has channels 0 to {group.size - 1}; the kept list {kept.tolist()} is not valid."
                )
            mask = np.zeros(group.size, dtype=bool)
            mask[kept] = True
            keep_root[group.nodes[~mask]] = False
        return keep_root[self.root_of]

    def summary(self) -> dict:
        return {"groups": [g.to_dict() for g in self.groups], "skipped": dict(self.skipped)}


def _cls(layer) -> str:
    return type(layer).__name__


def _is_builtin(layer) -> bool:
    module = type(layer).__module__
    return module.startswith(("tf_keras.", "keras.src", "keras.layers", "tensorflow.python.keras"))


def _channels(tensor) -> int | None:
    shape = tensor.shape
    if shape.rank is None or shape.rank < 2 or shape[-1] is None:
        return None
    return int(shape[-1])


def _history(tensor):
    layer, node_index, tensor_index = tensor._keras_history
    return layer.name, node_index, tensor_index


def _network_nodes(model):
    """The model's layer calls in an order where inputs come first."""
    if not getattr(model, "_is_graph_network", False):
        raise StructureError(
            f"Model '{model.name}' is subclassed or not built on inputs; channel removal needs a "
            "functional or sequential model built with an input shape."
        )
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            yield node


def analyze(model) -> ChannelGraph:
    """Find the channel groups of ``model`` (functional or sequential tf-keras, built).

    Raises:
        StructureError: the model is subclassed or unbuilt.
    """
    graph = ChannelGraph(model)
    vectors: dict[tuple, np.ndarray | None] = {}
    made: dict[str, np.ndarray] = {}  # layer -> output nodes (shared layers reuse them)

    def vec(t):
        return vectors.get(_history(t))

    for node in _network_nodes(model):
        layer = node.layer
        name = layer.name
        inputs = list(node.keras_inputs)
        outputs = [t for t in _flat(node.outputs)]
        in_vecs = [vec(t) for t in inputs]
        if name not in graph.shapes:
            graph.shapes[name] = ([tuple(t.shape) for t in inputs], [tuple(t.shape) for t in outputs])
        out_vec = _follow(graph, layer, node, inputs, in_vecs, outputs, made)
        node_index = layer._inbound_nodes.index(node)
        for i, t in enumerate(outputs):
            key = (name, node_index, i)
            if i == 0 and out_vec is not None and _channels(t) == len(out_vec):
                vectors[key] = out_vec
            else:
                n = _channels(t)
                reason = f"they come from layer '{name}', which the analysis cannot follow"
                vectors[key] = None if n is None else graph.new_nodes(n, name, "fixed", reason)
    for t in model.outputs:
        graph.fix(vec(t), f"they feed the model output '{t._keras_history[0].name}', which keeps its size")
    _build_groups(graph)
    return graph


def _flat(x):
    if isinstance(x, (list, tuple)):
        return [t for item in x for t in _flat(item)]
    if isinstance(x, dict):
        return [t for item in x.values() for t in _flat(item)]
    return [x]


def _record_inputs(graph: ChannelGraph, name: str, handler: str, in_vecs: list) -> LayerRecord:
    """Note the input vectors a layer slices; a shared layer's calls tie their inputs."""
    record = graph.records.get(name)
    if record is None:
        record = graph.records[name] = LayerRecord(name, handler, list(in_vecs))
        return record
    for old, new in zip(record.inputs, in_vecs):
        if old is not None and new is not None and len(old) == len(new):
            graph.union_vectors(old, new)
    return record


def _skip(graph: ChannelGraph, layer, in_vecs, reason: str):
    graph.skipped.setdefault(layer.name, reason)
    for v in in_vecs:
        graph.fix(v, f"they feed layer '{layer.name}', which the analysis cannot follow ({reason})")
    return None


def _follow(graph, layer, node, inputs, in_vecs, outputs, made):
    """Handle one layer call; returns the channel vector of its first output (or None)."""
    cls, name = _cls(layer), layer.name
    if cls == "InputLayer":
        return graph.new_nodes(_channels(outputs[0]) or 0, name, "input", "they are model inputs")
    if not _is_builtin(layer):
        return _skip(graph, layer, in_vecs, f"{cls} is a custom layer, whose use of channels is unknown")
    cfg = layer.get_config()
    if cfg.get("data_format", "channels_last") != "channels_last":
        return _skip(graph, layer, in_vecs, "channels-first data is not supported")
    if not in_vecs or (cls != "MultiHeadAttention" and any(v is None for v in in_vecs)):
        return _skip(graph, layer, in_vecs, "an input has no known channel count")
    if cls in PRODUCERS:
        if cfg.get("groups", 1) != 1:
            return _skip(graph, layer, in_vecs, "grouped convolutions are not supported")
        if cls.startswith("Separable") and cfg.get("depth_multiplier", 1) < 1:
            return _skip(graph, layer, in_vecs, "unexpected depth multiplier")
        record = _record_inputs(graph, name, "producer", in_vecs[:1])
        if name not in made:
            made[name] = graph.new_nodes(_channels(outputs[0]), name, "out")
        record.output = made[name]
        return made[name]
    if cls == "BatchNormalization":
        axis = cfg.get("axis")
        axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
        rank = len(inputs[0].shape)
        if axis not in (-1, rank - 1):
            return _skip(graph, layer, in_vecs, f"it normalises axis {cfg.get('axis')}, not the channels")
        _record_inputs(graph, name, "bn", in_vecs[:1])
        _add_role(graph, in_vecs[0], name, "bn")
        return in_vecs[0]
    if cls == "DepthwiseConv2D" or cls == "DepthwiseConv1D":
        if cfg.get("depth_multiplier", 1) != 1:
            return _skip(graph, layer, in_vecs, "a depth multiplier above 1 is not supported")
        _record_inputs(graph, name, "depthwise", in_vecs[:1])
        _add_role(graph, in_vecs[0], name, "depthwise")
        return in_vecs[0]
    if cls in ELEMENTWISE:
        act = cfg.get("activation")
        if cls == "Activation" and isinstance(act, str) and act in MIXING_ACTIVATIONS:
            return _skip(graph, layer, in_vecs, f"the {act} activation mixes channels")
        return in_vecs[0]
    if cls in MERGES:
        if len({len(v) for v in in_vecs}) != 1:
            return _skip(graph, layer, in_vecs, "its inputs broadcast across channels")
        for v in in_vecs[1:]:
            graph.union_vectors(in_vecs[0], v)
        return in_vecs[0]
    if cls == "Concatenate":
        rank = len(inputs[0].shape)
        if cfg.get("axis", -1) in (-1, rank - 1):
            return np.concatenate(in_vecs)
        for v in in_vecs[1:]:
            graph.union_vectors(in_vecs[0], v)
        return in_vecs[0]
    if cls in ("Flatten", "Reshape"):
        shape_in = inputs[0].shape
        spatial = shape_in[1:-1]
        if any(d is None for d in spatial):
            return _skip(graph, layer, in_vecs, "its input has a spatial size unknown before running")
        repeat = int(np.prod(spatial)) if len(spatial) else 1
        if cls == "Flatten" or len(cfg["target_shape"]) == 1:
            graph.records[name] = LayerRecord(name, "flatten" if cls == "Flatten" else "reshape", list(in_vecs[:1]))
            return np.tile(in_vecs[0], repeat)
        if cfg["target_shape"][-1] == shape_in[-1] and -1 not in cfg["target_shape"]:
            graph.records[name] = LayerRecord(name, "reshape", list(in_vecs[:1]))
            return in_vecs[0]
        return _skip(graph, layer, in_vecs, "it reshapes across the channel axis")
    if cls == "MultiHeadAttention":
        return _follow_attention(graph, layer, node, in_vecs, outputs, made)
    return _skip(graph, layer, in_vecs, f"{cls} layers are not followed by the channel analysis")


def _add_role(graph: ChannelGraph, vector: np.ndarray, layer: str, role: str) -> None:
    for i in vector.tolist():
        graph.members[graph.find(i)].append((layer, role))


def _follow_attention(graph, layer, node, in_vecs, outputs, made):
    """MultiHeadAttention: slices its query/value/key inputs, makes heads and output channels."""
    name = layer.name
    args, kwargs = list(node.call_args), dict(node.call_kwargs)
    named = {}
    for key, pos in (("query", 0), ("value", 1), ("key", 2)):
        t = kwargs.pop(key, None)
        if t is None and len(args) > pos:
            t = args[pos]
        named[key] = t
    if named["key"] is None:
        named["key"] = named["value"]
    extra = [t for t in _flat(list(args[3:]) + list(kwargs.values())) if hasattr(t, "_keras_history")]
    if layer._attention_axes is not None and tuple(layer._attention_axes) != (1,):
        return _skip(graph, layer, in_vecs, "attention over several axes is not supported")
    lookup = {}
    for t, v in zip(node.keras_inputs, in_vecs):
        lookup[id(t)] = v
    q, v, k = (lookup.get(id(named[key])) for key in ("query", "value", "key"))
    for t in extra:
        graph.fix(lookup.get(id(t)), f"they are a mask input of '{name}'")
    if q is None or v is None or k is None:
        return _skip(graph, layer, in_vecs, "its inputs have no channel axis")
    record = _record_inputs(graph, name, "mha", [q, v, k])
    if name not in made:
        record.heads = graph.new_nodes(layer._num_heads, name, "heads")
        made[name] = graph.new_nodes(_channels(outputs[0]), name, "out")
    record.output = made[name]
    return made[name]


def _build_groups(graph: ChannelGraph) -> None:
    n = len(graph.parent)
    graph.root_of = np.array([graph.find(i) for i in range(n)], dtype=np.int64)
    order: dict[tuple, list[int]] = {}
    position = {layer.name: i for i, layer in enumerate(graph.model.layers)}
    for root in sorted(set(graph.root_of.tolist())):
        roles = graph.members[root]
        producers = []
        for layer, role in roles:
            if role in ("out", "heads") and layer not in producers:
                producers.append(layer)
        if not producers:
            continue
        producers.sort(key=lambda name: position.get(name, len(position)))
        kind = "heads" if any(role == "heads" for _, role in roles) else "channels"
        order.setdefault((kind, tuple(producers)), []).append(root)
    consumers: dict[int, list[str]] = {}
    for record in graph.records.values():
        for vector in list(record.inputs):
            if vector is None:
                continue
            for root in set(graph.root_of[vector].tolist()):
                consumers.setdefault(root, [])
                if record.name not in consumers[root]:
                    consumers[root].append(record.name)
    names: set[str] = set()
    for (kind, producers), roots in order.items():
        base = f"{producers[0]}/heads" if kind == "heads" else producers[0]
        name, k = base, 2
        while name in names:
            name, k = f"{base}#{k}", k + 1
        names.add(name)
        layers: list[str] = []
        for root in roots:
            for layer, role in graph.members[root]:
                if role not in ("fixed", "input") and layer not in layers:
                    layers.append(layer)
            for layer in consumers.get(root, []):
                if layer not in layers:
                    layers.append(layer)
        reasons = [graph.fixed[r] for r in roots if r in graph.fixed]
        prunable = not reasons and len(roots) > 1
        reason = reasons[0] if reasons else ("" if prunable else "a single channel cannot be thinned")
        graph.groups.append(ChannelGroup(
            name=name, kind=kind, producers=list(producers), layers=layers, size=len(roots),
            prunable=prunable, reason=_sentence(reason), nodes=np.array(roots, dtype=np.int64),
        ))


def _sentence(reason: str) -> str:
    if not reason:
        return ""
    reason = reason[0].upper() + reason[1:]
    return reason if reason.endswith(".") else reason + "."

"""Channel groups that cost much accuracy when thinned: the stem, residual streams, linear bottlenecks.

Thinning every group alike crushes the narrow groups a network funnels everything through:

- the **stem**, the first layer that mixes the input's channels (every later layer sees only what
  it keeps);
- **residual** groups, channels that Add/Subtract/Multiply tie across several layers (one
  removed channel leaves every block of the stage);
- **linear bottlenecks**, channels that reach the next layer with weights without passing a
  non-linearity (MobileNetV2's projections: the narrow stream between expansions).

:func:`fragile_groups` names them with the reason; ``StructuredSettings.fragile_keep_ratio`` gives
them a keep ratio of their own (1.0 leaves them whole) so a global target is met by thinning the
wide groups instead. On MobileNetV2 (alpha 0.35, 96x96) keeping them whole turned a 9-point loss
at -67% FLOPs into under one point at -68% (``tests/benchmarks/test_bench_structured.py``).

Example::

    graph = analyze(model)
    for name, why in fragile_groups(graph).items():
        print(name, why)
"""

from __future__ import annotations

from prune_studio.structured.groups import ELEMENTWISE, PRODUCERS, ChannelGraph

#: layers that change values without mixing channels or bending them (no non-linearity)
_LINEAR_PASS = {
    "BatchNormalization", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
    "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization", "ZeroPadding1D",
    "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D", "UpSampling1D",
    "UpSampling2D", "UpSampling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "Flatten", "Reshape",
}
#: layers with weights across (or along) channels: where a walk from a producer ends
_WEIGHTED = PRODUCERS | {"DepthwiseConv2D", "DepthwiseConv1D", "MultiHeadAttention", "Concatenate",
                         "Add", "Subtract", "Average"}
#: layers a backward walk from a producer passes on its way to the model input
_BACK_PASS = ELEMENTWISE | _LINEAR_PASS | {"Rescaling", "Normalization", "Resizing", "CenterCrop"}

STEM = "stem"
RESIDUAL = "residual"
BOTTLENECK = "linear bottleneck"


def _cls(layer) -> str:
    return type(layer).__name__


def _is_linear_activation(layer) -> bool:
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", None)
    return activation is None or name == "linear"


def _consumers(layer) -> list:
    return [node.layer for node in layer._outbound_nodes]


def _producers_of(layer) -> list:
    out = []
    for node in layer._inbound_nodes:
        out.extend(node.inbound_layers if isinstance(node.inbound_layers, list) else [node.inbound_layers])
    return out


def _reads_model_input(layer, model_inputs: set) -> bool:
    """Whether ``layer`` sees a model input through layers that do not mix channels."""
    todo, seen = list(_producers_of(layer)), set()
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if current.name in model_inputs:
            return True
        if _cls(current) in _BACK_PASS:
            todo.extend(_producers_of(current))
    return False


def _is_linear_bottleneck(layer, model_layers: set) -> bool:
    """Whether ``layer``'s outputs reach a weighted layer without a non-linearity on some path."""
    if not _is_linear_activation(layer):
        return False
    todo, seen = list(_consumers(layer)), set()
    while todo:
        current = todo.pop()
        if id(current) in seen or current.name not in model_layers:
            continue
        seen.add(id(current))
        cls = _cls(current)
        if cls in _WEIGHTED:
            return True
        if cls in _LINEAR_PASS or (cls == "Activation" and _is_linear_activation(current)):
            todo.extend(_consumers(current))
    return False


def fragile_groups(graph: ChannelGraph) -> dict[str, str]:
    """Prunable group name -> ``"stem"``, ``"residual"`` or ``"linear bottleneck"``.

    A group is *residual* when several layers make its channels (a merge ties them), *stem* when
    its producer reads a model input through layers that keep channels apart (padding, scaling,
    normalisation), and a *linear bottleneck* when its producer has no activation and its
    channels reach a layer with weights through BatchNormalization, padding, dropout or average
    pooling only. Groups of attention heads are never listed.
    """
    model = graph.model
    layers = {layer.name: layer for layer in model.layers}
    model_inputs = {t._keras_history[0].name for t in model.inputs}
    out: dict[str, str] = {}
    for group in graph.prunable_groups():
        if group.kind != "channels":
            continue
        producers = [layers[name] for name in group.producers if name in layers]
        if len(producers) > 1:
            out[group.name] = RESIDUAL
        elif any(_reads_model_input(p, model_inputs) for p in producers):
            out[group.name] = STEM
        elif any(_is_linear_bottleneck(p, set(layers)) for p in producers):
            out[group.name] = BOTTLENECK
    return out

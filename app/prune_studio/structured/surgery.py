"""Surgery: build a new, smaller, ordinary Keras model that keeps only the selected channels.

The model's config is copied with the new widths (``filters``, ``units``, ``num_heads``, a
Reshape's ``target_shape``), a fresh model is built from it with the same layer classes (the
model is already open, so nothing new is imported), and every weight gets the kept slices of the
old one. No wrappers, no masks: the result saves, converts and trains like any Keras model.

Example::

    graph = analyze(model)
    small = shrink(model, graph, {"conv1": [0, 2, 5, 7]})
"""

from __future__ import annotations

import copy

import numpy as np

from prune_studio.compat import keras
from prune_studio.structured.groups import ChannelGraph, StructureError, analyze


_INITIALIZERS = (
    "kernel_initializer", "bias_initializer", "depthwise_initializer", "pointwise_initializer",
    "embeddings_initializer", "gamma_initializer", "beta_initializer", "moving_mean_initializer",
    "moving_variance_initializer", "alpha_initializer",
)


def _kept(keep: np.ndarray, vector: np.ndarray) -> np.ndarray:
    return np.nonzero(keep[vector])[0]


def _layer_configs(config: dict) -> list[dict]:
    return config["layers"]


def _new_width(cls: str, cfg: dict, record, keep, layer) -> None:
    """Write the kept widths into one layer's config (in place)."""
    if record.handler == "producer":
        n = len(_kept(keep, record.output))
        cfg["units" if cls == "Dense" else "filters"] = n
    elif record.handler == "mha":
        cfg["num_heads"] = len(_kept(keep, record.heads))
        out = len(_kept(keep, record.output))
        if out != len(record.output) or cfg.get("output_shape") is not None:
            cfg["output_shape"] = out
        elif len(_kept(keep, record.inputs[0])) != len(record.inputs[0]):
            cfg["output_shape"] = out  # the default (query width) would follow the thinner query
    elif record.handler == "reshape":
        target = list(cfg["target_shape"])
        if len(target) == 1:
            in_shape = layer.input_shape
            spatial = int(np.prod(in_shape[1:-1])) if len(in_shape) > 2 else 1
            target = [spatial * len(_kept(keep, record.inputs[0]))]
        else:
            target[-1] = len(_kept(keep, record.inputs[0]))
        cfg["target_shape"] = tuple(target)


def _slice_weights(layer, record, keep) -> list[np.ndarray]:
    """The old layer's weights cut to the kept channels."""
    weights = layer.get_weights()
    cls = type(layer).__name__
    if record.handler == "bn":
        idx = _kept(keep, record.inputs[0])
        return [w[idx] for w in weights]
    if record.handler == "depthwise":
        idx = _kept(keep, record.inputs[0])
        return [np.take(weights[0], idx, axis=-2)] + [w[idx] for w in weights[1:]]
    if record.handler == "producer":
        i_idx, o_idx = _kept(keep, record.inputs[0]), _kept(keep, record.output)
        if cls.startswith("Separable"):
            dm = layer.depth_multiplier
            rows = (i_idx[:, None] * dm + np.arange(dm)[None, :]).ravel()
            depthwise = np.take(weights[0], i_idx, axis=-2)
            pointwise = np.take(np.take(weights[1], rows, axis=-2), o_idx, axis=-1)
            return [depthwise, pointwise] + [w[o_idx] for w in weights[2:]]
        in_axis, out_axis = (-1, -2) if cls == "Conv2DTranspose" else (-2, -1)
        kernel = np.take(np.take(weights[0], i_idx, axis=in_axis), o_idx, axis=out_axis)
        return [kernel] + [w[o_idx] for w in weights[1:]]
    raise StructureError(f"Layer '{layer.name}' has no weight slicing rule.")  # pragma: no cover


def _attention_pairs(old, new, record, keep) -> list[tuple]:
    """(new variable, value) pairs of a MultiHeadAttention with the kept heads and channels."""
    heads = _kept(keep, record.heads)
    q_idx, v_idx, k_idx = (_kept(keep, v) for v in record.inputs)
    o_idx = _kept(keep, record.output)
    pairs = []
    for name, idx in (("_query_dense", q_idx), ("_key_dense", k_idx), ("_value_dense", v_idx)):
        w = getattr(old, name).get_weights()  # kernel (in, heads, dim), bias (heads, dim)
        values = [w[0][idx][:, heads]] + [b[heads] for b in w[1:]]
        pairs.extend(zip(getattr(new, name).weights, values))
    w = old._output_dense.get_weights()  # kernel (heads, dim, out), bias (out,)
    values = [w[0][heads][..., o_idx]] + [b[o_idx] for b in w[1:]]
    pairs.extend(zip(new._output_dense.weights, values))
    return pairs


#: built-in layers whose ``compute_output_shape`` is exact, so the rebuild can skip tracing them
_SHAPE_ONLY = {
    "Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "Dense", "DepthwiseConv2D", "SeparableConv1D",
    "SeparableConv2D", "BatchNormalization", "ReLU", "Activation", "LeakyReLU", "ELU", "Dropout",
    "SpatialDropout1D", "SpatialDropout2D", "ZeroPadding1D", "ZeroPadding2D", "Cropping1D", "Cropping2D",
    "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D", "GlobalAveragePooling1D",
    "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "Add", "Subtract", "Multiply",
    "Average", "Maximum", "Minimum", "Concatenate", "Flatten", "Reshape", "UpSampling2D",
}


def _rebuild(model, config: dict, old_layers: dict):
    """A new model from ``config``, with every layer made from the class of the old layer.

    Keras' own ``from_config`` traces every layer's ``call`` in a scratch graph to learn its
    output shape; on MobileNetV2 that is most of the time. Here the built-in layers listed in
    ``_SHAPE_ONLY`` give their output shape from ``compute_output_shape`` instead (tf-keras'
    path for layers flagged dynamic, switched on only while the graph is wired), and are built
    afterwards with the input shapes the wiring found. Other layers are traced as usual.
    """
    from tf_keras.src.engine import functional

    created = {}
    for entry in config["layers"]:
        if entry["class_name"] == "InputLayer":  # a Sequential does not list its input layer
            cls = keras.layers.InputLayer
        else:
            cls = type(old_layers[entry["config"]["name"]])  # already loaded: no lookup
        layer = cls.from_config(entry["config"])
        created[layer.name] = layer
    fast = [layer for layer in created.values()
            if type(layer).__name__ in _SHAPE_ONLY and _is_builtin(layer) and not layer._dynamic]
    for layer in fast:
        layer._dynamic = True
    try:
        if isinstance(model, keras.Sequential):
            new = keras.Sequential(name=config.get("name"))
            for entry in config["layers"]:
                new.add(created[entry["config"]["name"]])
        else:
            inputs, outputs, created = functional.reconstruct_from_config(config, None, created)
            new = keras.Model(inputs=inputs, outputs=outputs, name=config.get("name"))
            functional.connect_ancillary_layers(new, created)
    finally:
        for layer in fast:
            layer._dynamic = False
    for layer in fast:
        if not layer.built and layer.inbound_nodes:
            layer._maybe_build(layer.inbound_nodes[0].input_tensors)
    return new


def _is_builtin(layer) -> bool:
    return type(layer).__module__.startswith("tf_keras.")


def shrink(model, graph: ChannelGraph | None = None, selection: dict | None = None):
    """A new model holding only the kept channels of ``model`` (``model`` is left unchanged).

    The model is rebuilt once from its edited config and every weight is written in one batch,
    so MobileNetV2 shrinks in about a second.

    Args:
        model: a functional or sequential tf-keras model.
        graph: :func:`~prune_studio.structured.groups.analyze` of ``model`` (made when ``None``).
        selection: group name -> kept channel indices; groups not named stay whole.

    Raises:
        StructureError: a group that cannot be thinned, bad indices, or a model that cannot be rebuilt.
    """
    graph = graph if graph is not None else analyze(model)
    keep = graph.keep_nodes(selection)
    old_layers = {layer.name: layer for layer in model.layers}  # get_layer walks the model each call
    config = copy.deepcopy(model.get_config())
    for entry in _layer_configs(config):
        cfg = entry["config"]
        entry.pop("build_config", None)  # the old widths; layers are built anew when called
        for key in _INITIALIZERS:
            if isinstance(cfg.get(key), dict):  # every weight is overwritten: skip random draws
                cfg[key] = {"class_name": "Zeros", "config": {}}
        record = graph.records.get(cfg["name"])
        if record is not None:
            _new_width(entry["class_name"], cfg, record, keep, old_layers[cfg["name"]])
    try:
        new = _rebuild(model, config, old_layers)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise StructureError(
            f"The thinner copy of model '{model.name}' could not be built ({str(exc).splitlines()[0][:160]})."
        ) from exc
    pairs = []
    for layer in new.layers:
        old = old_layers[layer.name]
        for key in _INITIALIZERS:  # the copy re-initialises like the original would
            if hasattr(old, key) and hasattr(layer, key):
                setattr(layer, key, getattr(old, key))
        record = graph.records.get(layer.name)
        if record is not None and record.handler == "mha":
            pairs.extend(_attention_pairs(old, layer, record, keep))
            continue
        if not old.weights:
            continue
        if record is not None and record.handler in ("bn", "depthwise", "producer"):
            values = _slice_weights(old, record, keep)
        else:
            values = old.get_weights()
        if len(values) != len(layer.weights):  # pragma: no cover - a layer that builds differently
            raise StructureError(f"Layer '{layer.name}' of the thinner copy has a different set of weights.")
        pairs.extend(zip(layer.weights, values))
    keras.backend.batch_set_value(pairs)
    return new

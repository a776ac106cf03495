"""Parameters and FLOPs of a model, as it is or with some channel groups thinned.

FLOPs count two per multiply-accumulate of the convolutions, Dense layers and attention
(element-wise layers, pooling and BatchNormalization, which TFLite folds, are not counted).
Parameters count every weight, trainable or not. The projection for a selection is computed
from the channel graph without building the smaller model, so a search can try many.

Example::

    graph = analyze(model)
    before = model_cost(graph)
    after = model_cost(graph, {"conv1": [0, 1, 2, 3]})
    print(f"FLOPs -{1 - after.flops / before.flops:.0%}")
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prune_studio.structured.groups import ChannelGraph


@dataclass
class Cost:
    """Parameters and FLOPs (2 per multiply-accumulate) for one image/sample."""

    params: int
    flops: int

    def to_dict(self) -> dict:
        return {"params": int(self.params), "flops": int(self.flops)}


def _prod(dims) -> int:
    return int(np.prod([d for d in dims if d is not None])) if len(dims) else 1


class CostModel:
    """Precomputed per-layer terms; :meth:`cost` evaluates them for a keep mask of nodes."""

    def __init__(self, graph: ChannelGraph):
        self.graph = graph
        self.terms = []  # (fn(keep) -> (params, macs))
        self.constant = 0
        model = graph.model
        for layer in model.layers:
            record = graph.records.get(layer.name)
            term = _term(layer, record, graph.shapes.get(layer.name)) if record is not None else None
            if term is None:
                self.constant += int(sum(int(np.prod(w.shape)) for w in layer.weights))
            else:
                self.terms.append(term)

    def cost(self, keep: np.ndarray | None = None) -> Cost:
        if keep is None:
            keep = np.ones(len(self.graph.parent), dtype=bool)
        params, macs = self.constant, 0
        for term in self.terms:
            p, m = term(keep)
            params += p
            macs += m
        return Cost(int(params), int(2 * macs))


def _term(layer, record, shapes):
    cls = type(layer).__name__
    (in_shapes, out_shapes) = shapes or ([()], [()])
    out_shape = out_shapes[0] if out_shapes else ()
    nw = len(layer.weights)
    if record.handler == "bn":
        v = record.inputs[0]
        return lambda keep: (nw * int(keep[v].sum()), 0)
    if record.handler == "depthwise":
        v = record.inputs[0]
        k = _prod(layer.kernel_size)
        bias = 1 if layer.use_bias else 0
        spatial = _prod(out_shape[1:-1])
        return lambda keep: ((k + bias) * int(keep[v].sum()), k * int(keep[v].sum()) * spatial)
    if record.handler == "producer":
        vin, vout = record.inputs[0], record.output
        bias = 1 if getattr(layer, "use_bias", False) else 0
        if cls == "Dense":
            k, spatial = 1, _prod(out_shape[1:-1])
        elif cls == "Conv2DTranspose":
            k, spatial = _prod(layer.kernel_size), _prod(in_shapes[0][1:-1])
        else:
            k, spatial = _prod(layer.kernel_size), _prod(out_shape[1:-1])
        if cls.startswith("Separable"):
            dm = layer.depth_multiplier

            def separable(keep):
                cin, cout = int(keep[vin].sum()), int(keep[vout].sum())
                per = k * cin * dm + cin * dm * cout
                return per + bias * cout, per * spatial

            return separable

        def dense_or_conv(keep):
            cin, cout = int(keep[vin].sum()), int(keep[vout].sum())
            return k * cin * cout + bias * cout, k * cin * cout * spatial

        return dense_or_conv
    if record.handler == "mha":
        vq, vv, vk = record.inputs
        heads, vout = record.heads, record.output
        kd, vd = layer._key_dim, layer._value_dim or layer._key_dim
        bias = 1 if layer._use_bias else 0
        tq = _prod(in_shapes[0][1:-1]) if in_shapes else 1
        tv = _prod(in_shapes[1][1:-1]) if len(in_shapes) > 1 else tq

        def attention(keep):
            h = int(keep[heads].sum())
            dq, dv, dk, do = (int(keep[x].sum()) for x in (vq, vv, vk, vout))
            params = (dq * h * kd + dk * h * kd + dv * h * vd + h * vd * do
                      + bias * (2 * h * kd + h * vd + do))
            macs = (tq * dq * h * kd + tv * dk * h * kd + tv * dv * h * vd
                    + tq * tv * h * (kd + vd) + tq * h * vd * do)
            return params, macs

        return attention
    return None


def model_cost(graph: ChannelGraph, selection: dict | None = None) -> Cost:
    """Parameters and FLOPs of ``graph.model`` with ``selection`` (group -> kept channels) applied."""
    return CostModel(graph).cost(graph.keep_nodes(selection))


def keras_cost(model) -> Cost:
    """Parameters and FLOPs of any functional or sequential model (FLOPs 0 for layers it cannot follow)."""
    from prune_studio.structured.groups import analyze

    return model_cost(analyze(model))

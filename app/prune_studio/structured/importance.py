"""How much each channel matters, and which channels to keep.

Criteria (summed over every layer of a group, so a residual channel counts all its producers):

- ``"l1"``: sum of absolute weights of the filter (or Dense column) that makes the channel;
- ``"l2"``: Euclidean norm of the same weights;
- ``"bn_scale"``: absolute BatchNormalization scale (gamma) of the channel; groups with no
  BatchNormalization fall back to ``"l1"``.

Selection: :func:`select_uniform` keeps the same share of every group (or a share per group);
:func:`select_global` removes the least important channels across the whole model, each score
divided by its group's mean so groups compare, until the parameters or FLOPs fall by the target
share. Kept counts are rounded to a multiple (8 by default), which XNNPack's kernels handle fast.

Example::

    scores = channel_importance(graph, "l1")
    selection = select_global(graph, scores, reduction=0.5, metric="flops")
    small = shrink(model, graph, selection)
"""

from __future__ import annotations

import math

import numpy as np

from prune_studio.structured.cost import CostModel
from prune_studio.structured.groups import ChannelGraph, StructureError

CRITERIA = ("l1", "l2", "bn_scale")
METRICS = ("flops", "params")


def _norm(w: np.ndarray, axis: int, criterion: str) -> np.ndarray:
    """Per-index norm of ``w`` along ``axis`` (all other axes reduced)."""
    w = np.moveaxis(np.asarray(w, dtype=np.float64), axis, 0).reshape(w.shape[axis], -1)
    return np.abs(w).sum(axis=1) if criterion == "l1" else (w * w).sum(axis=1)


def channel_importance(graph: ChannelGraph, criterion: str = "l1") -> dict[str, np.ndarray]:
    """Group name -> one score per channel (higher = more important).

    Raises:
        StructureError: an unknown criterion.
    """
    if criterion not in CRITERIA:
        raise StructureError(f"Importance criterion '{criterion}' is not known; use one of {', '.join(CRITERIA)}.")
    root_of = graph.root_of
    weight_score = np.zeros(len(graph.parent))
    bn_score = np.zeros(len(graph.parent))
    has_bn = np.zeros(len(graph.parent), dtype=bool)
    base = "l2" if criterion == "l2" else "l1"
    layers = {layer.name: layer for layer in graph.model.layers}
    for record in graph.records.values():
        layer = layers[record.name]
        if record.handler == "producer":
            cls = type(layer).__name__
            kernel = layer.pointwise_kernel if cls.startswith("Separable") else layer.kernel
            axis = -2 if cls == "Conv2DTranspose" else -1
            np.add.at(weight_score, root_of[record.output], _norm(kernel.numpy(), axis % kernel.shape.rank, base))
        elif record.handler == "bn" and layer.scale:
            roots = root_of[record.inputs[0]]
            np.add.at(bn_score, roots, np.abs(layer.gamma.numpy()))
            has_bn[roots] = True
        elif record.handler == "mha":
            out = layer._output_dense.kernel.numpy()  # (heads, value_dim, out)
            np.add.at(weight_score, root_of[record.output], _norm(out, 2, base))
            head = _norm(out, 0, base)
            for dense in (layer._query_dense, layer._key_dense, layer._value_dense):
                head = head + _norm(dense.kernel.numpy(), 1, base)
            np.add.at(weight_score, root_of[record.heads], head)
    if base == "l2":
        weight_score = np.sqrt(weight_score)
    scores = {}
    for group in graph.groups:
        roots = group.nodes
        if criterion == "bn_scale" and has_bn[roots].all():
            scores[group.name] = bn_score[roots].copy()
        else:
            scores[group.name] = weight_score[roots].copy()
    return scores


def round_keep(n: int, ratio: float, multiple: int = 8) -> int:
    """Channels to keep of ``n`` at ``ratio``, rounded to a multiple (at least one multiple, at most n)."""
    if not 0 < ratio <= 1:
        raise StructureError(f"A keep ratio must be above 0 and at most 1, got {ratio!r}.")
    multiple = max(1, int(multiple))
    want = ratio * n
    k = max(multiple, int(round(want / multiple)) * multiple)
    return int(min(n, k))


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    # stable: among equal scores the earlier channel stays
    order = np.argsort(-scores, kind="stable")
    return np.sort(order[:k])


def select_uniform(graph: ChannelGraph, scores: dict[str, np.ndarray], keep_ratio: float = 0.5,
                   per_group: dict[str, float] | None = None, round_to: int = 8) -> dict[str, np.ndarray]:
    """Keep the ``keep_ratio`` most important channels of every prunable group.

    ``per_group`` (group name -> ratio) overrides the ratio for some groups; a ratio of 1 leaves a
    group whole. Returns group name -> sorted kept channel indices (groups left whole are absent).
    """
    per_group = dict(per_group or {})
    for name in per_group:
        group = graph.group(name)
        if not group.prunable and per_group[name] < 1:
            raise StructureError(f"Channels of group '{name}' cannot be removed: {group.reason}")
    selection = {}
    for group in graph.prunable_groups():
        ratio = per_group.get(group.name, keep_ratio)
        k = round_keep(group.size, ratio, round_to)
        if k < group.size:
            selection[group.name] = _top(scores[group.name], k)
    return selection


def select_global(graph: ChannelGraph, scores: dict[str, np.ndarray], reduction: float = 0.5,
                  metric: str = "flops", round_to: int = 8, min_keep_ratio: float = 0.1,
                  per_group: dict[str, float] | None = None) -> dict[str, np.ndarray]:
    """Remove the least important channels across the model until ``metric`` falls by ``reduction``.

    Scores are divided by their group's mean, so a channel is judged against its neighbours. Each
    group keeps at least ``min_keep_ratio`` of its channels (rounded as above); groups named in
    ``per_group`` get that keep ratio instead of taking part in the search. When the target
    cannot be reached, the smallest model the limits allow is returned.
    """
    if metric not in METRICS:
        raise StructureError(f"The global target metric '{metric}' is not known; use flops or params.")
    if not 0 < reduction < 1:
        raise StructureError(f"The reduction to reach must be above 0 and below 1, got {reduction!r}.")
    fixed = select_uniform(graph, scores, 1.0, per_group, round_to) if per_group else {}
    groups = [g for g in graph.prunable_groups() if g.name not in (per_group or {})]
    normed = {}
    for g in groups:
        s = scores[g.name]
        mean = float(s.mean())
        normed[g.name] = s / mean if mean > 0 else np.zeros_like(s)
    model = CostModel(graph)
    full = getattr(model.cost(), metric)

    def at(threshold: float) -> dict[str, np.ndarray]:
        selection = dict(fixed)
        for g in groups:
            count = int((normed[g.name] >= threshold).sum())
            floor = round_keep(g.size, min_keep_ratio, round_to)
            k = max(floor, min(g.size, int(math.ceil(count / max(1, round_to))) * max(1, round_to)))
            if k < g.size:
                selection[g.name] = _top(scores[g.name], k)
        return selection

    def reduced(selection) -> float:
        return 1 - getattr(model.cost(graph.keep_nodes(selection)), metric) / full if full else 0.0

    hi = max([float(v.max()) for v in normed.values()] + [0.0]) + 1.0
    if reduced(at(hi)) < reduction:
        return at(hi)
    lo = 0.0
    for _ in range(40):
        mid = (lo + hi) / 2
        if reduced(at(mid)) >= reduction:
            hi = mid
        else:
            lo = mid
    return at(hi)

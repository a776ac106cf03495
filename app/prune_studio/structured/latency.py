"""Measured latency: time float32 TFLite files with LiteRT and search the channel cut that meets a target.

FLOPs predict speed badly on CPUs (depthwise convolutions are memory-bound, small layers cost
their fixed overhead), so the global mode can aim at measured latency instead: candidates are
made by removing the least important channels to a FLOPs cut (:func:`select_global`), converted
to float32 TFLite, and timed with the LiteRT interpreter (XNNPack, one thread, batch 1, median of
the invocations after a warm-up), the opened model timed in alternating rounds beside each
candidate so both see the same machine load. A bisection on the FLOPs cut keeps the smallest cut
whose measured latency meets the target (at most ``max_trials`` conversions).

Example::

    graph = analyze(model)
    search = latency_search(graph, channel_importance(graph), reduction=0.5)
    print(search.baseline_ms, search.ms, search.met)   # e.g. 0.36, 0.17, True
    small = shrink(model, graph, search.selection)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from prune_studio.structured.groups import ChannelGraph, StructureError


def tflite_float32(model) -> bytes:
    """The model as a float32 TFLite flatbuffer (the app's own converter)."""
    from prune_studio.export.tflite import convert

    return convert(model, "float32")


class _Timed:
    """One flatbuffer loaded in a LiteRT interpreter with a fixed random input."""

    def __init__(self, content: bytes, threads: int = 1, seed: int = 0):
        from ai_edge_litert.interpreter import Interpreter

        self.interp = Interpreter(model_content=content, num_threads=threads)
        self.interp.allocate_tensors()
        rng = np.random.default_rng(seed)
        for detail in self.interp.get_input_details():
            shape = [1 if d < 1 else int(d) for d in detail["shape"]]
            dtype = detail["dtype"]
            if np.issubdtype(dtype, np.integer):
                value = rng.integers(0, 2, shape).astype(dtype)
            else:
                value = rng.uniform(0, 1, shape).astype(dtype)
            self.interp.set_tensor(detail["index"], value)

    def run(self, n: int) -> list[float]:
        out = []
        for _ in range(n):
            start = time.perf_counter()
            self.interp.invoke()
            out.append(time.perf_counter() - start)
        return out


def measure_latencies(contents: dict[str, bytes], runs: int = 120, warmup: int = 15, rounds: int = 4,
                      threads: int = 1) -> dict[str, float]:
    """Median milliseconds per invocation of each flatbuffer, measured in alternating rounds."""
    timed = {name: _Timed(content, threads) for name, content in contents.items()}
    for t in timed.values():
        t.run(warmup)
    samples: dict[str, list[float]] = {name: [] for name in contents}
    per_round = max(1, runs // max(1, rounds))
    for _ in range(max(1, rounds)):
        for name, t in timed.items():
            samples[name].extend(t.run(per_round))
    return {name: 1000.0 * float(np.median(s)) for name, s in samples.items()}


def model_latency_ms(model, runs: int = 120, warmup: int = 15) -> float:
    """Median ms per sample of ``model`` as float32 TFLite (LiteRT, XNNPack, 1 thread, batch 1)."""
    return measure_latencies({"model": tflite_float32(model)}, runs, warmup)["model"]


@dataclass
class LatencySearch:
    """The outcome of :func:`latency_search`.

    Attributes:
        selection: group name -> kept channels of the chosen candidate.
        baseline_ms: the opened model's latency, measured beside the chosen candidate.
        ms: the chosen candidate's latency.
        target_ms: what it had to reach.
        met: whether ``ms <= target_ms``.
        flops_reduction: the FLOPs cut of the chosen candidate.
        trials: every candidate tried: ``{"flops_reduction", "ms", "baseline_ms", "met"}``.
    """

    selection: dict
    baseline_ms: float
    ms: float
    target_ms: float
    met: bool
    flops_reduction: float
    trials: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"baseline_ms": self.baseline_ms, "ms": self.ms, "target_ms": self.target_ms,
                "met": self.met, "speed_up": self.baseline_ms / self.ms if self.ms else None,
                "flops_reduction": self.flops_reduction, "trials": [dict(t) for t in self.trials]}


def latency_search(graph: ChannelGraph, scores: dict[str, np.ndarray], reduction: float | None = None,
                   target_ms: float | None = None, round_to: int = 8, min_keep_ratio: float = 0.1,
                   per_group: dict[str, float] | None = None, max_trials: int = 7,
                   reference_tflite: bytes | None = None, runs: int = 120,
                   progress: Callable[[str], None] | None = None) -> LatencySearch:
    """The smallest FLOPs cut whose measured float32 TFLite latency meets the target.

    Give exactly one of ``reduction`` (share of the opened model's latency to remove: 0.5 = twice
    as fast, judged as a ratio measured side by side, so machine load cancels out) or
    ``target_ms`` (milliseconds per sample on this machine). ``reference_tflite`` is the float32
    flatbuffer of the model the reduction counts from when ``graph`` is an already-thinned
    model (gradual rounds: the model as opened); by default ``graph.model``. Channels are chosen
    by :func:`~prune_studio.structured.importance.select_global` on FLOPs; ``per_group`` and
    ``min_keep_ratio`` as there. When no candidate meets the target, the largest cut tried is
    returned with ``met=False``.

    Raises:
        StructureError: neither or both targets, or values out of range.
    """
    from prune_studio.structured.cost import CostModel
    from prune_studio.structured.importance import select_global
    from prune_studio.structured.surgery import shrink

    if (reduction is None) == (target_ms is None):
        raise StructureError("Give a latency target either as a share to remove or in milliseconds, not both or neither.")
    if reduction is not None and not 0 < reduction < 1:
        raise StructureError(f"The latency reduction must be above 0 and below 1 (0.5 = twice as fast), got {reduction!r}.")
    if target_ms is not None and not target_ms > 0:
        raise StructureError(f"The latency target must be a positive number of milliseconds, got {target_ms!r}.")
    say = progress or (lambda message: None)
    model = graph.model
    dense = reference_tflite if reference_tflite is not None else tflite_float32(model)
    cost = CostModel(graph)
    full = cost.cost().flops

    def candidate(cut: float) -> tuple[dict, float]:
        selection = select_global(graph, scores, cut, "flops", round_to, min_keep_ratio, per_group)
        return selection, 1 - cost.cost(graph.keep_nodes(selection)).flops / full if full else 0.0

    def goal(base_ms: float) -> float:
        return float(target_ms) if target_ms is not None else base_ms * (1 - reduction)

    trials: list[dict] = []
    best: tuple | None = None  # (flops cut, selection, ms, base_ms) of the smallest cut that met
    largest: tuple | None = None
    lo, hi = 0.0, 0.95
    cut = min(0.9, reduction) if reduction is not None else 0.5
    for _ in range(max(1, max_trials)):
        selection, achieved = candidate(cut)
        small = shrink(model, graph, selection)
        ms = measure_latencies({"base": dense, "candidate": tflite_float32(small)}, runs=runs)
        met = ms["candidate"] <= goal(ms["base"])
        trials.append({"flops_reduction": achieved, "ms": ms["candidate"], "baseline_ms": ms["base"], "met": met})
        say(f"Channels for {goal(ms['base']):.3f} ms: FLOPs -{achieved:.0%} runs in {ms['candidate']:.3f} ms "
            f"(the opened model {ms['base']:.3f} ms).")
        entry = (achieved, selection, ms["candidate"], ms["base"])
        if largest is None or achieved > largest[0]:
            largest = entry
        if met:
            hi = cut
            if best is None or achieved < best[0]:
                best = entry
        else:
            lo = cut
        if hi - lo < 0.02:
            break
        cut = (lo + hi) / 2
    chosen = best if best is not None else largest
    achieved, selection, ms, base = chosen
    return LatencySearch(selection, base, ms, goal(base), best is not None, achieved, trials)

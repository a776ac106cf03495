"""Per-group channel sensitivity: how much accuracy each channel group loses when thinned.

The structured twin of :mod:`prune_studio.scan.sensitivity`. For every prunable channel group
(``prune_studio.structured.analyze``), or the chosen ones, that group alone keeps each ratio of
its most important channels in turn (rounded to a multiple, as the shrink will), the model is
physically shrunk (surgery on a copy; the opened model is never touched), its BatchNormalization
statistics are re-estimated on training examples (the layers after a thinned one see other
inputs), and it is measured on a bounded sample of the test data, without fine-tuning.

:meth:`ChannelScanResult.suggest_keep_ratios` turns the curves into per-group keep ratios under a
``max_drop``; :func:`checked_keep_ratios` then thins every group at once and backs off the
costliest until the joint drop is within ``max_drop`` (per-group drops do not add up on deep
networks). The ratios go into ``StructuredSettings(mode="uniform", keep_ratio=1.0, groups=...)``.

Example::

    result = channel_scan(model, dataset, keep_ratios=(0.5, 0.25))
    result.curves["block_3_expand"]   # [(1.0, 0.96), (0.5, 0.95), (0.25, 0.81)]
    ratios, drop = checked_keep_ratios(model, dataset, result, max_drop=0.02)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from prune_studio.scan.channel_result import DEFAULT_KEEP_RATIOS, ChannelScanResult
from prune_studio.scan.sensitivity import BATCHNORM_SAMPLES, ScanError, _metric_for, point_measure

_BATCH = 128

Progress = Callable[[float, str], None]


def _graph(model):
    from prune_studio.structured import StructureError, analyze

    try:
        graph = analyze(model)
    except StructureError as exc:
        raise ScanError(str(exc)) from exc
    if not graph.prunable_groups():
        raise ScanError(f"The model '{model.name}' has no channel group that can be thinned, so there is nothing to scan.")
    return graph


def _check_ratios(keep_ratios: Sequence[float]) -> list[float]:
    ratios = sorted({round(float(r), 6) for r in keep_ratios}, reverse=True)
    bad = [r for r in ratios if not 0.0 < r < 1.0]
    if bad or not ratios:
        raise ScanError(f"keep ratios must be fractions above 0 and below 1 (0.5 keeps half), not {bad[0] if bad else 'none'}.")
    return ratios


def _check_groups(groups: Sequence[str] | None, graph) -> list[str]:
    names = [g.name for g in graph.prunable_groups()]
    if groups is None:
        return names
    unknown = [g for g in groups if g not in names]
    if unknown:
        raise ScanError(f"groups: '{unknown[0]}' is not a channel group that can be thinned; "
                        f"valid names are {', '.join(names)}.")
    return list(dict.fromkeys(groups))


class _Shrunk:
    """Scores thinned copies of one model on a fixed sample, BatchNorm re-estimated first."""

    def __init__(self, model, dataset, graph, scores, round_to: int, x, y, score, reestimate: bool):
        from prune_studio.training import batchnorm

        self.model, self.graph, self.scores, self.round_to = model, graph, scores, int(round_to)
        self.x, self.y, self.score = x, y, score
        self.batchnorm = batchnorm
        self.sample = (batchnorm.training_sample(dataset, BATCHNORM_SAMPLES)
                       if reestimate and batchnorm.has_batchnorm(model) else None)

    def selection(self, ratios: dict[str, float]) -> dict:
        from prune_studio.structured import select_uniform

        return select_uniform(self.graph, self.scores, 1.0, ratios, self.round_to)

    def measure(self, selection: dict) -> float:
        from prune_studio.structured import shrink

        small = shrink(self.model, self.graph, selection)
        if self.sample is not None:
            self.batchnorm.reestimate_batchnorm(small, self.sample)
        outputs = [np.asarray(small(self.x[i:i + _BATCH], training=False)) for i in range(0, len(self.x), _BATCH)]
        return self.score(np.concatenate(outputs), self.y)


def _describe(metric_name: str, value: float) -> str:
    return f"{metric_name} {value:.1%}" if metric_name == "accuracy" else f"{metric_name} {value:.4g}"


def channel_scan(model, dataset: Any, groups: Sequence[str] | None = None,
                 keep_ratios: Sequence[float] = DEFAULT_KEEP_RATIOS, round_to: int = 8, criterion: str = "l1",
                 max_samples: int = 512, progress: Progress | None = None, control: Any = None,
                 split: str = "test", reestimate_batchnorm: bool = True) -> ChannelScanResult:
    """Measure the model with one channel group at a time thinned to each keep ratio.

    Args:
        model: a functional or sequential tf-keras model (left unchanged: each point is a copy).
        dataset: a :class:`prune_studio.data.Dataset`.
        groups: names of the groups to scan (``analyze(model).groups``); every prunable group
            when None.
        keep_ratios: shares of a group's channels to keep, each above 0 and below 1.
        round_to: kept counts are multiples of this, as the shrink makes them (ratios that
            round to the whole group are skipped; equal rounded ratios are measured once).
        criterion: which channels stay (``"l1"``, ``"l2"``, ``"bn_scale"``).
        max_samples: test examples per measurement.
        progress: ``progress(fraction, text)`` after each measurement.
        control: an object whose ``stopped`` is checked between measurements; a stopped scan
            returns what it measured with ``stopped=True``.
        split: ``"test"`` or ``"train"``.
        reestimate_batchnorm: re-estimate BatchNormalization statistics at every point (and
            for the baseline) on 256 training examples.

    Raises:
        ScanError: bad ratios, unknown groups, a model the channel analysis cannot follow, or
            an output the scan cannot score.
    """
    from prune_studio.structured import StructureError, channel_importance, model_cost
    from prune_studio.structured.fragile import fragile_groups

    ratios = _check_ratios(keep_ratios)
    if int(max_samples) < 1:
        raise ScanError(f"max_samples must be at least 1, not {max_samples}.")
    graph = _graph(model)
    names = _check_groups(groups, graph)
    try:
        scores = channel_importance(graph, criterion)
    except StructureError as exc:
        raise ScanError(str(exc)) from exc
    x, y = dataset.sample(int(max_samples), split=split)
    if len(x) == 0:
        raise ScanError("The data has no test examples to measure the model on; give data with a test part.")
    metric_name, higher_is_better, score = _metric_for(model, y)
    report = progress or (lambda fraction, text: None)
    baseline = point_measure(model, dataset, x, y, score, reestimate_batchnorm)()
    full = model_cost(graph).flops
    result = ChannelScanResult(metric_name, baseline, {}, {g.name: g.size for g in graph.prunable_groups()}, {},
                               fragile_groups(graph), higher_is_better, len(x))
    report(0.0, f"Original model: {_describe(metric_name, baseline)}")
    shrunk = _Shrunk(model, dataset, graph, scores, round_to, x, y, score, reestimate_batchnorm)
    steps, done = max(1, len(names) * len(ratios)), 0
    for name in names:
        size = graph.group(name).size
        curve, cut, seen = [(1.0, baseline)], [(1.0, 0.0)], set()
        result.curves[name], result.flops[name] = curve, cut  # a stopped scan keeps what it measured
        for ratio in ratios:
            if control is not None and control.stopped:
                result.stopped = True
                return result
            selection = shrunk.selection({name: ratio})
            done += 1
            kept = len(selection.get(name, range(size)))
            if kept >= size or kept in seen:
                continue
            seen.add(kept)
            value = shrunk.measure(selection)
            actual = kept / size
            curve.append((actual, value))
            cut.append((actual, 1 - model_cost(graph, selection).flops / full if full else 0.0))
            report(done / steps, f"Group {name} keeping {kept} of {size} channels: {_describe(metric_name, value)}")
    return result


def checked_keep_ratios(model, dataset: Any, result: ChannelScanResult, max_drop: float, round_to: int = 8,
                        criterion: str = "l1", max_samples: int = 512, split: str = "test",
                        reestimate_batchnorm: bool = True, max_checks: int | None = None,
                        progress: Callable[[str], None] | None = None) -> tuple[dict[str, float], float]:
    """Per-group keep ratios that, applied all at once, lose at most ``max_drop``; and that drop.

    Starts from :meth:`ChannelScanResult.suggest_keep_ratios` and measures every group thinned
    together (surgery on a copy, BatchNorm re-estimated, no fine-tuning). While the joint drop
    exceeds ``max_drop``, the group whose own drop at its ratio is largest goes back to its next
    milder scanned ratio (or whole). ``max_checks`` bounds the measurements (default: one per
    scanned point). Returns ``({}, 0.0)`` when no group can be thinned within the limit; when
    the checks run out first, the last ratios tried and their drop (above ``max_drop``).
    """
    from prune_studio.structured import channel_importance

    if not max_drop >= 0:
        raise ScanError(f"max_drop must be 0 or more (0.01 = one accuracy point), not {max_drop!r}.")
    graph = _graph(model)
    ratios = result.suggest_keep_ratios(max_drop)
    if not ratios:
        return {}, 0.0
    x, y = dataset.sample(int(max_samples), split=split)
    _, _, score = _metric_for(model, y)
    baseline = point_measure(model, dataset, x, y, score, reestimate_batchnorm)()
    shrunk = _Shrunk(model, dataset, graph, channel_importance(graph, criterion), round_to, x, y, score,
                     reestimate_batchnorm)
    say = progress or (lambda text: None)
    budget = max_checks if max_checks is not None else sum(len(c) for c in result.curves.values())
    drop = float("inf")
    for _ in range(max(1, budget)):
        value = shrunk.measure(shrunk.selection(ratios))
        drop = baseline - value if result.higher_is_better else value - baseline
        say(f"{len(ratios)} groups thinned together: {_describe(result.metric_name, value)} "
            f"(drop {drop:.4g}, allowed {max_drop:.4g}).")
        if drop <= max_drop:
            return ratios, float(drop)
        worst = max(ratios, key=lambda g: result.drop(dict(result.curves[g]).get(ratios[g], result.baseline)))
        milder = [r for r, _ in result.curves[worst] if ratios[worst] < r < 1.0]
        if milder:
            ratios[worst] = min(milder)
        else:
            del ratios[worst]
        if not ratios:
            return {}, 0.0
    return ratios, float(drop)

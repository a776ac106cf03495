"""Shrink a model as :class:`StructuredSettings` say, at once or in rounds with fine-tuning between.

Fine-tuning uses the app's own training machinery (``prune_studio.training.fine_tune`` with a
plan that prunes nothing, or the recipe's magnitude plan in the last round), so the window's live
charts, stop and pause, and the CLI's progress work unchanged.

Example::

    result = structured_fine_tune(model, dataset, StructuredSettings(reduction=0.6, rounds=3),
                                  TrainingSettings(epochs=2))
    result.model.save("small.keras")
    print(result.to_dict()["flops_reduction"])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prune_studio.structured.cost import Cost, CostModel
from prune_studio.structured.groups import ChannelGraph, StructureError, analyze
from prune_studio.structured.importance import channel_importance, select_global, select_uniform
from prune_studio.structured.settings import StructuredSettings
from prune_studio.structured.surgery import shrink


@dataclass
class ShrinkResult:
    """One or more rounds of channel removal.

    Attributes:
        model: the smaller model (after the last round's fine-tuning, when there was one).
        before: parameters and FLOPs of the model as given.
        after: of ``model``.
        groups: group name -> ``{"size": original channels, "kept": channels now}``.
        skipped: layers the analysis could not follow, with the reason (their channels stay).
        rounds: per round ``{"params", "flops", "metrics_before_tuning", "metrics"}``.
        fine_tune: the last round's ``FineTuneResult`` (``None`` without fine-tuning).
        layer_sizes: layer name -> ``(output shape, parameters)`` of ``model`` (see :func:`layer_sizes`).
    """

    model: Any
    before: Cost
    after: Cost
    groups: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    rounds: list[dict] = field(default_factory=list)
    fine_tune: Any = None
    stopped: bool = False
    baseline: dict = field(default_factory=dict)
    layer_sizes: dict[str, tuple] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able part: costs, reductions, groups, rounds."""
        return {
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            "flops_reduction": 1 - self.after.flops / self.before.flops if self.before.flops else 0.0,
            "params_reduction": 1 - self.after.params / self.before.params if self.before.params else 0.0,
            "groups": {k: dict(v) for k, v in self.groups.items()},
            "skipped": dict(self.skipped),
            "rounds": [dict(r) for r in self.rounds],
            "stopped": self.stopped,
            "baseline": dict(self.baseline),
        }


    @classmethod
    def from_dict(cls, data: dict[str, Any], model: Any = None, fine_tune: Any = None,
                  sizes: dict[str, Any] | None = None) -> "ShrinkResult":
        """A result from :meth:`to_dict` (the window's training child sends it so), with the models
        and ``layer_sizes`` given apart (``sizes`` as JSON gives them: shapes as lists)."""
        return cls(model, Cost(**data["before"]), Cost(**data["after"]),
                   {k: dict(v) for k, v in data.get("groups", {}).items()}, dict(data.get("skipped", {})),
                   [dict(r) for r in data.get("rounds", [])], fine_tune, bool(data.get("stopped", False)),
                   dict(data.get("baseline", {})),
                   {name: (shape, int(params)) for name, (shape, params) in (sizes or {}).items()})


def layer_sizes(model) -> dict[str, tuple]:
    """Layer name -> ``(output shape, parameters)`` for every layer of ``model``, nested models' too.

    The window shows these for the smaller model; the shape is ``None`` for a layer used at several
    places (Keras has no single output shape for it).
    """
    out: dict[str, tuple] = {}

    def visit(container) -> None:
        for layer in container.layers:
            try:
                shape = layer.output_shape
            except (AttributeError, RuntimeError):
                shape = None
            out[layer.name] = (shape, int(layer.count_params()))
            if hasattr(layer, "layers"):
                visit(layer)

    visit(model)
    return out


def plan_selection(graph: ChannelGraph, settings: StructuredSettings, share: float = 1.0,
                   original: dict[str, int] | None = None, reference: Cost | None = None,
                   reference_tflite: bytes | None = None, info: dict | None = None,
                   progress=None) -> dict:
    """Group name -> kept channels for ``share`` of the settings' target (1.0 = all of it).

    ``original`` (group sizes before any round) and ``reference`` (the cost before any round)
    let a later round aim at a target measured against the model the user opened;
    ``reference_tflite`` (its float32 TFLite) does the same for the latency metric. With metric
    ``"latency"`` candidates are converted and timed (seconds to a minute); ``info`` (a dict)
    then receives ``{"latency": LatencySearch.to_dict()}`` and ``progress(message)`` a line
    per candidate.
    """
    settings.validate()
    scores = channel_importance(graph, settings.criterion)
    sizes = {g.name: g.size for g in graph.groups}
    original = original or sizes

    def now(ratio: float, name: str) -> float:
        wanted = 1 - (1 - ratio) * share
        return min(1.0, wanted * original.get(name, sizes[name]) / sizes[name])

    unknown = sorted(set(settings.groups) - set(sizes) - set(original))
    if unknown:
        raise StructureError(
            f"The structured settings name group '{unknown[0]}', which this model does not have; "
            f"its groups are {', '.join(g.name for g in graph.prunable_groups())}."
        )
    per_group = {name: now(r, name) for name, r in settings.groups.items() if name in sizes}
    if settings.fragile_keep_ratio is not None:
        from prune_studio.structured.fragile import fragile_groups

        for name in fragile_groups(graph):
            per_group.setdefault(name, now(settings.fragile_keep_ratio, name))
    if settings.mode == "uniform":
        ratios = {g.name: now(settings.keep_ratio, g.name) for g in graph.prunable_groups()}
        ratios.update(per_group)
        return select_uniform(graph, scores, 1.0, ratios, settings.round_to)
    if settings.metric == "latency":
        from prune_studio.structured.latency import latency_search

        from prune_studio.structured.latency import measure_latencies, tflite_float32

        absolute, reduction = settings.target_latency_ms, settings.reduction
        if absolute is not None and share < 1:  # an earlier round: part of the way, as a share
            start = reference_tflite if reference_tflite is not None else tflite_float32(graph.model)
            base = measure_latencies({"base": start})["base"]
            absolute, reduction = None, max(1e-3, 1 - absolute / base)
        search = latency_search(
            graph, scores, reduction=None if absolute is not None else min(max(reduction * share, 1e-3), 0.999),
            target_ms=absolute, round_to=settings.round_to, min_keep_ratio=settings.min_keep_ratio,
            per_group=per_group or None, reference_tflite=reference_tflite, progress=progress)
        if info is not None:
            info["latency"] = search.to_dict()
        return search.selection
    current = getattr(CostModel(graph).cost(), settings.metric)
    goal = getattr(reference, settings.metric) if reference is not None else current
    target = goal * (1 - settings.reduction * share)
    reduction = 1 - target / current if current else 0.0
    if reduction <= 1e-6:
        return select_uniform(graph, scores, 1.0, per_group, settings.round_to) if per_group else {}
    return select_global(graph, scores, min(reduction, 0.999), settings.metric, settings.round_to,
                         settings.min_keep_ratio, per_group or None)


def shrink_model(model, settings: StructuredSettings, share: float = 1.0, progress=None) -> ShrinkResult:
    """Remove channels at once (no fine-tuning): the quickest way to a smaller model.

    With metric ``"latency"`` the result's ``rounds[0]["latency"]`` holds the measured search.
    """
    graph = analyze(model)
    before = CostModel(graph).cost()
    info: dict = {}
    selection = plan_selection(graph, settings, share, info=info, progress=progress)
    small = shrink(model, graph, selection)
    after = CostModel(analyze(small)).cost()
    groups = {g.name: {"size": g.size, "kept": len(selection.get(g.name, range(g.size)))} for g in graph.groups}
    rounds = [{"round": 1, **after.to_dict(), **info}]
    return ShrinkResult(small, before, after, groups, dict(graph.skipped), rounds, layer_sizes=layer_sizes(small))


def structured_fine_tune(model, dataset, settings: StructuredSettings, training, compile_settings=None,
                         listener=None, control=None, plan=None, strategy=None) -> ShrinkResult:
    """Shrink ``model`` in ``settings.rounds`` rounds, fine-tuning after each.

    Args:
        model: the dense tf-keras model (left unchanged).
        dataset: a :class:`prune_studio.data.Dataset`.
        settings: what to remove and in how many rounds.
        training: :class:`prune_studio.training.TrainingSettings` for the fine-tuning after the
            last round; the rounds before it fine-tune ``settings.epochs_per_round`` epochs
            (``None``: the same; 0: none).
        plan: a magnitude :class:`~prune_studio.pruning.plan.PruningPlan` applied in the last
            round, so the structured model can also be sparse; ``None`` prunes no weights.
        listener, control, strategy, compile_settings: as for ``fine_tune``.
    """
    from prune_studio.pruning.plan import PruningPlan
    from prune_studio.training import TrainingSettings, fine_tune

    from prune_studio.training.evaluate import evaluate_keras

    settings.validate()
    baseline = evaluate_keras(model, dataset, compile_settings, training.batch_size)
    graph = analyze(model)
    reference = CostModel(graph).cost()
    original = {g.name: g.size for g in graph.groups}
    skipped = dict(graph.skipped)
    between = training.epochs if settings.epochs_per_round is None else settings.epochs_per_round
    per_round = TrainingSettings.from_dict({**training.to_dict(), "epochs": max(1, between)})
    rounds, result, current, stopped = [], None, model, False
    targets = settings.round_targets()
    reference_tflite = None
    if settings.metric == "latency":
        from prune_studio.structured.latency import tflite_float32

        reference_tflite = tflite_float32(model)
    say = listener.on_log if listener is not None else None
    for index, share in enumerate(targets):
        if listener is not None:
            listener.on_log(f"Removing channels, round {index + 1} of {len(targets)}.")
        graph = graph if index == 0 else analyze(current)
        info: dict = {}
        selection = plan_selection(graph, settings, share, original, reference, reference_tflite, info, say)
        current = shrink(current, graph, selection)
        if training.reestimate_batchnorm:
            # the kept channels' statistics are exact, but the layers after a thinned one see
            # other inputs now: measure them afresh so "before tuning" is the model's real state
            from prune_studio.training.batchnorm import reestimate_batchnorm

            reestimate_batchnorm(current, dataset)
        cost = CostModel(analyze(current)).cost()
        entry = {"round": index + 1, **cost.to_dict(), **info}
        last = index == len(targets) - 1
        round_plan = plan if (last and plan is not None) else PruningPlan()
        if last or between > 0:
            result = fine_tune(current, round_plan, dataset, training if last else per_round,
                               compile_settings=compile_settings,
                               listener=listener, control=control, strategy=strategy)
            current = result.stripped_model
            entry.update(metrics_before_tuning=dict(result.baseline), metrics=dict(result.final))
            stopped = result.stopped
        rounds.append(entry)
        if stopped:
            break
    after = CostModel(analyze(current)).cost()
    final_graph = analyze(current)
    kept = {g.name: g.size for g in final_graph.groups}
    groups = {name: {"size": size, "kept": kept.get(name, size)} for name, size in original.items()}
    result.baseline = baseline  # "before" means the model as opened, not the last round's input
    return ShrinkResult(current, reference, after, groups, skipped, rounds, result, stopped, baseline,
                        layer_sizes(current))

"""``prune-studio-cli scan MODEL --data DATA``: how much each layer can lose, and a suggested plan.

Prints, for every prunable layer, the metric with only that layer pruned to each sparsity
(no fine-tuning), and with ``--max-drop`` or ``--target-sparsity`` the per-layer targets of a
suggested plan, which ``--plan-out`` saves as JSON for a recipe or the window.

``--structured`` scans channel groups instead (``scan.channels``): each group alone keeps each
of ``--keep-ratios`` of its channels (the model physically shrunk, BatchNorm re-estimated), and
``--max-drop`` suggests per-group keep ratios, checked with every group thinned at once;
``--plan-out`` then writes a recipe ``"structured"`` section.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from prune_studio.cli.common import (
    DATA_HELP,
    CliInputError,
    add_json_flag,
    add_model_flags,
    cli_path,
    data_spec_from_arg,
    emit,
)
from prune_studio.cli.policies import POLICY_HELP


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "scan",
        help="measure how much each layer can be pruned before the model gets worse, and suggest a plan",
        description="Prune one layer at a time to several shares of zeros, without retraining, and measure "
        "the model on a sample of the test data. Optionally suggest a plan from the results.",
    )
    p.add_argument("model", help="a Keras model file (.keras, .h5 or a SavedModel folder)")
    p.add_argument("--data", required=True, help=DATA_HELP)
    add_model_flags(p)
    p.add_argument("--layers", help="comma-separated layer names to scan (default: every prunable layer)")
    p.add_argument("--sparsities", default="0,30,50,70,80,90,95",
                   help="comma-separated shares of zeros to try, in percent (default: %(default)s)")
    p.add_argument("--samples", type=int, default=512, help="test examples per measurement (default: %(default)s)")
    goal = p.add_mutually_exclusive_group()
    goal.add_argument("--max-drop", type=float, metavar="POINTS",
                      help="suggest a plan that loses at most this many accuracy points (e.g. 1)")
    goal.add_argument("--target-sparsity", type=float, metavar="PERCENT",
                      help="suggest a plan with this share of zeros overall, in percent (e.g. 80)")
    p.add_argument("--begin-step", type=int, default=0, help="training step where the suggested pruning starts")
    p.add_argument("--end-step", type=int, default=1000, help="training step where each layer reaches its target")
    p.add_argument("--plan-out", type=Path, help="write the suggested plan to this JSON file")
    p.add_argument("--policy", choices=("none", "xnnpack"), default=None, help="scan only the layers a pruning policy allows: " + POLICY_HELP)
    p.add_argument("--no-cache", action="store_true", help="measure again even if this scan was done before")
    p.add_argument("--structured", action="store_true",
                   help="scan channel groups (channel removal) instead of layers (zeros): each group keeps "
                        "--keep-ratios of its channels in turn")
    p.add_argument("--keep-ratios", default="50,25",
                   help="with --structured: comma-separated shares of a group's channels to keep, in percent "
                        "(default: %(default)s)")
    p.add_argument("--groups", help="with --structured: comma-separated channel groups to scan (default: all)")
    p.add_argument("--round-to", type=int, default=8, metavar="N",
                   help="with --structured: kept channel counts are multiples of N (default: %(default)s)")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.structured:
        return run_structured(args)
    sparsities = _percent_list(args.sparsities)
    if args.plan_out is not None and args.max_drop is None and args.target_sparsity is None:
        raise CliInputError("--plan-out needs --max-drop or --target-sparsity to say which plan to suggest.")
    from prune_studio.cli.common import load_inputs
    from prune_studio.cli.policies import allowed_layers
    from prune_studio.cli.progress import StepLines
    from prune_studio.scan import (
        checked_targets,
        plan_from_targets,
        projected_sparsity,
        sensitivity_scan,
        suggest_plan,
        suggest_targets,
    )

    loaded, dataset = load_inputs(args.model, data_spec_from_arg(args.data), trust=args.trust,
                                  custom_objects=cli_path(args.custom_objects))
    layers = [name.strip() for name in args.layers.split(",") if name.strip()] if args.layers else None
    allowed = allowed_layers(loaded.model, args.policy)
    if allowed is not None:
        layers = [name for name in (layers or allowed) if name in allowed]
    progress = StepLines()
    result = sensitivity_scan(loaded.model, dataset, layers=layers, sparsities=sparsities,
                              max_samples=args.samples, progress=progress, use_cache=not args.no_cache)
    progress.finish()
    accuracy = result.metric_name == "accuracy"
    payload = {"model": str(args.model), "data": args.data, **result.to_dict()}
    lines = _table(result)
    if args.max_drop is not None or args.target_sparsity is not None:
        goal = {
            "max_drop": None if args.max_drop is None else (args.max_drop / 100 if accuracy else args.max_drop),
            "target_sparsity": None if args.target_sparsity is None else args.target_sparsity / 100,
        }
        if goal["max_drop"] is not None and not result.stopped:
            # checked with every layer pruned at once: per-layer drops do not add up on deep networks
            targets, _ = checked_targets(loaded.model, dataset, result, goal["max_drop"], max_samples=args.samples,
                                         split="test", reestimate_batchnorm=True)
            plan = plan_from_targets(result, targets, begin_step=args.begin_step, end_step=args.end_step)
        else:
            plan = suggest_plan(result, begin_step=args.begin_step, end_step=args.end_step, **goal)
            targets = suggest_targets(result, **goal)
        overall = projected_sparsity(plan, result.params)
        payload.update(plan=plan.to_dict(), targets=targets, projected_sparsity=overall)
        lines += ["", f"Suggested plan: {overall:.1%} zeros overall"]
        lines += [f"  {name:<32} {targets.get(name, 0.0):6.1%}" for name in result.params]
        if args.plan_out is not None:
            args.plan_out.write_text(json.dumps(plan.to_dict(), indent=2), encoding="utf-8")
            lines.append(f"Plan written to {args.plan_out}")
    emit(args, payload, "\n".join(lines))
    return 0


def _percent_list(text: str, flag: str = "--sparsities", example: str = "0,50,90") -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise CliInputError(f"{flag} {text!r} is not a list of numbers; give percentages like {example}.") from None
    bad = [v for v in values if not 0 <= v < 100]
    if bad or not values:
        raise CliInputError(f"{flag} {text!r} must hold percentages from 0 up to (not including) 100.")
    return [v / 100 for v in values]


def _table(result) -> list[str]:
    accuracy = result.metric_name == "accuracy"

    def fmt(value: float) -> str:
        return f"{value:.1%}" if accuracy else f"{value:.4g}"

    sparsities = sorted({s for curve in result.curves.values() for s, _ in curve})
    lines = [f"Original model: {result.metric_name} {fmt(result.baseline)} on {result.num_samples} test examples",
             "Each row prunes only that layer (no retraining); columns are the share of zeros in it.", ""]
    header = f"{'layer':<24} {'weights':>10} {'safe up to':>10}" + "".join(f"{s:>8.0%}" for s in sparsities)
    lines.append(header)
    for name, curve in result.curves.items():
        values = dict(curve)
        row = f"{name:<24} {result.params[name]:>10,} {result.safe_sparsity(name, 0.01 if accuracy else 0.0):>10.0%}"
        row += "".join(f"{fmt(values[s]) if s in values else '':>8}" for s in sparsities)
        lines.append(row)
    if accuracy:
        lines.append("'safe up to': the most zeros that keep accuracy within 1 point of the original.")
    return lines


def run_structured(args: argparse.Namespace) -> int:
    """``scan --structured``: per-group sensitivity to channel removal, and suggested keep ratios."""
    for flag, value in (("--target-sparsity", args.target_sparsity), ("--layers", args.layers),
                        ("--policy", args.policy)):
        if value is not None:
            raise CliInputError(f"{flag} is for the zeros scan; with --structured give --keep-ratios, --groups or --max-drop.")
    ratios = _percent_list(args.keep_ratios, "--keep-ratios", "50,25")
    if 0.0 in ratios:
        raise CliInputError(f"--keep-ratios {args.keep_ratios!r} must hold percentages above 0 and below 100.")
    if args.round_to < 1:
        raise CliInputError(f"--round-to {args.round_to} is not valid; give a whole number of at least 1, e.g. 8.")
    from prune_studio.cli.common import load_inputs
    from prune_studio.cli.progress import StepLines
    from prune_studio.scan import channel_scan, checked_keep_ratios
    from prune_studio.scan.sensitivity import ScanError

    loaded, dataset = load_inputs(args.model, data_spec_from_arg(args.data), trust=args.trust,
                                  custom_objects=cli_path(args.custom_objects))
    groups = [name.strip() for name in args.groups.split(",") if name.strip()] if args.groups else None
    progress = StepLines()
    try:
        result = channel_scan(loaded.model, dataset, groups=groups, keep_ratios=ratios, round_to=args.round_to,
                              max_samples=args.samples, progress=progress)
    except ScanError as exc:
        raise CliInputError(str(exc)) from exc
    progress.finish()
    accuracy = result.metric_name == "accuracy"
    payload = {"model": str(args.model), "data": args.data, **result.to_dict()}
    lines = _channel_table(result)
    if args.max_drop is not None:
        max_drop = args.max_drop / 100 if accuracy else args.max_drop
        keep, drop = checked_keep_ratios(loaded.model, dataset, result, max_drop, round_to=args.round_to,
                                         max_samples=args.samples)
        section = {"mode": "uniform", "keep_ratio": 1.0, "groups": keep, "round_to": args.round_to}
        payload.update(keep_ratios=keep, joint_drop=drop, structured=section)
        lines += ["", f"Suggested keep ratios (every group thinned at once: drop {drop:.1%}):" if accuracy
                  else f"Suggested keep ratios (every group thinned at once: drop {drop:.4g}):"]
        lines += [f"  {name:<32} {ratio:6.0%}" for name, ratio in keep.items()] or ["  (none: every group is needed whole)"]
        if args.plan_out is not None:
            args.plan_out.write_text(json.dumps(section, indent=2), encoding="utf-8")
            lines.append(f"Structured section written to {args.plan_out}")
    elif args.plan_out is not None:
        raise CliInputError("--plan-out needs --max-drop to say which keep ratios to suggest.")
    emit(args, payload, "\n".join(lines))
    return 0


def _channel_table(result) -> list[str]:
    accuracy = result.metric_name == "accuracy"

    def fmt(value: float) -> str:
        return f"{value:.1%}" if accuracy else f"{value:.4g}"

    lines = [f"Original model: {result.metric_name} {fmt(result.baseline)} on {result.num_samples} test examples",
             "Each row thins only that channel group (the model shrunk, no retraining): "
             "kept share -> metric (FLOPs removed).", ""]
    for name, curve in result.curves.items():
        cuts = dict(result.flops.get(name, []))
        points = "  ".join(f"{ratio:.0%} -> {fmt(value)} (-{cuts.get(ratio, 0.0):.0%})" for ratio, value in curve[1:])
        tag = f" [{result.fragile[name]}]" if name in result.fragile else ""
        lines.append(f"{name + tag:<40} {result.sizes[name]:>5} ch  {points or 'too small to thin at this rounding'}")
    return lines

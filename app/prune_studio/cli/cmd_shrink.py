"""``prune-studio-cli shrink MODEL --data DATA --out DIR``: remove whole channels, fine-tune, export.

The model gets physically smaller and faster (fewer filters and units), unlike ``prune``, which
sets weights to zero. Options override the recipe's ``"structured"`` section (or the defaults);
a recipe's plan, when given, then also zeroes weights of the smaller model. ``report.json``
gets ``"structured"`` (groups, rounds, parameters and FLOPs before and after) and ``"cost"``.
"""

from __future__ import annotations

from pathlib import Path

from prune_studio.cli.cmd_prune import add_run_args, check_epochs
from prune_studio.cli.common import DATA_HELP, CliInputError, data_spec_from_arg, emit
from prune_studio.cli.runtime import make_strategy


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("shrink", help="remove whole channels (smaller and faster), fine-tune, then export")
    p.add_argument("model", help="the Keras model file to shrink")
    p.add_argument("--data", default=None, help=DATA_HELP + " (default: the recipe's data)")
    p.add_argument("--recipe", default=None, help="a recipe .json; its 'structured' section is the starting point")
    p.add_argument("--reduction", type=float, default=None, metavar="PERCENT",
                   help="remove the least important channels until this share of FLOPs (or --metric) is gone, e.g. 60")
    p.add_argument("--metric", choices=("flops", "params", "latency"), default=None,
                   help="what --reduction counts (default flops; latency is measured on float32 TFLite with LiteRT)")
    p.add_argument("--target-latency", type=float, default=None, metavar="MS",
                   help="instead of --reduction: remove channels until the float32 TFLite model runs in MS "
                        "milliseconds per sample here (LiteRT, 1 thread)")
    p.add_argument("--keep-fragile", type=float, default=None, metavar="PERCENT",
                   help="the stem, residual and linear-bottleneck channel groups keep this share (100 = whole)")
    p.add_argument("--keep", type=float, default=None, metavar="PERCENT",
                   help="instead of --reduction: every channel group keeps this share of its channels, e.g. 50")
    p.add_argument("--criterion", choices=("l1", "l2", "bn_scale"), default=None, help="channel importance (default l1)")
    p.add_argument("--round-to", type=int, default=None, metavar="N", help="kept channel counts are multiples of N (default 8)")
    p.add_argument("--rounds", type=int, default=None, metavar="N", help="remove channels in N rounds, fine-tuning between")
    add_run_args(p)
    p.set_defaults(func=run)


def _percent(flag: str, value: float, top_inclusive: bool) -> float:
    ok = 0 < value <= 100 if top_inclusive else 0 < value < 100
    if not ok:
        raise CliInputError(f"{flag} {value:g} is not valid; give a percentage above 0 and "
                            f"{'at most' if top_inclusive else 'below'} 100.")
    return value / 100


def structured_from_args(args, base):
    """The recipe's structured settings (or defaults) with the command-line options applied."""
    from prune_studio.structured.settings import StructuredSettings, StructuredSettingsError

    data = base.to_dict() if base is not None else StructuredSettings().to_dict()
    chosen = [flag for flag, value in (("--reduction", args.reduction), ("--keep", args.keep),
                                       ("--target-latency", args.target_latency)) if value is not None]
    if len(chosen) > 1:
        raise CliInputError(f"Give only one of --reduction, --keep and --target-latency, not {' and '.join(chosen)}.")
    if args.target_latency is not None:
        if not args.target_latency > 0:
            raise CliInputError(f"--target-latency {args.target_latency:g} is not valid; give milliseconds above 0, e.g. 0.5.")
        if args.metric not in (None, "latency"):
            raise CliInputError("--target-latency counts latency; leave out --metric or give --metric latency.")
        data.update(mode="global", metric="latency", target_latency_ms=args.target_latency)
    elif args.reduction is not None or args.keep is not None or args.metric not in (None, "latency"):
        data["target_latency_ms"] = None
    if args.keep_fragile is not None:
        data["fragile_keep_ratio"] = _percent("--keep-fragile", args.keep_fragile, True)
    if args.reduction is not None:
        data.update(mode="global", reduction=_percent("--reduction", args.reduction, False))
    if args.keep is not None:
        data.update(mode="uniform", keep_ratio=_percent("--keep", args.keep, True))
    for key in ("metric", "criterion", "round_to", "rounds"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    try:
        return StructuredSettings.from_dict(data)
    except StructuredSettingsError as exc:
        flags = {"target_latency_ms": "target-latency", "fragile_keep_ratio": "keep-fragile", "keep_ratio": "keep"}
        flag = "--" + flags.get(exc.field or "", (exc.field or "").replace("_", "-"))
        raise CliInputError(f"{flag}: {exc}") from exc


def run(args) -> int:
    from prune_studio.cli.pipeline import run_recipe, summary
    from prune_studio.recipe import Recipe, load_recipe

    check_epochs(args)
    model = Path(args.model)
    if not model.exists():
        raise CliInputError(f"The model file {args.model} does not exist; give a .keras, .h5 or SavedModel path.")
    if args.recipe is not None:
        recipe = load_recipe(args.recipe)
    elif args.data is None:
        raise CliInputError("shrink needs --data (or a --recipe that names the data).")
    else:
        from prune_studio.pruning.plan import PruningPlan

        recipe = Recipe(model_path=str(model), data=data_spec_from_arg(args.data), plan=PruningPlan())
    recipe.model_path = str(model.resolve())
    if args.data is not None:
        recipe.data = data_spec_from_arg(args.data)
    recipe.structured = structured_from_args(args, recipe.structured)
    strategy = make_strategy(args)
    report = run_recipe(recipe, Path(args.out), strategy, args.strategy, args.epochs, args.logdir, args.overwrite)
    emit(args, report, summary_text(report) + "\n" + summary(report))
    return 0


def summary_text(report: dict) -> str:
    """One line on what channel removal did."""
    s = report.get("structured", {})
    before, after = s.get("before", {}), s.get("after", {})
    text = (f"Channels removed: parameters {before.get('params', 0):,} -> {after.get('params', 0):,}, "
            f"FLOPs {before.get('flops', 0):,} -> {after.get('flops', 0):,} "
            f"(-{100 * s.get('flops_reduction', 0):.0f}%)")
    searched = [r["latency"] for r in s.get("rounds", []) if isinstance(r.get("latency"), dict)]
    if searched:
        last = searched[-1]
        text += (f"; float32 TFLite latency {last['baseline_ms']:.3f} -> {last['ms']:.3f} ms "
                 f"(target {last['target_ms']:.3f} ms{'' if last['met'] else ', not reached'})")
    return text

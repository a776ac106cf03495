"""``prune-studio-cli prune MODEL --recipe RECIPE --out DIR``: run a recipe the window saved."""

from __future__ import annotations

from pathlib import Path

from prune_studio.cli.common import (
    CUSTOM_OBJECTS_HELP,
    DATA_HELP,
    TRUST_HELP,
    CliInputError,
    add_json_flag,
    cli_path,
    data_spec_from_arg,
    emit,
)
from prune_studio.cli.policies import POLICY_HELP
from prune_studio.cli.runtime import add_strategy_args, make_strategy


def add_run_args(p) -> None:
    """Options shared by every subcommand that fine-tunes (``prune``, ``demo``)."""
    p.add_argument("--out", required=True, help="output folder for the models, TFLite files and report.json")
    p.add_argument("--epochs", type=int, default=None, help="fine-tune for this many epochs instead of the recipe's")
    p.add_argument("--logdir", default=None, help="write TensorBoard logs (loss, accuracy, sparsity per layer) here")
    p.add_argument("--overwrite", action="store_true", help="replace files already in --out")
    add_strategy_args(p)
    add_json_flag(p)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("prune", help="fine-tune a model with pruning as a recipe says, then export")
    p.add_argument("model", help="the Keras model file to prune (replaces the recipe's model)")
    p.add_argument("--data", default=None, help=DATA_HELP + " (default: the recipe's data)")
    p.add_argument("--recipe", required=True, help="a recipe .json saved by the window or by 'demo'")
    p.add_argument("--trust", action="store_true", help=TRUST_HELP + " (also the recipe's model.trust)")
    p.add_argument("--policy", choices=("none", "xnnpack"), default=None,
                   help="a pruning policy (replaces the recipe's plan.policy): " + POLICY_HELP)
    p.add_argument("--custom-objects", default=None, metavar="FILE.py",
                   help=CUSTOM_OBJECTS_HELP + " (replaces the recipe's model.custom_objects)")
    add_run_args(p)
    p.set_defaults(func=run)


def check_epochs(args) -> None:
    if args.epochs is not None and args.epochs < 1:
        raise CliInputError(f"--epochs {args.epochs} is not valid; give a whole number of at least 1.")


def run(args) -> int:
    from prune_studio.cli.pipeline import export_exit_code, run_recipe, summary
    from prune_studio.recipe import load_recipe

    check_epochs(args)
    model = Path(args.model)
    if not model.exists():
        raise CliInputError(f"The model file {args.model} does not exist; give a .keras, .h5 or SavedModel path.")
    recipe = load_recipe(args.recipe)
    recipe.model_path = cli_path(args.model)
    recipe.trust = recipe.trust or args.trust
    if args.custom_objects is not None:
        recipe.custom_objects = cli_path(args.custom_objects)
    if args.policy is not None:
        recipe.policy = None if args.policy == "none" else args.policy
    if args.data is not None:
        recipe.data = data_spec_from_arg(args.data)
    strategy = make_strategy(args)
    report = run_recipe(recipe, Path(args.out), strategy, args.strategy, args.epochs, args.logdir, args.overwrite)
    emit(args, report, summary(report))
    return export_exit_code(report)

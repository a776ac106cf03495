"""``prune-studio-cli demo --out DIR``: the built-in demo end to end, without a window.

DIR receives the model it started from (``baseline.keras``), the recipe it ran
(``recipe.json``), every artifact and ``report.json``, so
``prune-studio-cli prune DIR/baseline.keras --recipe DIR/recipe.json --out ...`` reruns it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from prune_studio.cli.cmd_prune import add_run_args, check_epochs
from prune_studio.cli.common import emit
from prune_studio.cli.runtime import make_strategy

DEMO_TARGET = 0.8


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("demo", help="prune the built-in demo model on the digits sample, end to end")
    add_run_args(p)
    p.set_defaults(func=run)


def write_demo_recipe(out: Path, epochs: int | None) -> Path:
    """Copy the demo model to ``out/baseline.keras`` and write the recipe that prunes it."""
    from prune_studio.data import DataSpec, load_data
    from prune_studio.export import ExportSettings
    from prune_studio.models import load_model
    from prune_studio.pruning.plan import PruningPlan
    from prune_studio.recipe import Recipe, save_recipe
    from prune_studio.resources import demo_model_path
    from prune_studio.training import TrainingSettings, steps_for

    baseline, recipe_path = out / "baseline.keras", out / "recipe.json"
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(demo_model_path(), baseline)

    settings = TrainingSettings() if epochs is None else TrainingSettings(epochs=epochs)
    spec = DataSpec(kind="digits")
    total = steps_for(settings, load_data(spec).num_train)
    end = max(1, int(total * 0.75))  # reach the target, then recover for the last quarter
    plan = PruningPlan.uniform(load_model(baseline).model, DEMO_TARGET, 0, end, frequency=max(1, end // 8))
    recipe = Recipe(model_path=baseline.name, data=spec, plan=plan, training=settings, export=ExportSettings())
    return save_recipe(recipe, recipe_path)


def check_demo_dir(out: Path, overwrite: bool) -> None:
    """Refuse a folder that already holds a demo run, before TensorFlow loads."""
    from prune_studio.export import TargetExistsError

    existing = [str(out / name) for name in ("baseline.keras", "recipe.json") if (out / name).exists()]
    if existing and not overwrite:
        raise TargetExistsError(existing)


def run(args) -> int:
    from prune_studio.cli.pipeline import export_exit_code, run_recipe, summary
    from prune_studio.recipe import load_recipe

    check_epochs(args)
    check_demo_dir(Path(args.out), args.overwrite)
    strategy = make_strategy(args)
    out = Path(args.out)
    recipe = load_recipe(write_demo_recipe(out, args.epochs))
    report = run_recipe(recipe, out, strategy, args.strategy, None, args.logdir, overwrite=args.overwrite)
    emit(args, report, summary(report))
    return export_exit_code(report)

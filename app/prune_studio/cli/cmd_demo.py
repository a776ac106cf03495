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

#: Zeros per layer. The stem (conv1, 288 weights for 32 filters) and the classifier head are
#: fragile and stay at half; the wide dense layer carries the size. 84% zeros overall, and
#: every exported file within a point of the baseline, where a uniform 80% lost 1.4 points.
DEMO_TARGETS = {"conv1": 0.5, "conv2": 0.8, "dense1": 0.85, "digits": 0.5}
#: The demo's fine-tune: long enough for an audience to watch the charts move (~20-40 s on two
#: cores), gentle enough that every exported file stays within a point of the baseline.
DEMO_EPOCHS = 25
DEMO_LEARNING_RATE = 1e-4
#: The ramp reaches the target this far into the run; the rest lets accuracy recover.
DEMO_RAMP = 0.5
#: Mask updates over the ramp.
DEMO_UPDATES = 16


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("demo", help="prune the built-in demo model on the digits sample, end to end")
    add_run_args(p)
    p.set_defaults(func=run)


def demo_recipe(model_path: str, epochs: int | None = None):
    """The demo's recipe for the demo model at ``model_path``, optionally over ``epochs`` epochs.

    ``resources/samples/digits_demo_recipe.json`` holds it for the shipped model (the window's
    demo run opens that file); ``scripts/make_demo_recipe.py`` rewrites it from here.
    """
    from prune_studio.data import DataSpec, load_data
    from prune_studio.export import ExportSettings
    from prune_studio.pruning.plan import LayerPlan, PruningPlan
    from prune_studio.pruning.schedules import PolynomialDecay
    from prune_studio.recipe import Recipe
    from prune_studio.training import TrainingSettings, steps_for

    settings = TrainingSettings(epochs=DEMO_EPOCHS if epochs is None else epochs, learning_rate=DEMO_LEARNING_RATE)
    spec = DataSpec(kind="digits")
    total = steps_for(settings, load_data(spec).num_train)
    end = max(1, int(total * DEMO_RAMP))
    frequency = max(1, end // DEMO_UPDATES)
    layers = {name: LayerPlan(True, PolynomialDecay(0.0, target, 0, end, frequency=frequency))
              for name, target in DEMO_TARGETS.items()}
    return Recipe(model_path=model_path, data=spec, plan=PruningPlan(layers), training=settings, export=ExportSettings())


def write_demo_recipe(out: Path, epochs: int | None) -> Path:
    """Copy the demo model to ``out/baseline.keras`` and write the recipe that prunes it."""
    from prune_studio.recipe import save_recipe
    from prune_studio.resources import demo_model_path

    baseline, recipe_path = out / "baseline.keras", out / "recipe.json"
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(demo_model_path(), baseline)
    return save_recipe(demo_recipe(baseline.name, epochs), recipe_path)


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

"""The built-in demo keeps its promise: every exported file within one point of the baseline."""

import json

import pytest

from prune_studio.cli.cmd_demo import DEMO_TARGETS, demo_recipe, write_demo_recipe
from prune_studio.pruning.plan import prunable_layer_names
from prune_studio.recipe import load_recipe
from prune_studio.resources import demo_model_path, resource_path


def test_the_shipped_demo_recipe_is_the_one_the_cli_writes(tmp_path):
    shipped = resource_path("samples", "digits_demo_recipe.json")
    assert json.loads(shipped.read_text()) == demo_recipe(demo_model_path().name).to_dict()
    recipe = load_recipe(shipped)
    assert recipe.model_file() == demo_model_path()
    from prune_studio.models import load_model

    assert sorted(recipe.plan.layers) == sorted(prunable_layer_names(load_model(demo_model_path()).model))
    # --epochs keeps the shape of the run: the ramp still ends half-way, at the target
    short = load_recipe(write_demo_recipe(tmp_path, epochs=2))
    config = short.plan.layers["dense1"].schedule.get_config()["config"]
    assert short.training.epochs == 2 and config["final_sparsity"] == DEMO_TARGETS["dense1"] and config["end_step"] == 41


@pytest.mark.slow
def test_every_demo_artifact_is_within_one_point_of_the_baseline(tmp_path):
    from prune_studio.cli.pipeline import run_recipe

    recipe = load_recipe(write_demo_recipe(tmp_path, epochs=None))
    report = run_recipe(recipe, tmp_path, overwrite=True)
    baseline = report["training"]["baseline"]["accuracy"]
    assert baseline > 0.98
    assert report["artifacts"] and all(a["ok"] for a in report["artifacts"]), report["artifacts"]
    worst = min(report["artifacts"], key=lambda a: a["accuracy"])
    assert worst["accuracy"] >= baseline - 0.01, (worst["name"], worst["accuracy"], baseline)
    assert all(abs(s - DEMO_TARGETS[name]) < 0.01 for name, s in report["training"]["sparsity"].items())

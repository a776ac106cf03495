"""The recipe file: exact round trip, field-naming errors, migrations, relative paths."""

import json

import pytest

from prune_studio import recipe as recipe_mod
from prune_studio.data import DataSpec
from prune_studio.export import ExportSettings
from prune_studio.recipe import Recipe, RecipeError, load_recipe, save_recipe
from prune_studio.training import TrainingSettings


def _valid(**overrides):
    data = {
        "schema_version": 1,
        "model": {"path": "models/base.keras", "trust": False},
        "data": {"kind": "npz", "path": "data/tiny.npz", "options": {}},
        "plan": {"suggest": {"max_drop": 0.01}},
        "training": TrainingSettings(epochs=3, learning_rate=5e-4).to_dict(),
        "export": ExportSettings(h5=False, tflite=("int8",)).to_dict(),
    }
    data.update(overrides)
    return data


def test_suggest_recipe_round_trips_byte_for_byte(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(_valid(), indent=2) + "\n")
    loaded = load_recipe(path)
    assert loaded.suggest == {"max_drop": 0.01} and loaded.plan is None
    assert loaded.training.epochs == 3 and loaded.export.tflite == ("int8",)
    again = save_recipe(loaded, tmp_path / "again.json")
    assert again.read_text() == path.read_text()
    assert load_recipe(again) == loaded


def test_plan_recipe_round_trips(tmp_path, demo_model_file):
    from prune_studio.models import load_model
    from prune_studio.pruning.plan import PruningPlan

    plan = PruningPlan.uniform(load_model(demo_model_file).model, 0.7, 0, 40, frequency=5)
    recipe = Recipe(model_path=str(demo_model_file), data=DataSpec(kind="digits"), plan=plan)
    first = save_recipe(recipe, tmp_path / "a.json")
    second = save_recipe(load_recipe(first), tmp_path / "b.json")
    assert first.read_text() == second.read_text()
    assert load_recipe(second).plan.to_dict() == plan.to_dict()


def test_relative_paths_resolve_against_the_recipe_folder(tmp_path, monkeypatch):
    folder = tmp_path / "project"
    save_path = folder / "recipe.json"
    folder.mkdir()
    save_path.write_text(json.dumps(_valid()))
    monkeypatch.chdir(tmp_path)
    loaded = load_recipe("project/recipe.json")
    assert loaded.model_file() == folder.resolve() / "models" / "base.keras"
    assert loaded.data_spec().path == str(folder.resolve() / "data" / "tiny.npz")
    assert loaded.to_dict()["model"]["path"] == "models/base.keras"  # written as given


@pytest.mark.parametrize(
    "overrides, field, words",
    [
        ({"schema_version": 99}, "schema_version", "newer"),
        ({"schema_version": "1"}, "schema_version", "whole number"),
        ({"model": {"trust": True}}, "model.path", "model file"),
        ({"model": {"path": "m.keras", "trust": "yes"}}, "model.trust", "true or false"),
        ({"data": {"kind": 3}}, "data.kind", "kind"),
        ({"plan": {"suggest": {"max_drop": 2}}}, "plan.suggest.max_drop", "between 0 and 1"),
        ({"plan": {"suggest": {"sparsity": 0.5}}}, "plan.suggest", "target_sparsity"),
        ({"training": {"epochs": -1}}, "training.epochs", "at least 1"),
        ({"training": {"optimiser": "adam"}}, "training.optimiser", "not known"),
        ({"export": {"tflite": ["int4"]}}, "export", "int4"),
        ({"export": {"zip": True}}, "export.zip", "not known"),
        ({"extra": 1}, "extra", "not part of a recipe"),
        ({"plan": {"layers": 3}}, "plan.layers", "layer name -> layer plan"),
        ({"plan": {"layers": {"dense1": {"enabled": True, "schedule": {
            "class_name": "PolynomialDecay",
            "config": {"initial_sparsity": 0.5, "final_sparsity": 1.5, "begin_step": 0, "end_step": 9}}}}}},
         "plan.layers.dense1", "final_sparsity"),
    ],
)
def test_invalid_recipe_names_field_and_problem(tmp_path, overrides, field, words):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_valid(**overrides)))
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert info.value.field == field
    message = str(info.value)
    assert f"'{field}'" in message and words in message and "bad.json" in message


def test_missing_section_and_broken_json(tmp_path):
    data = _valid()
    del data["plan"]
    with pytest.raises(RecipeError, match="'plan' is missing"):
        Recipe.from_dict(data)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(RecipeError, match="not valid JSON"):
        load_recipe(broken)
    with pytest.raises(RecipeError, match="could not be read"):
        load_recipe(tmp_path / "missing.json")


def test_older_versions_migrate_forward(monkeypatch):
    def v1_to_v2(data):
        data = dict(data)
        data["training"] = {**data["training"], "epochs": data["training"]["epochs"] * 2}
        return data

    monkeypatch.setattr(recipe_mod, "SCHEMA_VERSION", 2)
    monkeypatch.setattr(recipe_mod, "MIGRATIONS", {1: v1_to_v2})
    loaded = Recipe.from_dict(_valid())
    assert loaded.training.epochs == 6
    assert loaded.to_dict()["schema_version"] == 2

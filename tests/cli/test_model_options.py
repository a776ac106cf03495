"""--trust, --custom-objects and --policy on the subcommands, recipe fields, and where paths resolve."""

import io
import json
import textwrap

import numpy as np
import pytest

from prune_studio.cli import build_parser
from prune_studio.cli.common import CliInputError
from prune_studio.cli.pipeline import resolve_plan
from prune_studio.cli.progress import ProgressBar
from prune_studio.compat import keras
from prune_studio.models.safety import load_custom_objects
from prune_studio.recipe import Recipe, RecipeError, load_recipe, save_recipe

LAYERS = """
from prune_studio.compat import keras


class Doubler(keras.layers.Layer):
    def call(self, inputs):
        return inputs * 2
"""


@pytest.fixture
def custom_model(tmp_path, digits):
    """``work/custom.keras`` (a Doubler layer), ``work/layers.py`` and ``work/d.npz``."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "layers.py").write_text(textwrap.dedent(LAYERS))
    doubler = load_custom_objects(work / "layers.py")["Doubler"]
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), doubler(name="twice"),
                              keras.layers.Dense(10, activation="softmax", name="out")])
    model.save(work / "custom.keras")
    np.savez(work / "d.npz", x_train=digits["x_train"][:64], y_train=digits["y_train"][:64],
             x_test=digits["x_test"][:32], y_test=digits["y_test"][:32])
    return work


def test_every_model_subcommand_takes_trust_and_custom_objects():
    parser = build_parser()
    common = ["--trust", "--custom-objects", "x.py"]
    for argv in (["inspect", "m.keras"], ["scan", "m.keras", "--data", "digits"],
                 ["evaluate", "m.keras", "--data", "digits"], ["export", "m.keras", "--data", "digits", "--out", "o"],
                 ["prune", "m.keras", "--recipe", "r.json", "--out", "o", "--policy", "xnnpack"]):
        args = parser.parse_args(argv + common)
        assert args.trust and args.custom_objects == "x.py", argv


def test_inspect_refuses_a_custom_layer_then_opens_it_with_custom_objects(cli, custom_model):
    refused = cli("inspect", "custom.keras", cwd=custom_model)
    assert refused.code == 2
    line = refused.error_line()
    assert "'twice' (custom class Doubler" in line and "--custom-objects FILE.py" in line and "--trust" in line
    # relative paths on the command line resolve against the current folder
    data = cli("inspect", "custom.keras", "--custom-objects", "layers.py", "--json", cwd=custom_model).json()
    assert [row["type"] for row in data["layers"]] == ["Flatten", "Doubler", "Dense"]


def test_prune_takes_custom_objects_from_the_recipe_and_data_from_the_command_line(cli, custom_model, tmp_path):
    """Recipe paths resolve against the recipe's folder; command-line paths against the current one."""
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "layers.py").write_text(textwrap.dedent(LAYERS))
    np.savez(recipes / "d.npz", x_train=np.zeros((4, 8, 8, 1)), y_train=np.zeros(4), x_test=np.zeros((4, 8, 8, 1)),
             y_test=np.zeros(4))  # the recipe's own data: replaced by --data, so never used
    recipe = {
        "schema_version": 1,
        "model": {"path": "unused.keras", "trust": False, "custom_objects": "layers.py"},
        "data": {"kind": "npz", "path": "d.npz", "options": {}},
        "plan": {"layers": {"out": {"enabled": True, "schedule": {"class_name": "ConstantSparsity", "config": {
            "target_sparsity": 0.5, "begin_step": 0, "end_step": -1, "frequency": 1}}}}},
        "training": {"epochs": 1, "batch_size": 32},
        "export": {"keras": False, "h5": False, "tflite": ["float32"], "int8_io": "float", "sparse": False},
    }
    (recipes / "r.json").write_text(json.dumps(recipe))
    run = cli("prune", "custom.keras", "--recipe", recipes / "r.json", "--data", "d.npz", "--out", "out", "--json",
              cwd=custom_model)
    report = run.json()
    assert report["recipe"]["data"]["path"] == str(custom_model / "d.npz")
    assert report["recipe"]["model"]["path"] == str(custom_model / "custom.keras")
    assert report["training"]["sparsity"]["out"] == pytest.approx(0.5, abs=0.01)
    assert (custom_model / "out" / "report.json").is_file()


def test_recipe_custom_objects_and_policy_round_trip(tmp_path):
    data = {
        "schema_version": 1,
        "model": {"path": "m.keras", "trust": False, "custom_objects": "lib/layers.py"},
        "data": {"kind": "digits", "path": None, "options": {}},
        "plan": {"suggest": {"max_drop": 0.02}, "policy": "xnnpack"},
    }
    (tmp_path / "r.json").write_text(json.dumps(data))
    recipe = load_recipe(tmp_path / "r.json")
    assert recipe.policy == "xnnpack" and recipe.resolve(recipe.custom_objects) == tmp_path / "lib" / "layers.py"
    save_recipe(recipe, tmp_path / "again.json")
    assert load_recipe(tmp_path / "again.json") == recipe
    for bad, field in (({"policy": "fast"}, "plan.policy"), ({"custom_objects": "layers.txt"}, "model.custom_objects")):
        broken = json.loads(json.dumps(data))
        (broken["plan"] if "policy" in bad else broken["model"]).update(bad)
        with pytest.raises(RecipeError) as err:
            Recipe.from_dict(broken)
        assert err.value.field == field


def _xnnpack_cnn():
    inp = keras.Input((16, 16, 3))
    x = keras.layers.ZeroPadding2D(1, name="stem_pad")(inp)  # the stem XNNPack's sparse path expects, as tfmot checks
    x = keras.layers.Conv2D(8, 3, strides=2, padding="valid", name="stem")(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = keras.layers.Conv2D(16, 1, name="pw")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(10, activation="softmax", name="head")(x))
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    return model


def test_xnnpack_policy_from_a_recipe_keeps_only_1x1_convolutions(digits_dataset):
    from prune_studio.data import DataSpec
    from prune_studio.pruning.plan import PruningPlan
    from prune_studio.training import TrainingSettings

    model = _xnnpack_cnn()
    recipe = Recipe(model_path="m.keras", data=DataSpec(kind="digits"), plan=PruningPlan.uniform(model, 0.8, 0, 10),
                    policy="xnnpack")
    log = io.StringIO()
    plan = resolve_plan(recipe, model, digits_dataset, TrainingSettings(epochs=1), ProgressBar(log))
    assert plan.enabled_layers() == ["pw"]
    assert set(plan.layers) == {"stem", "dw", "pw", "head"}
    assert "Pruning policy 'xnnpack': 1 layer(s) pruned, 3 left dense" in log.getvalue()

    dense_first = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d")])
    recipe.plan = PruningPlan.uniform(dense_first, 0.5, 0, 10)
    with pytest.raises(CliInputError, match="'xnnpack' does not suit this model: Could not find .Conv2D 3x3"):
        resolve_plan(recipe, dense_first, digits_dataset, TrainingSettings(epochs=1), ProgressBar(io.StringIO()))


def test_scan_prints_progress_lines_when_stderr_is_not_a_terminal(cli, demo_model_file):
    run = cli("scan", demo_model_file, "--data", "digits", "--samples", 64, "--sparsities", "0,50,90", "--no-cache")
    assert run.code == 0, run.stderr[-2000:]
    lines = [ln for ln in run.stderr.splitlines() if ln.startswith("[")]
    layers = {ln.split("Layer ")[1].split(" with")[0] for ln in lines if "Layer " in ln}
    assert {"conv1", "dense1"} <= layers
    assert lines[-1].startswith("[100%]") and "\r" not in run.stderr

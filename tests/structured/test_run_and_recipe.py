"""Selection targets, the gradual schedule with real fine-tuning, recipes, export and the CLI."""

import json

import numpy as np
import pytest

from prune_studio.compat import keras
from prune_studio.structured import (StructuredSettings, analyze, channel_importance, model_cost, plan_selection,
                                     round_keep, select_global, select_uniform, structured_fine_tune)
from prune_studio.structured.settings import StructuredSettingsError

L = keras.layers
QUICK_EXPORT = {"keras": True, "h5": False, "tflite": ["float32"], "int8_io": "float", "sparse": False}


def digits_cnn(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        L.Input((8, 8, 1)),
        L.Conv2D(32, 3, padding="same", use_bias=False, name="c1"),
        L.BatchNormalization(name="bn1"),
        L.ReLU(name="r1"),
        L.Conv2D(32, 3, activation="relu", name="c2"),
        L.Flatten(name="flat"),
        L.Dense(48, activation="relu", name="fc"),
        L.Dense(10, activation="softmax", name="out"),
    ], name="digits_cnn")


@pytest.fixture(scope="module")
def trained(digits_dataset):
    model = digits_cnn()
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(digits_dataset.x_train, digits_dataset.y_train, epochs=3, batch_size=32, verbose=0)
    return model


def test_round_keep_rounds_to_multiples_within_bounds():
    assert round_keep(64, 0.5, 8) == 32
    assert round_keep(64, 0.3, 8) == 16  # 19.2 -> 16
    assert round_keep(20, 0.1, 8) == 8  # never below one multiple
    assert round_keep(6, 0.5, 8) == 6  # a group smaller than the multiple stays whole
    assert round_keep(10, 0.45, 1) == 4


def test_global_selection_reaches_the_flops_target_and_keeps_important_channels(trained):
    graph = analyze(trained)
    scores = channel_importance(graph, "l2")
    full = model_cost(graph)
    for target in (0.3, 0.6):
        selection = select_global(graph, scores, target, "flops", round_to=8)
        cut = 1 - model_cost(graph, selection).flops / full.flops
        assert target <= cut < target + 0.2
        for name, kept in selection.items():
            assert len(kept) % 8 == 0 or len(kept) == graph.group(name).size
            dropped = np.setdiff1d(np.arange(graph.group(name).size), kept)
            assert scores[name][kept].min() >= scores[name][dropped].max()
    params = select_global(graph, scores, 0.5, "params", round_to=4)
    assert 1 - model_cost(graph, params).params / full.params >= 0.5


def test_bn_scale_criterion_uses_gamma(trained):
    graph = analyze(trained)
    gamma = trained.get_layer("bn1").gamma.numpy()
    np.testing.assert_allclose(channel_importance(graph, "bn_scale")["c1"], np.abs(gamma), rtol=1e-6)
    kept = select_uniform(graph, channel_importance(graph, "bn_scale"), 0.25, round_to=8)["c1"]
    assert set(kept.tolist()) == set(np.argsort(-np.abs(gamma))[:8].tolist())


def test_settings_validate_and_schedule():
    s = StructuredSettings(rounds=3)
    assert s.round_targets()[-1] == 1.0 and s.round_targets() == sorted(s.round_targets())
    assert StructuredSettings(rounds=4, power=1).round_targets() == [0.25, 0.5, 0.75, 1.0]
    with pytest.raises(StructuredSettingsError, match="'reduction' must be a number above 0 and below 1"):
        StructuredSettings(reduction=1.5).validate()
    with pytest.raises(StructuredSettingsError, match="'mode' must be one of global, uniform"):
        StructuredSettings.from_dict({"mode": "random"})
    with pytest.raises(StructuredSettingsError, match="'speed' is not known"):
        StructuredSettings.from_dict({"speed": 2})
    assert StructuredSettings.from_dict({"reduction": 0.4}) == StructuredSettings(reduction=0.4)


@pytest.fixture(scope="module")
def tiny(tiny_npz):
    from prune_studio.data import DataSpec, load_data

    return load_data(DataSpec(kind="npz", path=str(tiny_npz)))


def test_gradual_rounds_fine_tune_and_reach_the_target(trained, tiny):
    from prune_studio.models import CompileSettings
    from prune_studio.training import TrainingSettings

    settings = StructuredSettings(reduction=0.6, rounds=3, power=1, epochs_per_round=1)
    result = structured_fine_tune(trained, tiny, settings, TrainingSettings(epochs=2),
                                  CompileSettings("sparse_categorical_crossentropy", ["accuracy"]))
    info = result.to_dict()
    flops = [r["flops"] for r in info["rounds"]]
    assert len(flops) == 3 and flops == sorted(flops, reverse=True) and flops[0] < info["before"]["flops"]
    assert info["flops_reduction"] >= 0.6
    assert all("metrics" in r for r in info["rounds"])  # fine-tuned after every round
    assert result.fine_tune.final["accuracy"] > 0.8 and info["baseline"]["accuracy"] > 0.9
    assert result.model.count_params() == info["after"]["params"] < trained.count_params()
    assert trained.get_layer("c1").filters == 32  # the opened model is left as it was


def test_structured_model_can_be_magnitude_pruned_and_exported(trained, tiny, tmp_path):
    from prune_studio.export import ExportSettings, export_all
    from prune_studio.pruning.plan import PruningPlan
    from prune_studio.training import TrainingSettings

    plan = PruningPlan.uniform(trained, 0.5, 0, 6, frequency=2)
    # one epoch at 1e-3 (the fine-tuning default is a gentler 1e-4) recovers from halving every layer
    result = structured_fine_tune(trained, tiny, StructuredSettings(reduction=0.5),
                                  TrainingSettings(epochs=1, learning_rate=1e-3), plan=plan)
    assert min(result.fine_tune.sparsity.values()) >= 0.45
    report = export_all(result.model, tiny, tmp_path / "out", ExportSettings.from_dict(QUICK_EXPORT),
                        baseline_model=trained)
    assert all(a.ok for a in report.artifacts), [a.note for a in report.artifacts]
    tflite = next(a for a in report.artifacts if a.format == "tflite")
    assert tflite.accuracy > 0.8


def test_recipe_section_round_trips_and_old_recipes_still_load(tmp_path):
    from prune_studio.recipe import RecipeError, load_recipe, save_recipe

    base = {"schema_version": 1, "model": {"path": "m.keras", "trust": False}, "data": {"kind": "digits"},
            "plan": {"layers": {}}, "export": QUICK_EXPORT}
    (tmp_path / "old.json").write_text(json.dumps(base))
    assert load_recipe(tmp_path / "old.json").structured is None
    (tmp_path / "new.json").write_text(json.dumps({**base, "structured": {"reduction": 0.4, "rounds": 2}}))
    recipe = load_recipe(tmp_path / "new.json")
    assert recipe.structured == StructuredSettings(reduction=0.4, rounds=2)  # missing fields get defaults
    save_recipe(recipe, tmp_path / "again.json")
    text = (tmp_path / "again.json").read_text()
    save_recipe(load_recipe(tmp_path / "again.json"), tmp_path / "third.json")
    assert (tmp_path / "third.json").read_text() == text
    assert json.loads(text)["structured"]["criterion"] == "l1"
    (tmp_path / "bad.json").write_text(json.dumps({**base, "structured": {"round_to": 0}}))
    with pytest.raises(RecipeError, match="'round_to' must be a whole number") as info:
        load_recipe(tmp_path / "bad.json")
    assert info.value.field == "structured.round_to"


def test_plan_selection_uniform_with_a_group_override(trained):
    graph = analyze(trained)
    selection = plan_selection(graph, StructuredSettings(mode="uniform", keep_ratio=0.5, groups={"fc": 1.0}))
    assert "fc" not in selection and len(selection["c1"]) == 16 and len(selection["c2"]) == 16


@pytest.fixture
def model_file(trained, tmp_path):
    path = tmp_path / "dense.keras"
    trained.save(path)
    return path


def _cli(capsys, *args):
    from prune_studio.cli import main

    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_shrink_runs_exports_and_reports_flops(model_file, tiny_npz, tmp_path, capsys):
    from prune_studio.recipe import Recipe, save_recipe
    from prune_studio.data import DataSpec
    from prune_studio.export import ExportSettings
    from prune_studio.pruning.plan import PruningPlan
    from prune_studio.training import TrainingSettings

    recipe = Recipe(model_path=str(model_file), data=DataSpec("npz", str(tiny_npz)), plan=PruningPlan(),
                    training=TrainingSettings(epochs=1), export=ExportSettings.from_dict(QUICK_EXPORT))
    save_recipe(recipe, tmp_path / "recipe.json")
    code, out, err = _cli(capsys, "shrink", model_file, "--recipe", tmp_path / "recipe.json", "--reduction", 50,
                          "--out", tmp_path / "out", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert json.loads((tmp_path / "out" / "report.json").read_text()) == report
    assert report["structured"]["flops_reduction"] >= 0.5
    assert report["cost"]["flops_reduction"] == pytest.approx(report["structured"]["flops_reduction"])
    assert report["cost"]["model"]["params"] < report["cost"]["baseline"]["params"]
    assert report["recipe"]["structured"]["reduction"] == 0.5
    assert all(a["ok"] for a in report["artifacts"])
    small = keras.models.load_model(tmp_path / "out" / "model.keras")
    assert small.get_layer("c1").filters < 32

    # the same section run by 'prune --recipe'
    recipe.structured = StructuredSettings(mode="uniform", keep_ratio=0.5)
    save_recipe(recipe, tmp_path / "recipe2.json")
    code, out, err = _cli(capsys, "prune", model_file, "--recipe", tmp_path / "recipe2.json", "--out", tmp_path / "o2",
                          "--json")
    assert code == 0, err
    assert json.loads(out)["structured"]["groups"]["c1"] == {"size": 32, "kept": 16}


def test_cli_shrink_bad_input_is_one_sentence(model_file, tmp_path, capsys):
    code, out, err = _cli(capsys, "shrink", model_file, "--data", "digits", "--reduction", 120, "--out", tmp_path / "o")
    assert code == 2 and "--reduction 120 is not valid" in err and "Traceback" not in err
    code, out, err = _cli(capsys, "shrink", model_file, "--out", tmp_path / "o")
    assert code == 2 and "needs --data" in err
    code, out, err = _cli(capsys, "shrink", model_file, "--data", "digits", "--round-to", 0, "--out", tmp_path / "o")
    assert code == 2 and "round_to" in err and len(err.strip().splitlines()) == 1


def test_settings_naming_a_missing_group_say_which_groups_exist(trained):
    from prune_studio.structured import StructureError

    with pytest.raises(StructureError, match="group 'conv9'.*its groups are c1, c2, fc"):
        plan_selection(analyze(trained), StructuredSettings(groups={"conv9": 0.5}))


def test_the_result_lists_every_layers_new_output_shape_and_parameters(trained):
    from prune_studio.structured import shrink_model
    from prune_studio.structured.run import layer_sizes

    result = shrink_model(trained, StructuredSettings(mode="uniform", keep_ratio=0.5))
    sizes = result.layer_sizes
    assert sizes["c1"] == ((None, 8, 8, 16), 3 * 3 * 16)  # 32 -> 16 filters, no bias
    assert sizes["fc"][0] == (None, 24) and sizes["out"] == ((None, 10), 24 * 10 + 10)
    assert sum(params for _shape, params in sizes.values()) == result.model.count_params()
    # a nested model's layers are listed too, under their own names
    inner = keras.Sequential([L.Input((4,)), L.Dense(3, name="inner_dense")], name="inner")
    outer = keras.Sequential([L.Input((4,)), inner, L.Dense(2, name="head")])
    assert layer_sizes(outer)["inner_dense"] == ((None, 3), 15) and layer_sizes(outer)["inner"][1] == 15

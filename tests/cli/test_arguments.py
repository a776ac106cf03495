"""Exit code 2 and a one-line reason for bad arguments and inputs, before any training."""

import json


def test_help_lists_every_subcommand(cli):
    run = cli("--help")
    assert run.code == 0
    for name in ("inspect", "scan", "prune", "demo", "evaluate", "export"):
        assert name in run.stdout


def test_missing_required_arguments_exit_2(cli):
    run = cli("prune", "model.keras")
    assert run.code == 2
    assert "--recipe" in run.stderr


def test_missing_model_file_exit_2_with_one_line(cli, tmp_path):
    run = cli("evaluate", tmp_path / "nope.keras", "--data", "digits")
    assert run.code == 2
    assert "nope.keras" in run.error_line()
    assert "Traceback" not in run.stderr


def test_unknown_data_argument_exit_2(cli, demo_model_file, tmp_path):
    run = cli("evaluate", demo_model_file, "--data", tmp_path / "data.xyz")
    assert run.code == 2
    assert "--data" in run.error_line()


def test_invalid_recipe_names_the_field(cli, demo_model_file, tmp_path):
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({
        "schema_version": 1,
        "model": {"path": str(demo_model_file)},
        "data": {"kind": "digits"},
        "plan": {"suggest": {"target_sparsity": 0.8}},
        "training": {"epochs": 0},
    }))
    run = cli("prune", demo_model_file, "--recipe", recipe, "--out", tmp_path / "out")
    assert run.code == 2
    line = run.error_line()
    assert "training.epochs" in line and "0" in line
    assert not (tmp_path / "out").exists()


def test_multi_worker_without_tf_config_exit_2(cli, demo_model_file, tmp_path):
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({"schema_version": 1, "model": {"path": "m.keras"}, "data": {"kind": "digits"},
                                  "plan": {"suggest": {"max_drop": 0.02}}}))
    run = cli("prune", demo_model_file, "--recipe", recipe, "--out", tmp_path / "out",
                  "--strategy", "multi-worker", env={"TF_CONFIG": ""})
    assert run.code == 2
    assert "TF_CONFIG" in run.error_line()

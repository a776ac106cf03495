"""The CLI pipeline on text models (Embedding pruned) and on a two-input/two-output model, plus
training failures reported as one sentence. Each test runs ``prune-studio-cli`` in a subprocess."""


import numpy as np
import pytest

from prune_studio.compat import keras
from prune_studio.data import DataSpec
from prune_studio.export import ExportSettings
from prune_studio.pruning.plan import LayerPlan, PruningPlan
from prune_studio.pruning.schedules import PolynomialDecay
from prune_studio.recipe import Recipe, save_recipe
from prune_studio.training import TrainingSettings
from small_models import bag_model, bigru_model, text_data, trained_two_by_two, two_by_two_data, two_by_two_npz


def _plan(layers, end):
    return PruningPlan({name: LayerPlan(enabled=True, schedule=PolynomialDecay(0.2, 0.6, 0, end, frequency=1))
                        for name in layers})


def _zeros(model, layer):
    return float(np.mean(model.get_layer(layer).weights[0].numpy() == 0))


def _recipe(tmp_path, model, layers, data_path, tflite=()):
    model_path = tmp_path / f"{model.name}.keras"
    model.save(model_path)
    recipe = Recipe(model_path=str(model_path), data=DataSpec("npz", str(data_path)), plan=_plan(layers, 10),
                    suggest=None, training=TrainingSettings(epochs=1, batch_size=16, learning_rate=1e-3),
                    export=ExportSettings(keras=True, h5=False, tflite=tflite, sparse=False, representative_samples=64))
    return model_path, save_recipe(recipe, tmp_path / "recipe.json")


def _token_npz(tmp_path, **overrides):
    x_train, y_train, x_test, y_test = text_data()
    arrays = dict(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, **overrides)
    path = tmp_path / "tokens.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.slow
def test_cli_prunes_a_bigru_with_its_embedding(cli, tmp_path):
    model = bigru_model()
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    model_path, recipe = _recipe(tmp_path, model, ["emb", "bigru", "out"], _token_npz(tmp_path), tflite=("float32",))
    run = cli("prune", model_path, "--recipe", recipe, "--out", tmp_path / "out", "--json")
    report = run.json()
    assert "Fine-tuning: 1 epoch(s)" in run.stderr
    assert report["training"]["sparsity"]["emb"] > 0.5
    # The zoo's BiGRU case: opened, pruned through the CLI, exported and every file verified.
    assert {a["format"] for a in report["artifacts"]} >= {"keras", "tflite"}
    for art in report["artifacts"]:
        assert art["ok"] and art["accuracy"] is not None, (art["name"], art["note"])
    reloaded = keras.models.load_model(tmp_path / "out" / "model.keras", compile=False)
    assert _zeros(reloaded, "emb") > 0.5


def test_cli_reports_a_training_failure_in_one_sentence(cli, tmp_path):
    """The file says one-hot labels (categorical cross-entropy) but the data has class ids."""
    model = bag_model()
    model.compile("adam", "categorical_crossentropy", ["accuracy"])
    model_path, recipe = _recipe(tmp_path, model, ["out"], _token_npz(tmp_path))
    run = cli("prune", model_path, "--recipe", recipe, "--out", tmp_path / "out")
    assert run.code in (1, 2), run.stderr[-2000:]
    line = run.error_line()
    assert "in user code" not in line and "File " not in line and "node" not in line
    assert "does not fit the model" in line and "choose data shaped like" in line
    assert line.count(". ") == 0 and line.endswith(".")


def test_cli_prunes_and_exports_a_two_input_two_output_model(cli, tmp_path):
    data = two_by_two_data()
    model = trained_two_by_two(data)
    npz = two_by_two_npz(tmp_path / "two.npz", data)
    model_path, recipe = _recipe(tmp_path, model, ["shared", "head_hidden", "second"], npz, tflite=("float32", "int8"))
    run = cli("prune", model_path, "--recipe", recipe, "--out", tmp_path / "out", "--json")
    report = run.json()
    final = report["training"]["final"]
    assert {"first_accuracy", "second_accuracy", "accuracy"} <= set(final) and final["accuracy"] > 0.8, final
    assert [a["name"] for a in report["artifacts"]] == [
        "Keras .keras (tf-keras, stripped)", "Keras .keras (Keras 3, stripped)", "TFLite float32", "TFLite full-integer int8"]
    for art in report["artifacts"]:
        assert art["ok"] and "accuracy per output: first" in art["note"], art
        assert abs(art["accuracy"] - final["accuracy"]) < 0.05, art
    evaluated = cli("evaluate", tmp_path / "out" / "model_int8.tflite", "--data", npz, "--json").json()
    int8 = next(art for art in report["artifacts"] if art["name"] == "TFLite full-integer int8")
    assert abs(evaluated["accuracy"] - int8["accuracy"]) < 1e-9
    assert set(evaluated["per_output"]) == {"first", "second"}


def test_cli_names_the_npz_keys_a_two_input_model_needs(cli, tmp_path):
    data = two_by_two_data(64)
    model = trained_two_by_two(data, epochs=1)
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=data["left"], y_train=data["first"], x_test=data["left"], y_test=data["first"])
    model_path, recipe = _recipe(tmp_path, model, ["shared"], bad)
    run = cli("prune", model_path, "--recipe", recipe, "--out", tmp_path / "out")
    assert run.code == 2, run.stderr[-2000:]
    line = run.error_line()
    assert "inputs are left, right and its outputs first, second" in line
    assert "x_train/left, x_train/right, x_test/left, x_test/right, y_train/first" in line


def test_cli_scores_a_text_model_on_its_token_ids(cli, tmp_path):
    """The baseline the CLI reports is the model's own accuracy on the file's tokens (ids up to 39
    were once taken for pixel values and divided by 255, which scored a trained model at chance)."""
    x_train, y_train, x_test, y_test = text_data()
    model = bag_model()
    model.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(x_train, y_train, epochs=20, batch_size=32, verbose=0)
    own = float(np.mean(model.predict(x_test, verbose=0).argmax(1) == y_test))
    assert own > 0.8  # a model that has learned, so chance (1/3) cannot pass for it
    model_path, recipe = _recipe(tmp_path, model, ["emb", "out"], _token_npz(tmp_path))
    report = cli("prune", model_path, "--recipe", recipe, "--out", tmp_path / "out", "--json").json()
    assert report["training"]["baseline"]["accuracy"] == pytest.approx(own, abs=1e-6)
    assert report["training"]["final"]["accuracy"] > own - 0.15

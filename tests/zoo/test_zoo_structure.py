"""Models with several inputs and outputs, custom layers and subclassed models through the pipeline."""

import pytest

from zoo_pipeline import CUSTOM_OBJECTS, assert_exported_and_verified, make_zoo, model_file, prune_recipe, run_pipeline


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    return make_zoo(tmp_path_factory.mktemp("structure"), "tf_keras",
                    ["two_io", "custom_layer", "subclassed:savedmodel"])


def test_two_inputs_two_outputs(zoo, tmp_path):
    # its Keras 3 copy is checked by tests/export/test_multi_io_export.py and the Keras 3 zoo: not again here
    described, report = run_pipeline(model_file(zoo, "two_io"), zoo / "two_io.npz", tmp_path / "out",
                                     export={"keras3": False})
    names = {layer["name"] for layer in described["layers"] if layer["prunable"]}
    assert {"shared", "trunk_dense1", "cls", "flag"} <= names
    assert_exported_and_verified(report)


def test_custom_layer_with_custom_objects(zoo, tmp_path):
    _, report = run_pipeline(model_file(zoo, "custom_layer"), zoo / "custom_layer.npz", tmp_path / "out",
                             "--custom-objects", CUSTOM_OBJECTS)
    # Keras 3 does not know the user's tf-keras class: its extra copy is left out, saying why
    keras3 = next(a for a in report["artifacts"] if a["name"] == "Keras .keras (Keras 3, stripped)")
    assert keras3["dropped"] and keras3["note"].startswith("Not made: Keras 3 cannot hold")
    assert_exported_and_verified(report)


def test_subclassed_savedmodel_says_in_one_sentence_why_it_cannot_be_pruned(zoo, tmp_path):
    """Its layers are called from TinyNet.call(), which cannot be rewired inside the revived
    model: the layers are listed, marked not prunable with the reason, and a plan naming them
    is refused in one sentence (the model still opens, fine-tunes and exports as it is)."""
    from tests.cli.conftest import run_cli

    path = model_file(zoo, "subclassed", "savedmodel")
    described = run_cli("inspect", path, "--json", "--custom-objects", CUSTOM_OBJECTS).json()
    layers = {layer["name"]: layer for layer in described["layers"]}
    assert {"conv", "out"} <= set(layers) and not any(layer["prunable"] for layer in layers.values())
    reason = layers["conv"]["reason"]
    assert "subclassed model TinyNet" in reason and "Functional" in reason and "\n" not in reason
    recipe = prune_recipe(tmp_path / "recipe.json", ["conv", "out"])
    refused = run_cli("prune", path, "--data", zoo / "subclassed.npz", "--recipe", recipe, "--out", tmp_path / "out",
                      "--custom-objects", CUSTOM_OBJECTS)
    line = refused.error_line()
    assert refused.code != 0 and "'conv' cannot be pruned" in line and "keras.Model(inputs, outputs)" in line
    assert "Traceback" not in refused.stderr

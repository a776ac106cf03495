"""Models with several inputs and outputs, custom layers and subclassed models through the pipeline."""

import pytest

from zoo_pipeline import CUSTOM_OBJECTS, assert_exported_and_verified, make_zoo, model_file, run_pipeline


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    return make_zoo(tmp_path_factory.mktemp("structure"), "tf_keras",
                    ["two_io", "custom_layer", "subclassed:savedmodel"])


def test_two_inputs_two_outputs(zoo, tmp_path):
    described, report = run_pipeline(model_file(zoo, "two_io"), zoo / "two_io.npz", tmp_path / "out")
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


@pytest.mark.xfail(strict=True, reason="the layers of a revived subclassed SavedModel cannot be wrapped yet: "
                                       "the run succeeds but prunes nothing")
def test_subclassed_savedmodel(zoo, tmp_path):
    _, report = run_pipeline(model_file(zoo, "subclassed", "savedmodel"), zoo / "subclassed.npz", tmp_path / "out",
                             "--custom-objects", CUSTOM_OBJECTS, export={"keras3": False})
    assert_exported_and_verified(report)

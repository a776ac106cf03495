"""Models with several inputs and outputs, custom layers and subclassed models through the pipeline."""

import pytest

from zoo_pipeline import CUSTOM_OBJECTS, assert_exported_and_verified, make_zoo, model_file, run_pipeline


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    return make_zoo(tmp_path_factory.mktemp("structure"), "tf_keras",
                    ["two_io", "custom_layer", "subclassed:keras,savedmodel"])


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


@pytest.mark.parametrize("fmt", ["keras", "savedmodel"])
def test_subclassed_model_is_pruned_exported_and_verified(zoo, tmp_path, fmt):
    """A subclassed model (its layers called from TinyNet.call()) opens, given Input layers from
    its build shape or saved signature; with its class from --custom-objects, the layers of its
    copy are wrapped where they are, so the fine-tune prunes them and the files hold the zeros."""
    described, report = run_pipeline(model_file(zoo, "subclassed", fmt), zoo / "subclassed.npz", tmp_path / "out",
                                      "--custom-objects", CUSTOM_OBJECTS, "--trust", export={"keras3": False})
    assert {"conv", "out"} <= {layer["name"] for layer in described["layers"] if layer["prunable"]}
    assert set(report["training"]["sparsity"]) == {"conv", "out"}
    assert_exported_and_verified(report)

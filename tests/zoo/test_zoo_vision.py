"""Image architectures users bring (keras.applications, weights=None, 32x32) through the pipeline."""

import pytest

from prune_studio.models import describe_model, load_model
from zoo_pipeline import assert_exported_and_verified, kinds_to_make, make_zoo, model_file, run_pipeline

KINDS = ["mobilenet_v2:keras,h5,savedmodel", "mobilenet_v3_small", "resnet_small"]


@pytest.fixture(scope="module")
def zoo(request, tmp_path_factory):
    return make_zoo(tmp_path_factory.mktemp("vision"), "tf_keras", kinds_to_make(request, KINDS, heavy={"mobilenet_v3_small"}))


# MobileNetV3Small (about two minutes) runs in `make bench`, not in CI: MobileNetV2 and the
# ResNet cover the same pipeline there.
@pytest.mark.parametrize("kind", ["mobilenet_v2", pytest.param("mobilenet_v3_small", marks=pytest.mark.heavy),
                                  "resnet_small"])
def test_prunes_exports_and_verifies(zoo, tmp_path, kind):
    # MobileNetV3's TF-op layers have no Keras 3 form: its extra Keras 3 copy is never made, and
    # trying costs a child process (the "Not made" note is tested in test_zoo_structure.py).
    export = {"keras3": False} if kind == "mobilenet_v3_small" else None
    described, report = run_pipeline(model_file(zoo, kind), zoo / f"{kind}.npz", tmp_path / "out", export=export)
    assert described["total_params"] > 0
    assert_exported_and_verified(report)


@pytest.mark.parametrize("fmt", ["keras", "h5", "savedmodel"])
def test_every_format_opens_the_same_model(zoo, fmt):
    loaded = load_model(model_file(zoo, "mobilenet_v2", fmt))
    description = describe_model(loaded.model, loaded.path)
    layers = list(description.layers())
    assert len(layers) > 150
    assert sum(layer.prunable for layer in layers) > 50
    assert not [layer.name for layer in layers if layer.type == "InputLayer" and layer.prunable]

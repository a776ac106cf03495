"""Files written by Keras 3 (the default Keras of TF 2.16+) through the pipeline, and back out as Keras 3."""

import pytest

from zoo_pipeline import assert_exported_and_verified, kinds_to_make, make_zoo, model_file, run_pipeline

KINDS = ["mobilenet_v2", "resnet_small", "text_lstm", "two_io"]


@pytest.fixture(scope="module")
def zoo(request, tmp_path_factory):
    return make_zoo(tmp_path_factory.mktemp("keras3"), "keras3", kinds_to_make(request, KINDS, heavy={"mobilenet_v2"}))


# A Keras 3 .h5 file is opened and described in tests/models/test_keras3.py; here each
# architecture goes through the whole pipeline once.
# The Keras 3 MobileNetV2 (about two minutes) runs in `make bench`; the ResNet covers a Keras 3
# image model in CI.
@pytest.mark.parametrize("kind,fmt", [pytest.param("mobilenet_v2", "keras", marks=pytest.mark.heavy),
                                      ("resnet_small", "keras"),
                                      ("text_lstm", "keras"), ("two_io", "keras")])
def test_prunes_exports_and_verifies(zoo, tmp_path, kind, fmt):
    described, report = run_pipeline(model_file(zoo, kind, fmt), zoo / f"{kind}.npz", tmp_path / "out")
    assert_exported_and_verified(report)
    # a model that came in as a Keras 3 file goes out as one, verified by Keras 3 itself
    keras3 = [a for a in report["artifacts"] if "keras 3" in a["name"].lower()]
    assert keras3 and all(a["ok"] for a in keras3), [a["name"] for a in report["artifacts"]]

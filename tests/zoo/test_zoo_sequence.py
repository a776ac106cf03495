"""Text and signal models (Embedding + LSTM/GRU/attention, Conv1D + BatchNorm) through the pipeline."""

import pytest

from zoo_pipeline import assert_exported_and_verified, make_zoo, model_file, run_pipeline

KINDS = ["text_lstm", "text_bigru", "mha_encoder", "conv1d_bn"]


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    return make_zoo(tmp_path_factory.mktemp("sequence"), "tf_keras", KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_prunes_exports_and_verifies(zoo, tmp_path, kind):
    # TensorFlow 2.21's int8 calibration crashes on GRU layers; the export refuses that file
    export = {"tflite": ["float32", "dynamic"]} if kind == "text_bigru" else None
    described, report = run_pipeline(model_file(zoo, kind), zoo / f"{kind}.npz", tmp_path / "out", export=export)
    names = {layer["name"] for layer in described["layers"] if layer["prunable"]}
    if kind != "conv1d_bn":
        assert "embed" in names  # the Embedding table is pruned and still fine-tunes
    assert_exported_and_verified(report)

"""Text and signal models (Embedding + LSTM/GRU/attention, Conv1D + BatchNorm) through the pipeline."""

import pytest

from zoo_pipeline import assert_exported_and_verified, kinds_to_make, make_zoo, model_file, run_pipeline

# The Embedding+BiGRU model goes through the same CLI pipeline (prune, export, verify every file)
# in tests/cli/test_text_and_multi_io_cli.py, and through every TFLite kind in
# tests/export/test_export_sequences.py; a third run here cost CI almost two minutes. The tf-keras
# Embedding+LSTM runs in `make bench` (heavy): its Keras 3 file goes through the same pipeline in
# tests/zoo/test_zoo_keras3.py in CI.
KINDS = ["text_lstm", "mha_encoder", "conv1d_bn"]


@pytest.fixture(scope="module")
def zoo(request, tmp_path_factory):
    return make_zoo(tmp_path_factory.mktemp("sequence"), "tf_keras", kinds_to_make(request, KINDS, heavy={"text_lstm"}))


@pytest.mark.parametrize("kind", [pytest.param("text_lstm", marks=pytest.mark.heavy), "mha_encoder", "conv1d_bn"])
def test_prunes_exports_and_verifies(zoo, tmp_path, kind):
    described, report = run_pipeline(model_file(zoo, kind), zoo / f"{kind}.npz", tmp_path / "out")
    names = {layer["name"] for layer in described["layers"] if layer["prunable"]}
    if kind != "conv1d_bn":
        assert "embed" in names  # the Embedding table is pruned and still fine-tunes
    assert_exported_and_verified(report)

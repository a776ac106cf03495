"""Text and signal models (Embedding + LSTM/GRU/attention, Conv1D + BatchNorm) through the pipeline."""

import pytest

from zoo_pipeline import assert_exported_and_verified, make_zoo, model_file, run_pipeline

# The Embedding+BiGRU model goes through the same CLI pipeline (prune, export, verify every file)
# in tests/cli/test_text_and_multi_io_cli.py, and through every TFLite kind in
# tests/export/test_export_sequences.py; a third run here cost CI almost two minutes.
KINDS = ["text_lstm", "mha_encoder", "conv1d_bn"]


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    return make_zoo(tmp_path_factory.mktemp("sequence"), "tf_keras", KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_prunes_exports_and_verifies(zoo, tmp_path, kind):
    described, report = run_pipeline(model_file(zoo, kind), zoo / f"{kind}.npz", tmp_path / "out")
    names = {layer["name"] for layer in described["layers"] if layer["prunable"]}
    if kind != "conv1d_bn":
        assert "embed" in names  # the Embedding table is pruned and still fine-tunes
    assert_exported_and_verified(report)

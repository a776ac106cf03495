"""A model that came in as a Keras 3 file goes out as Keras 3 files, with the same weights."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from prune_studio.data import DataSpec, load_data
from prune_studio.export import ExportSettings, export_all
from prune_studio.models import load_model
from prune_studio.models.loading import read_header

MAKER = Path(__file__).parents[1] / "models" / "keras3_maker.py"


@pytest.fixture(scope="module")
def keras3_cnn(tmp_path_factory):
    out = tmp_path_factory.mktemp("k3")
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    subprocess.run([sys.executable, str(MAKER), str(out), "cnn"], env=env, check=True, timeout=240, capture_output=True)
    return out / "cnn.keras"


def test_keras3_model_is_exported_as_keras3_files(keras3_cnn, tmp_path):
    loaded = load_model(keras3_cnn)
    assert loaded.saved_with.startswith("keras 3.")
    data = load_data(DataSpec("digits"))
    settings = ExportSettings(keras=True, h5=True, tflite=("float32",), sparse=False)
    report = export_all(loaded.model, data, tmp_path, settings, baseline_path=keras3_cnn, baseline_model=loaded.model)
    names = [Path(a.path).name for a in report.artifacts]
    assert names == ["model.keras", "model.h5", "model_float32.tflite"]  # no tf-keras copy, no second .keras
    for art in report.artifacts[:2]:
        assert art.ok, art.note
        assert art.kind == "keras3" and "Keras 3" in art.name
        assert read_header(Path(art.path)).keras_version.startswith("3")
        # our own loader rebuilds it, weights equal to the model exported
        again = load_model(art.path).model
        for a, b in zip(again.get_weights(), loaded.model.get_weights()):
            np.testing.assert_array_equal(a, b)
    assert report.failed_artifacts() == []

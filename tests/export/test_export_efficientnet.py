"""EfficientNetB0's sparse int8 files run with the built-in kernels when XNNPack refuses them."""

import numpy as np
import pytest

from prune_studio.compat import keras
from prune_studio.data.dataset import Dataset
from prune_studio.export import ExportSettings, export_all


@pytest.mark.slow
def test_efficientnet_sparse_int8_files_are_exported_and_run_without_xnnpack(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.applications.EfficientNetB0(input_shape=(32, 32, 3), weights=None, classes=4)
    for w in model.weights:
        if len(w.shape) >= 2:  # 60% zeros in every kernel, as after pruning
            a = w.numpy()
            a[np.abs(a) < np.quantile(np.abs(a), 0.6)] = 0
            w.assign(a)
    rng = np.random.default_rng(0)
    x = rng.random((48, 32, 32, 3), dtype=np.float32) * 255
    y = rng.integers(0, 4, 48)
    data = Dataset("synthetic", x[:32], y[:32], x[32:], y[32:], 4, (32, 32, 3))
    settings = ExportSettings(keras=False, h5=False, tflite=("dynamic", "int8"), sparse_int8=True,
                              representative_samples=16)
    report = export_all(model, data, tmp_path, settings, baseline_model=model)
    by_file = {a.path.rsplit("/", 1)[-1]: a for a in report.artifacts}
    for name in ("model_dynamic_sparse.tflite", "model_int8_sparse.tflite"):
        art = by_file[name]
        assert art.ok, art.note
        assert art.note.startswith("runs only without the XNNPack delegate")
        assert (tmp_path / name).is_file()
    # the dense dynamic-range file agrees with Keras (same weights, int8 storage)
    keras_pred = model.predict(x[32:], verbose=0).argmax(1)
    assert by_file["model_dynamic.tflite"].accuracy == pytest.approx(float(np.mean(keras_pred == y[32:])), abs=0.2)

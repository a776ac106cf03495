"""A run whose exports fail exits 1 and says how many artifacts failed."""

import json

import numpy as np

from prune_studio.compat import keras


def test_failed_exports_exit_1_with_a_count(cli, tmp_path):
    # A recurrent model without a fixed sequence length: its TFLite files cannot be made.
    model = keras.Sequential([keras.layers.Input((None,), dtype="int32"), keras.layers.Embedding(20, 4),
                              keras.layers.LSTM(4), keras.layers.Dense(2, activation="softmax")])
    model.save(tmp_path / "rnn.keras")
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 20, (40, 6)).astype(np.int32), rng.integers(0, 2, 40)
    np.savez(tmp_path / "data.npz", x_train=x[:32], y_train=y[:32], x_test=x[32:], y_test=y[32:])
    run = cli("export", tmp_path / "rnn.keras", "--data", tmp_path / "data.npz", "--out", tmp_path / "out",
              "--tflite", "float32,dynamic", "--no-h5", "--no-sparse", "--no-keras3")
    assert run.code == 1, run.stderr[-2000:]
    line = run.error_line()
    assert "2 of 3 artifacts could not be exported" in line and "TFLite float32" in line
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [a["ok"] for a in report["artifacts"]] == [True, False, False]
    assert "fixed sequence length" in report["artifacts"][1]["note"]

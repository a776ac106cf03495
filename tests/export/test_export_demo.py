"""Export the pruned demo model with every artifact kind; check files, accuracy and report."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from prune_studio.compat import keras
from prune_studio.export import ExportReport, ExportSettings, export_all, gzip_size

# Every file the exporter can write, the dominated sparse ones kept so each is checked.
ALL = ExportSettings(keras=True, h5=True, tflite=("float32", "dynamic", "float16", "int8"),
                     int8_io="int8", sparse=True, sparse_int8=True, keep_dominated=True, max_accuracy_drop=0.03)
KERAS3_CHECK = """
import os, sys
os.environ.pop("TF_USE_LEGACY_KERAS", None)
import keras, numpy as np
model = keras.saving.load_model(sys.argv[1], compile=False)
np.save(sys.argv[3], np.asarray(model(np.load(sys.argv[2]), training=False)))
print(type(model).__name__, keras.__version__)
"""


@pytest.fixture(scope="module")
def exported(pruned_demo, digits_dataset, demo_model_file, tmp_path_factory):
    original, wrapped = pruned_demo
    out = tmp_path_factory.mktemp("demo_export")
    seen = []
    report = export_all(wrapped, digits_dataset, out, ALL, baseline_path=demo_model_file,
                        baseline_model=original, progress=lambda f, t: seen.append((f, t)))
    from prune_studio.pruning import strip_pruning

    stripped = strip_pruning(wrapped)
    pred = stripped.predict(digits_dataset.x_test, verbose=0).argmax(axis=1)
    reference = float(np.mean(pred == digits_dataset.y_test))
    return report, out, seen, reference, stripped


def test_every_artifact_file_is_written_verified_and_measured(exported):
    report, out, _, reference, _ = exported
    names = sorted(Path(a.path).name for a in report.artifacts)
    expected = ["model.h5", "model.keras", "model_keras3.keras"] + [
        f"model_{k}{s}.tflite" for k in ("dynamic", "float16", "float32", "int8") for s in ("", "_sparse")
    ]
    assert names == sorted(expected)
    for art in report.artifacts:
        assert art.ok, (art.name, art.note)
        path = Path(art.path)
        assert path.parent == out and path.is_file()
        assert art.bytes == path.stat().st_size
        assert art.gzip_bytes == gzip_size(path)
        assert art.latency_ms is not None and art.latency_ms > 0
        # Float files match the stripped model; quantized ones stay within two points of it.
        tolerance = 0.003 if art.format != "tflite" or "float" in Path(art.path).name else 0.02
        assert abs(art.accuracy - reference) <= tolerance, (art.name, art.accuracy, reference)
    assert not [p for p in out.iterdir() if ".tmp" in p.name]


def test_keras_files_hold_the_stripped_weights(exported, digits_dataset):
    report, out, _, _, stripped = exported
    for name in ("model.keras", "model.h5"):
        reloaded = keras.models.load_model(out / name, compile=False)
        assert not any("prune_low_magnitude" in layer.name for layer in reloaded.layers)
        for a, b in zip(reloaded.get_weights(), stripped.get_weights()):
            np.testing.assert_array_equal(a, b)


def test_pruning_and_quantization_shrink_the_gzipped_file(exported):
    report, *_ = exported
    by_name = {Path(a.path).name: a for a in report.artifacts}
    base = report.baseline["gzip_bytes"]
    assert base / by_name["model.keras"].gzip_bytes > 2.5
    assert base / by_name["model_int8.tflite"].gzip_bytes > 8
    assert by_name["model_int8_sparse.tflite"].bytes < by_name["model_int8.tflite"].bytes


def test_int8_io_file_takes_int8_input(exported):
    report, out, *_ = exported
    interp = Interpreter(model_path=str(out / "model_int8.tflite"))
    assert interp.get_input_details()[0]["dtype"] == np.int8
    assert interp.get_output_details()[0]["dtype"] == np.int8


def test_delegate_fallback_note_matches_what_the_default_interpreter_does(exported):
    report, *_ = exported
    for art in (a for a in report.artifacts if a.format == "tflite"):
        try:
            Interpreter(model_path=art.path).allocate_tensors()
            default_runs = True
        except Exception:  # noqa: BLE001 - the delegate's refusal is what we probe
            default_runs = False
        assert ("without the XNNPack delegate" in art.note) == (not default_runs), (art.name, art.note)
    # XNNPack refuses int8 files with sparse weights (shared/FACTS.md): the fallback is exercised.
    assert "without the XNNPack delegate" in next(a for a in report.artifacts if a.path.endswith("int8_sparse.tflite")).note


def test_report_json_has_baseline_artifacts_and_sparsity(exported, demo_model_file):
    report, out, seen, _, stripped = exported
    data = json.loads((out / "report.json").read_text())
    assert data["baseline"]["bytes"] == Path(demo_model_file).stat().st_size
    assert data["baseline"]["gzip_bytes"] == gzip_size(demo_model_file)
    assert 0.97 < data["baseline"]["accuracy"] <= 1
    for art in data["artifacts"]:
        assert set(art) >= {"name", "format", "path", "bytes", "gzip_bytes", "accuracy", "latency_ms", "ok", "note"}
    sp = data["sparsity"]
    assert sp["layers"]["dense1"] == pytest.approx(0.8, abs=0.01)
    assert 0.75 < sp["overall"] < 0.82
    assert sp["nonzero"] == sum(int(np.count_nonzero(w)) for w in stripped.get_weights())
    assert data["artifacts"][0]["nonzero"] == sp["nonzero"] < data["baseline"]["nonzero"]
    assert ExportReport.from_dict(data).to_dict() == data
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_csv_and_html_reports(exported):
    report, out, *_ = exported
    lines = (out / "report.csv").read_text().splitlines()
    assert lines[0].startswith("name,format,bytes,gzip_bytes,ratio")
    assert len(lines) == 2 + len(report.artifacts)
    page = (out / "report.html").read_text()
    assert "<svg" in page and "TFLite full-integer int8" in page and "int8_io" in page
    assert zipfile.is_zipfile(out / "model.keras")


def test_keras3_file_opens_in_keras3_with_the_same_outputs(exported, digits_dataset, tmp_path):
    report, out, _, _, stripped = exported
    x = digits_dataset.x_test[:50]
    np.save(tmp_path / "x.npy", x)
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    proc = subprocess.run([sys.executable, "-c", KERAS3_CHECK, str(out / "model_keras3.keras"), str(tmp_path / "x.npy"),
                           str(tmp_path / "y.npy")], env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[1].startswith("3.")
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), stripped(x, training=False).numpy(), atol=1e-5)
    art = next(a for a in report.artifacts if a.path.endswith("model_keras3.keras"))
    assert art.kind == "keras3" and "Keras 3" in art.name and "Keras 3" in art.note
    assert next(a for a in report.artifacts if a.path.endswith("model.keras")).kind == "tf-keras"
    with pytest.raises(Exception):  # tf-keras cannot read it either: two dialects, two files
        keras.models.load_model(out / "model_keras3.keras", compile=False)


def test_ratios_compare_with_the_unpruned_model_in_the_same_format(exported, pruned_demo, digits_dataset):
    report, *_ = exported
    original, _ = pruned_demo
    import tensorflow as tf

    dense_tflite = len(tf.lite.TFLiteConverter.from_keras_model(original).convert())
    for art in report.artifacts:
        assert art.baseline_gzip_bytes and art.baseline_bytes, art.name
        assert report.ratio(art) == pytest.approx(art.baseline_gzip_bytes / art.gzip_bytes)
        assert art.speedup is not None and art.speedup > 0, art.name
        if art.format != "tflite":  # Keras files are timed as the in-memory baseline is
            assert art.speedup == pytest.approx(report.baseline["latency_ms"] / art.latency_ms)
        if art.format == "tflite":
            assert art.baseline_label == "unpruned float32 TFLite"
            assert art.baseline_bytes == pytest.approx(dense_tflite, rel=0.02)
        else:
            assert "without optimizer state" in art.baseline_label
            assert art.baseline_gzip_bytes <= report.baseline["gzip_bytes"] * 1.01
    float32 = next(a for a in report.artifacts if a.path.endswith("model_float32.tflite"))
    assert 2.5 < report.ratio(float32) < 5  # 80% zeros, float32 both: not the 10x of the opened file


def test_one_recommended_file_and_advice_for_every_file(exported):
    report, *_ = exported
    picked = [a for a in report.artifacts if a.recommended]
    assert len(picked) == 1
    base = report.baseline["accuracy"]
    fitting = [a for a in report.artifacts if a.ok and a.accuracy >= base - 0.03]
    assert picked[0].gzip_bytes == min(a.gzip_bytes for a in fitting)
    assert picked[0].advice.startswith("Recommended")
    for art in report.artifacts:
        assert art.advice.endswith(".") and "\n" not in art.advice, art.name
    sparse_int8 = next(a for a in report.artifacts if a.path.endswith("model_int8_sparse.tflite"))
    assert "sparse kernels" in sparse_int8.advice


def test_samples_show_the_baseline_and_every_file_on_test_samples(exported, digits_dataset):
    report, out, *_ = exported
    assert len(report.samples) == 8
    names = {a.name for a in report.artifacts if a.ok}
    for sample in report.samples:
        assert sample["label"] == int(digits_dataset.y_test[sample["index"]])
        assert set(sample["preds"]) == names
        assert 0 <= sample["baseline_pred"] < 10
    # the files agree with each other on most samples (they hold the same pruned weights)
    agree = [p == s["preds"]["TFLite float32"] for s in report.samples for p in s["preds"].values()]
    assert np.mean(agree) > 0.9
    assert json.loads((out / "report.json").read_text())["samples"] == report.samples

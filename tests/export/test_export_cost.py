"""What makes big exports cheaper changes no figure: gzip sizes, Keras checks, one trace per model."""

import io
import zipfile

import numpy as np

from prune_studio.compat import keras
from prune_studio.export import ExportSettings, export_all, gzip_size, verify
from prune_studio.export.sizes import Deflater, gzip_sizes, in_background
from prune_studio.export.tflite import convert, make_source
from prune_studio.export.tflite_batch import TFLiteBatch


def _tutorial_gzip(path) -> int:
    """The TFMOT tutorial's measure, as the report used to take it: the file deflated into a zip in memory."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.write(path, arcname="model")
    return buf.getbuffer().nbytes


def _cnn(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((8, 8, 1)), keras.layers.Conv2D(8, 3, name="conv"), keras.layers.BatchNormalization(name="bn"),
        keras.layers.ReLU(name="relu"), keras.layers.Flatten(name="flat"), keras.layers.Dense(10, name="out"),
    ])


def test_gzip_size_is_the_tutorials_measure_for_small_and_multi_mebibyte_files(tiny_model, tmp_path):
    rng = np.random.default_rng(0)
    weights = rng.standard_normal(900_000).astype(np.float32)  # 3.6 MB, several 1 MiB reads
    weights[rng.random(weights.size) < 0.5] = 0
    files = {"empty.bin": b"", "small.bin": b"abc" * 10, "weights.bin": weights.tobytes()}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    tiny_model.save(tmp_path / "tiny.keras")
    paths = [tmp_path / name for name in files] + [tmp_path / "tiny.keras"]
    expected = [_tutorial_gzip(p) for p in paths]
    assert [gzip_size(p) for p in paths] == expected
    assert gzip_sizes(paths) == expected  # two at a time on threads: the same figures, in order
    assert in_background(paths[2]).result() == expected[2]
    assert expected[2] < weights.nbytes  # the zeros did compress: not a constant
    deflater = Deflater()  # files measured as they are added, the ones still queued at the end
    for i, path in enumerate(paths * 3):
        deflater.add(i, path)
    assert deflater.sizes() == list(enumerate(expected * 3))


def test_a_reloaded_keras_file_with_the_models_weights_takes_the_models_figures(digits_dataset, tmp_path):
    x, y = digits_dataset.x_test[:40], digits_dataset.y_test[:40]
    model = _cnn()
    model.save(tmp_path / "m.keras")
    measured = verify.measure_model(model, x, y)
    fast = verify.verify_keras(str(tmp_path / "m.keras"), x, y, model, measured)
    full = verify.verify_keras(str(tmp_path / "m.keras"), x, y)
    assert fast.error == "" and full.error == ""
    assert f"outputs equal on {verify.KERAS_CHECK_SAMPLES} samples" in fast.note and "(40 samples)" in fast.note
    assert full.note.startswith("reloaded and run")
    assert fast.accuracy == full.accuracy == measured.accuracy
    np.testing.assert_allclose(fast.preds, full.preds, atol=1e-5)


def test_a_file_whose_weights_differ_is_run_on_every_sample(digits_dataset, tmp_path):
    x, y = digits_dataset.x_test[:40], digits_dataset.y_test[:40]
    saved, other = _cnn(0), _cnn(1)
    saved.save(tmp_path / "m.h5")
    result = verify.verify_keras(str(tmp_path / "m.h5"), x, y, other, verify.measure_model(other, x, y))
    assert result.note.startswith("reloaded and run")  # the file's own figures, not the other model's
    assert result.accuracy == verify.measure_model(saved, x, y).accuracy


def test_the_in_process_converter_traces_a_model_once_for_all_its_files(tmp_path):
    model = _cnn()
    x = np.random.default_rng(0).random((8, 8, 8, 1), dtype=np.float32)
    kinds = [("float32", False), ("float32", True), ("float16", False), ("int8", False)]
    files = [(f"{k}{s}", k, s, tmp_path / f"{k}{s}.tflite") for k, s in kinds]
    with TFLiteBatch(None) as batch:  # no child: the conversions run here
        batch.add("model", model, files, calibration=x)
        for name, *_ in files:
            assert batch.wait(name) == ("", "")
        assert len(batch._sources) == 1
        for (name, kind, sparse, path) in files:
            assert path.read_bytes() == convert(model, kind, sparse, x, source=make_source(model)), name


def test_the_export_reports_how_many_samples_verified_each_file(tiny_model, digits_dataset, tmp_path):
    settings = ExportSettings(tflite=("float32",), sparse=False, keras3=False, verify_samples=50)
    report = export_all(tiny_model, digits_dataset, tmp_path / "out", settings, baseline_model=tiny_model)
    assert report.baseline["verify_samples"] == 50
    keras_file = next(a for a in report.artifacts if a.format == "keras")
    assert "(50 samples)" in keras_file.note and keras_file.ok
    assert all(a.ok and a.gzip_bytes == _tutorial_gzip(a.path) for a in report.artifacts)


def test_the_child_freezes_a_graph_once_and_writes_every_kind_as_in_process(tmp_path):
    from prune_studio.export.tflite_process import ConverterProcess, hand_over, write_calibration

    model = _cnn()
    x = np.random.default_rng(0).random((8, 8, 8, 1), dtype=np.float32)
    process = ConverterProcess()
    try:
        assert process.start()
        handoff = hand_over(model, tmp_path)
        write_calibration(handoff, x, tmp_path)
        for kind, sparse in [("float32", False), ("float16", True), ("dynamic", False), ("int8", False)]:
            path = tmp_path / f"{kind}{sparse}.tflite"
            assert process.wait(process.submit(handoff.request(kind, path, sparse))) == ""
            assert path.read_bytes() == convert(model, kind, sparse, x), (kind, sparse)
    finally:
        process.close()

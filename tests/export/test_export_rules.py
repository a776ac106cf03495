"""The safety rules: atomic writes, no silent overwrite, never the opened model; stop; settings."""

import json
from pathlib import Path

import pytest

from prune_studio.errors import PruneStudioError
from prune_studio.export import (
    ExportError,
    ExportReport,
    ExportSettings,
    TargetExistsError,
    export_all,
    target_paths,
)
from prune_studio.export.files import atomic_write_bytes
from prune_studio.training.control import RunControl

SMALL = ExportSettings(keras=True, h5=False, tflite=("float32",), sparse=False)


def _snapshot(folder: Path) -> dict:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()}


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    atomic_write_bytes(target, b"new contents")
    assert target.read_bytes() == b"new contents"
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # fails half-way: the old file must survive
    assert target.read_bytes() == b"new contents"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_existing_targets_are_refused_then_replaced_when_allowed(tiny_model, digits_dataset, tmp_path):
    first = export_all(tiny_model, digits_dataset, tmp_path, SMALL)
    assert [a.ok for a in first.artifacts] == [True, True]
    before = _snapshot(tmp_path)
    with pytest.raises(TargetExistsError) as info:
        export_all(tiny_model, digits_dataset, tmp_path, SMALL)
    assert isinstance(info.value, PruneStudioError)
    assert str(tmp_path / "model.keras") in info.value.paths
    assert "model.keras" in str(info.value)
    assert _snapshot(tmp_path) == before  # nothing touched
    again = export_all(tiny_model, digits_dataset, tmp_path, SMALL, overwrite=True)
    assert all(a.ok for a in again.artifacts)
    assert (tmp_path / "model.keras").stat().st_mtime_ns >= before["model.keras"][1]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in target_paths(tmp_path, SMALL))


def test_the_opened_model_is_never_overwritten(tiny_model, digits_dataset, tmp_path):
    opened = tmp_path / "model.keras"
    tiny_model.save(opened)
    original = opened.read_bytes()
    with pytest.raises(ExportError, match="opened model"):
        export_all(tiny_model, digits_dataset, tmp_path, SMALL, baseline_path=opened, overwrite=True)
    assert opened.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def test_baseline_without_file_is_measured_from_the_model(tiny_model, digits_dataset, tmp_path):
    report = export_all(tiny_model, digits_dataset, tmp_path, SMALL, baseline_model=tiny_model)
    assert report.baseline["bytes"] > 0 and report.baseline["format"] == "keras"
    assert report.baseline["accuracy"] == pytest.approx(report.artifacts[0].accuracy)
    assert report.sparsity["overall"] < 0.05  # an unpruned model has few exact zeros


def test_stop_between_artifacts(tiny_model, digits_dataset, tmp_path):
    control = RunControl()

    def progress(fraction, text):
        if "model.keras" in text:
            control.stop()  # asked while the first file is written: it finishes, no more follow

    report = export_all(tiny_model, digits_dataset, tmp_path, SMALL, progress=progress, control=control)
    assert report.stopped
    assert [Path(a.path).name for a in report.artifacts] == ["model.keras"]
    assert not (tmp_path / "model_float32.tflite").exists()
    assert json.loads((tmp_path / "report.json").read_text())["stopped"] is True


def test_settings_validate_and_round_trip():
    s = ExportSettings(h5=False, tflite=["int8"], int8_io="int8", sparse=False)
    assert ExportSettings.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    with pytest.raises(ExportError, match="float64"):
        ExportSettings(tflite=("float64",))
    with pytest.raises(ExportError, match="int8_io"):
        ExportSettings(int8_io="uint8")


def test_report_ratio_and_csv_round_trip():
    report = ExportReport.from_dict({
        "baseline": {"accuracy": 0.9, "bytes": 1000, "gzip_bytes": 900},
        "artifacts": [{"name": "x", "format": "tflite", "path": "x.tflite", "bytes": 300,
                       "gzip_bytes": 90, "accuracy": 0.88, "latency_ms": 0.1, "ok": True, "note": ""}],
        "sparsity": {"overall": 0.8, "layers": {"d": 0.8}},
    })
    assert report.ratio(report.artifacts[0]) == pytest.approx(10.0)
    rows = report.to_csv().splitlines()
    assert rows[2].split(",")[4] == "10" and "-0.02" in rows[2]


def test_a_file_that_fails_verification_is_not_left_behind(digits_dataset, tmp_path):
    from prune_studio.compat import keras

    # tf-keras refuses to reload a Lambda layer from .keras in safe mode: saving works, verifying fails.
    model = keras.Sequential([keras.layers.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Lambda(lambda t: t * 2.0), keras.layers.Dense(10, activation="softmax")])
    report = export_all(model, digits_dataset, tmp_path, SMALL)
    keras_art, tflite_art = report.artifacts
    assert not keras_art.ok and keras_art.note.startswith("Not exported: reloading it failed")
    assert keras_art.accuracy is None and not (tmp_path / "model.keras").exists()
    assert tflite_art.ok and (tmp_path / "model_float32.tflite").is_file()
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]

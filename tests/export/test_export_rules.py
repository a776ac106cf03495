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

SMALL = ExportSettings(keras=True, h5=False, keras3=False, tflite=("float32",), sparse=False)


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


def _report(*arts, base_acc=0.9):
    from prune_studio.export.report import Artifact

    return ExportReport({"accuracy": base_acc, "gzip_bytes": 5000},
                        [Artifact(**{"format": "tflite", "path": f"{a['name']}.tflite", "ok": True, **a}) for a in arts])


def test_recommended_is_the_smallest_verified_file_within_the_budget():
    from prune_studio.export.recommend import recommend

    report = _report(
        {"name": "float32", "kind": "float32", "gzip_bytes": 900, "accuracy": 0.90, "latency_ms": 1.0},
        {"name": "int8", "kind": "int8", "gzip_bytes": 200, "accuracy": 0.85, "latency_ms": 0.2},
        {"name": "dynamic", "kind": "dynamic", "gzip_bytes": 300, "accuracy": 0.895, "latency_ms": 0.5},
        {"name": "broken", "kind": "float16", "gzip_bytes": 100, "accuracy": None, "ok": False, "note": "Not exported: x."},
    )
    best = recommend(report, 0.01)
    assert best.name == "dynamic" and [a.recommended for a in report.artifacts] == [False, False, True, False]
    by = {a.name: a.advice for a in report.artifacts}
    assert by["dynamic"].startswith("Recommended")
    assert by["int8"].startswith("Loses 5.0 points") and "microcontrollers" in by["int8"]
    assert by["float32"].startswith("3.0x larger and slower than dynamic")
    assert "could not be made" in by["broken"]
    # a file within 5% of the recommended one's size reads as a sentence, too
    near = _report({"name": "dynamic", "kind": "dynamic", "gzip_bytes": 300, "accuracy": 0.9, "latency_ms": 0.5},
                   {"name": "int8", "kind": "int8", "gzip_bytes": 305, "accuracy": 0.9, "latency_ms": 0.5})
    assert recommend(near, 0.01).name == "dynamic"
    assert near.artifacts[1].advice.startswith("About as large as dynamic;")
    # a looser budget lets the int8 file win
    assert recommend(report, 0.06).name == "int8"
    # nothing within budget: nothing recommended, and every file says so
    report = _report({"name": "a", "kind": "int8", "gzip_bytes": 10, "accuracy": 0.5, "latency_ms": 1.0})
    assert recommend(report, 0.01) is None and not report.artifacts[0].recommended


def test_sparse_files_larger_and_slower_than_their_plain_twin_are_dropped(tmp_path):
    from prune_studio.export.exporter import _drop_dominated
    from prune_studio.export.report import Artifact

    def art(name, kind, sparse, gz, ms):
        path = tmp_path / f"{name}.tflite"
        path.write_bytes(b"x")
        return Artifact(name, "tflite", str(path), gzip_bytes=gz, latency_ms=ms, ok=True, kind=kind, sparse=sparse)

    arts = [art("f32", "float32", False, 100, 1.0), art("f32s", "float32", True, 120, 1.5),
            art("f16", "float16", False, 100, 1.0), art("f16s", "float16", True, 80, 1.2),
            art("i8", "int8", False, 100, 1.0), art("i8s", "int8", True, 120, 5.0)]
    _drop_dominated(arts)
    dropped = [a.name for a in arts if a.dropped]
    assert dropped == ["f32s"]  # f16s is smaller; i8s was asked for explicitly (sparse_int8)
    assert not arts[1].ok and not Path(arts[1].path).exists() and "larger gzipped" in arts[1].note
    assert all(Path(a.path).exists() for a in arts if not a.dropped)
    report = ExportReport({}, arts)
    assert report.failed_artifacts() == []


def test_sparse_int8_is_opt_in_and_old_recipes_still_load():
    assert ExportSettings().sparse_kinds() == ("float32", "float16")
    assert ExportSettings(sparse_int8=True).sparse_kinds() == ("float32", "dynamic", "float16", "int8")
    assert ExportSettings(sparse=False).sparse_kinds() == ()
    old = {"keras": True, "h5": True, "tflite": ["float32", "int8"], "int8_io": "float", "sparse": True,
           "representative_samples": 200}
    assert ExportSettings.from_dict(old).sparse_kinds() == ("float32",)
    with pytest.raises(ExportError, match="max_accuracy_drop"):
        ExportSettings(max_accuracy_drop=5)


def test_an_unpruned_model_is_not_smaller_than_itself_though_the_opened_file_holds_adam(tiny_model, digits_dataset, tmp_path):
    from prune_studio.export import gzip_size

    opened = tmp_path / "trained.keras"
    tiny_model.save(opened)  # compiled and trained with Adam: the file carries its state
    report = export_all(tiny_model, digits_dataset, tmp_path / "out", SMALL, baseline_path=opened,
                        baseline_model=tiny_model)
    keras_art, tflite_art = report.artifacts
    assert keras_art.baseline_gzip_bytes < gzip_size(opened) / 2  # the weights alone, without Adam's two copies
    assert report.ratio(keras_art) == pytest.approx(1.0, abs=0.05)  # like for like: no gain from pruning nothing
    assert report.ratio(tflite_art) == pytest.approx(1.0, abs=0.05)
    assert gzip_size(opened) / keras_art.gzip_bytes > 2  # what the old "smaller by" claimed
    assert keras_art.baseline_label == "unpruned .keras without optimizer state"
    assert tflite_art.baseline_label == "unpruned float32 TFLite"
    row = report.rows()[0]
    assert row["ratio"] is None and "own format" in row["note"]


def test_a_report_with_costs_gives_every_row_its_flops_and_round_trips():
    cost = {"baseline": {"params": 5000, "flops": 80_000}, "model": {"params": 2000, "flops": 30_000},
            "params_reduction": 0.6, "flops_reduction": 0.625}
    report = ExportReport.from_dict({
        "baseline": {"accuracy": 0.9, "bytes": 1000, "gzip_bytes": 900},
        "artifacts": [{"name": "x", "format": "tflite", "path": "x.tflite", "bytes": 300,
                       "gzip_bytes": 90, "accuracy": 0.88, "latency_ms": 0.1, "ok": True, "note": ""}],
        "cost": cost,
    })
    assert [r["flops"] for r in report.rows()] == [80_000, 30_000]
    assert ExportReport.from_dict(report.to_dict()).cost == cost
    header, base, row = report.to_csv().splitlines()
    assert header.endswith(",flops") and base.endswith(",80000") and row.endswith(",30000")
    plain = ExportReport.from_dict({"baseline": {}, "artifacts": []})
    assert "cost" not in plain.to_dict() and plain.rows()[0]["flops"] is None  # older reports: no FLOPs


def test_keras_baselines_written_through_the_stripped_model_equal_a_clones_and_leave_it_as_it_was(tiny_model,
                                                                                                    digits_dataset):
    """The stripped export lends itself to write the unpruned weights without Adam (no clone)."""
    import numpy as np

    from prune_studio.compat import keras
    from prune_studio.export import baselines

    stripped = keras.models.clone_model(tiny_model)
    zeros = [np.zeros_like(w) for w in tiny_model.get_weights()]
    stripped.set_weights(zeros)  # other weights than the baseline's, as a pruned model has
    x, y = digits_dataset.x_test[:20], digits_dataset.y_test[:20]
    cloned = baselines.measure(tiny_model, {"keras", "h5"}, x, y, 1.0)
    lent = baselines.measure(tiny_model, {"keras", "h5"}, x, y, 1.0, like=stripped)
    for fmt in ("keras", "h5"):
        assert lent[fmt].gzip_bytes == pytest.approx(cloned[fmt].gzip_bytes, rel=0.01), fmt
        assert lent[fmt].label == cloned[fmt].label
    assert all(np.array_equal(a, b) for a, b in zip(stripped.get_weights(), zeros))

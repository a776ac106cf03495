"""Export a (pruned) model: strip, save, convert, verify every file, report.

:func:`export_all` is the one entry point for the window and the CLI. Every file is written
to a temporary name, verified (reloaded, or run with the LiteRT interpreter on the test
split) and only then renamed into place; a file that cannot be verified is removed and
reported with ``ok=False`` and the reason.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from prune_studio.export import verify
from prune_studio.export.files import atomic_write_bytes, check_targets, temp_path_beside
from prune_studio.export.html_report import write_html_report
from prune_studio.export.report import Artifact, ExportReport, gzip_size
from prune_studio.export.settings import TFLITE_KINDS, ExportError, ExportSettings
from prune_studio.export.tflite import convert

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
REPORT_FILES = ("report.json", "report.csv", "report.html")


def planned_files(settings: ExportSettings) -> list[tuple[str, str, str, dict]]:
    """The artifacts ``settings`` asks for: (name, format, file name, options), in order."""
    plan = []
    if settings.keras:
        plan.append(("Keras (stripped)", "keras", "model.keras", {}))
    if settings.h5:
        plan.append(("Keras HDF5 (stripped)", "h5", "model.h5", {}))
    for kind in settings.tflite:
        plan.append((TFLITE_KINDS[kind], "tflite", f"model_{kind}.tflite", {"kind": kind, "sparse": False}))
        if settings.sparse:
            plan.append((f"{TFLITE_KINDS[kind]}, sparse", "tflite", f"model_{kind}_sparse.tflite",
                         {"kind": kind, "sparse": True}))
    return plan


def target_paths(out_dir: str | Path, settings: ExportSettings) -> list[Path]:
    """Every file an export with ``settings`` into ``out_dir`` writes, reports included."""
    out = Path(out_dir)
    return [out / f for _, _, f, _ in planned_files(settings)] + [out / f for f in REPORT_FILES]


def export_all(model, dataset, out_dir, settings: ExportSettings | None = None, baseline_path=None,
               baseline_model=None, overwrite: bool = False, progress: Progress | None = None,
               control=None) -> ExportReport:
    """Strip ``model``, write and verify every artifact ``settings`` asks for, write reports.

    Args:
        model: the tf-keras model to export, with or without pruning wrappers.
        dataset: a :class:`prune_studio.data.Dataset` (test split to verify, training split
            to calibrate the int8 model).
        out_dir: output folder, created if missing.
        settings: what to write (defaults: everything).
        baseline_path: the model file as opened; its sizes are the baseline, and no target
            may be this file.
        baseline_model: the model as opened, evaluated for the baseline accuracy.
        overwrite: replace existing targets; otherwise :class:`TargetExistsError`.
        progress: ``progress(fraction, text)`` after each step.
        control: any object with ``.stopped``; checked between artifacts.

    Returns:
        The :class:`ExportReport`, also written as ``report.json``, ``report.csv`` and
        ``report.html`` in ``out_dir``.

    Raises:
        TargetExistsError: a target exists and ``overwrite`` is false.
        ExportError: a target is the opened model, or the folder cannot be created.

    Example::

        report = export_all(result.wrapped_model, dataset, "out", ExportSettings(h5=False),
                            baseline_path="model.keras", baseline_model=original)
        print(report.ratio(report.artifacts[-1]))
    """
    settings = settings or ExportSettings()
    progress = progress or (lambda fraction, text: None)
    out = Path(out_dir)
    plan = planned_files(settings)
    check_targets(target_paths(out, settings), baseline_path, overwrite)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"The output folder {out} cannot be created ({exc.strerror}); choose a writable folder.") from exc

    steps = len(plan) + 2
    x_test, y_test = _split(dataset, "test")
    progress(0.0, "Measuring the baseline")
    baseline = _baseline(baseline_path, baseline_model, x_test, y_test)
    from prune_studio.pruning import strip_pruning

    stripped = strip_pruning(model)
    sparsity = weight_sparsity(stripped)
    report = ExportReport(baseline, [], sparsity, settings.to_dict(), str(out))
    calibration = None
    for i, (name, fmt, filename, opts) in enumerate(plan, start=1):
        if control is not None and control.stopped:
            report.stopped = True
            break
        progress(i / steps, f"Writing and verifying {filename}")
        if fmt == "tflite" and opts["kind"] == "int8" and calibration is None:
            calibration = _calibration(dataset, settings.representative_samples)
        art = _export_one(stripped, name, fmt, out / filename, opts, settings, calibration, x_test, y_test)
        art.nonzero = sparsity["nonzero"]
        report.artifacts.append(art)
    progress((steps - 1) / steps, "Writing the report")
    report.write_json(out / "report.json")
    atomic_write_bytes(out / "report.csv", report.to_csv().encode("utf-8"))
    write_html_report(report, out / "report.html")
    progress(1.0, "Stopped" if report.stopped else "Done")
    return report


def _export_one(stripped, name, fmt, target: Path, opts, settings, calibration, x, y) -> Artifact:
    art = Artifact(name=name, format=fmt, path=str(target))
    tmp = temp_path_beside(target)
    try:
        if fmt == "tflite":
            content = convert(stripped, opts["kind"], opts["sparse"], calibration, settings.int8_io)
            tmp.write_bytes(content)
            result = verify.verify_tflite(content, x, y)
        else:
            # A stripped model is not compiled, so neither format carries optimizer state.
            # The user asked for .h5 by name: tf-keras's "legacy format" warning is noise.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*HDF5 file.*legacy", category=UserWarning)
                stripped.save(tmp, **({"include_optimizer": False} if fmt == "h5" else {}))
            result = verify.verify_keras(str(tmp), x, y)
        art.bytes, art.gzip_bytes = tmp.stat().st_size, gzip_size(tmp)
        if result.error:
            art.note = f"Not exported: {result.error}"
            return art
        tmp.replace(target)
        art.accuracy, art.latency_ms, art.note, art.ok = result.accuracy, result.latency_ms, result.note, True
    except ExportError as exc:
        art.note = f"Not exported: {exc}"
    except OSError as exc:
        art.note = f"Not exported: writing {target} failed ({exc.strerror or exc})."
    finally:
        tmp.unlink(missing_ok=True)
    log.info("%s: ok=%s %s", name, art.ok, art.note)
    return art


def _baseline(path, model, x, y) -> dict:
    base: dict = {"path": str(path) if path else "", "format": Path(path).suffix.lstrip(".") if path else ""}
    if path and Path(path).is_file():
        base["bytes"], base["gzip_bytes"] = Path(path).stat().st_size, gzip_size(path)
    elif model is not None:  # no file: measure the model saved as .keras
        with tempfile.TemporaryDirectory() as tmpdir:
            tmp = Path(tmpdir) / "baseline.keras"
            model.save(tmp)
            base["bytes"], base["gzip_bytes"], base["format"] = tmp.stat().st_size, gzip_size(tmp), "keras"
    if model is not None:
        measured = verify.measure_model(model, x, y)
        base["accuracy"], base["latency_ms"] = measured.accuracy, measured.latency_ms
        base["nonzero"] = weight_sparsity(model)["nonzero"]
    return base


def weight_sparsity(model) -> dict:
    """Fraction of zeros per layer, over its kernels (weights of rank 2 or more).

    Returns ``{"overall", "layers": {name: fraction}, "nonzero", "total"}`` where
    ``nonzero``/``total`` count every weight of the model, biases included.
    """
    layers, zeros, size = {}, 0, 0
    for layer in _leaf_layers(model):
        kernels = [w.numpy() for w in layer.weights if len(w.shape) >= 2]
        if not kernels:
            continue
        z = sum(int(np.count_nonzero(k == 0)) for k in kernels)
        n = sum(k.size for k in kernels)
        layers[layer.name] = z / n
        zeros, size = zeros + z, size + n
    all_weights = [w.numpy() for w in model.weights]
    return {
        "overall": zeros / size if size else 0.0,
        "layers": layers,
        "nonzero": int(sum(np.count_nonzero(w) for w in all_weights)),
        "total": int(sum(w.size for w in all_weights)),
    }


def _leaf_layers(model):
    for layer in getattr(model, "layers", []):
        if getattr(layer, "layers", None):
            yield from _leaf_layers(layer)
        else:
            yield layer


def _split(dataset, split: str) -> tuple:
    from prune_studio.data import arrays

    x, y = getattr(dataset, f"x_{split}", None), getattr(dataset, f"y_{split}", None)
    if x is None or y is None:
        x, y = dataset.sample(getattr(dataset, f"num_{split}"), split=split)
    if x is None or arrays.count(x) == 0:
        raise ExportError(f"The data set has no {split} samples; exported files cannot be verified without them.")
    return arrays.apply(np.asarray, x), arrays.apply(np.asarray, y)


def _calibration(dataset, n: int):
    """``n`` shuffled training inputs (a dict by input name for several): every class, even for folders."""
    for x, _ in dataset.train_ds(n, shuffle=True).take(1):
        return {k: np.asarray(v) for k, v in x.items()} if isinstance(x, dict) else np.asarray(x)
    raise ExportError("The data set has no training samples; the full-integer int8 model needs them to calibrate.")

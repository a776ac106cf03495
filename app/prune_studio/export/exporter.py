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

from prune_studio.data import arrays
from prune_studio.export import keras3_files, sizes, verify
from prune_studio.export.baselines import measure as measure_baselines
from prune_studio.export.files import atomic_write_bytes, check_targets, temp_path_beside
from prune_studio.export.html_report import write_html_report
from prune_studio.export.report import Artifact, ExportReport, gzip_size
from prune_studio.export.settings import ExportError, ExportSettings
from prune_studio.export.targets import REPORT_FILES, keras3_source, planned_files, target_paths  # noqa: F401 - re-exported
from prune_studio.export.recommend import recommend
from prune_studio.export import tflite_process
from prune_studio.export.tflite_batch import TFLiteBatch

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
#: Test samples in the report's "see it work" strip.
SAMPLES = 8


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
            may be this file. A Keras 3 file is exported as Keras 3 files.
        baseline_model: the model as opened, evaluated for the baseline accuracy and written
            once per format (without optimizer) as each artifact's like-for-like baseline.
        overwrite: replace existing targets; otherwise :class:`TargetExistsError`.
        progress: ``progress(fraction, text)`` after each step.
        control: any object with ``.stopped``; checked between artifacts.

    Returns:
        The :class:`ExportReport`, also written as ``report.json``, ``report.csv`` and
        ``report.html`` in ``out_dir``. One verified artifact is ``recommended``; every
        artifact has its ``advice``.

    Raises:
        TargetExistsError: a target exists and ``overwrite`` is false.
        ExportError: a target is the opened model, or the folder cannot be created.

    Example::

        report = export_all(result.wrapped_model, dataset, "out", ExportSettings(h5=False),
                            baseline_path="model.keras", baseline_model=original)
        print(report.recommended().name, report.ratio(report.recommended()))
    """
    settings = settings or ExportSettings()
    progress = progress or (lambda fraction, text: None)
    out = Path(out_dir)
    keras3_input = keras3_source(baseline_path)
    plan = planned_files(settings, keras3_input)
    check_targets(target_paths(out, settings, keras3_input), baseline_path, overwrite)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"The output folder {out} cannot be created ({exc.strerror}); choose a writable folder.") from exc

    steps = len(plan) + 3
    # The opened file's size is measured while the model is traced and converted (see sizes).
    opened_gzip = sizes.in_background(baseline_path) if baseline_path and Path(baseline_path).is_file() else None
    unsized = sizes.Deflater()  # verified files, their gzip sizes measured as they come (see sizes)
    x_test, y_test = _split(dataset, "test")
    x_test, y_test, picked = _bounded(x_test, y_test, settings.verify_samples)
    progress(0.0, "Preparing the model")
    from prune_studio.pruning import strip_pruning

    stripped = strip_pruning(model)
    keras3_plan = [(i, p) for i, p in enumerate(plan) if p[3].get("flavour") == "keras3"]
    job = None
    if keras3_plan:  # Keras 3 works in its own process while the other files are made
        job = keras3_files.start(stripped, [{"path": str(temp_path_beside(out / f)), "format": fmt}
                                            for _, (_, fmt, f, _) in keras3_plan], x_test, y_test)
    with TFLiteBatch(tflite_process.shared(), tflite_process.helper(stripped.count_params())) as batch:
        try:
            _queue_tflite(batch, stripped, baseline_model, plan, out, settings, dataset, progress, steps)
            sparsity = weight_sparsity(stripped)
            if batch.pending():
                progress(1 / steps, "Converting to TFLite")
            batch.wait_all(control)  # nothing is timed while the converter works
            baseline, base_preds = _baseline(baseline_path, baseline_model, x_test, y_test, opened_gzip)
            report = ExportReport(baseline, [], sparsity, settings.to_dict(), str(out))
            preds = _write_all(report, stripped, plan, out, settings, x_test, y_test, job, keras3_plan,
                               progress, steps, control, batch, unsized)
        finally:
            if job is not None:
                job.cancel()
        baselines = {}
        if baseline_model is not None:
            progress((steps - 1.5) / steps, "Measuring the unpruned model in each format")
            # A stopped export does not wait for the converter to reach the baseline's file.
            baselines = measure_baselines(baseline_model, {p[1] for p in plan}, x_test, y_test,
                                          baseline.get("latency_ms"), like=stripped,
                                          tflite=lambda: None if report.stopped else _baseline_tflite(batch))
    if unsized:
        progress((steps - 1.2) / steps, "Measuring the files' compressed sizes")
    for art, size in unsized.sizes():
        art.gzip_bytes = size
    for art in report.artifacts:
        _compare(art, baselines.get(art.format))
    if not settings.keep_dominated:
        _drop_dominated(report.artifacts)
    recommend(report, settings.max_accuracy_drop)
    report.samples = _samples(picked, y_test, base_preds, preds, report.artifacts)
    progress((steps - 1) / steps, "Writing the report")
    report.write_json(out / "report.json")
    atomic_write_bytes(out / "report.csv", report.to_csv().encode("utf-8"))
    write_html_report(report, out / "report.html")
    progress(1.0, "Stopped" if report.stopped else "Done")
    return report


BASELINE_TFLITE = "unpruned float32 TFLite (baseline)"


def _queue_tflite(batch, stripped, baseline_model, plan, out, settings, dataset, progress, steps) -> None:
    """Hand the TFLite files over to the converter process (it works while this one goes on)."""
    files = [(name, opts["kind"], opts["sparse"], temp_path_beside(out / filename))
             for name, fmt, filename, opts in plan if fmt == "tflite"]
    if not files:
        return
    progress(0.5 / steps, "Tracing the model for TFLite")
    calibration = None
    if any(kind == "int8" for _, kind, _, _ in files):
        calibration = _calibration(dataset, settings.representative_samples)
    batch.add("model", stripped, files, settings.int8_io, calibration)
    if baseline_model is not None:
        folder = batch.folder
        batch.add("baseline", baseline_model, [(BASELINE_TFLITE, "float32", False, folder / "baseline.tflite")])


def _baseline_tflite(batch) -> bytes | None:
    """The unpruned model's float32 TFLite file, or None when it could not be made."""
    error, _ = batch.wait(BASELINE_TFLITE)
    path = batch.folder / "baseline.tflite"
    return None if error or not path.is_file() else path.read_bytes()


def _write_all(report, stripped, plan, out, settings, x, y, job, keras3_plan, progress, steps, control,
               batch, unsized: sizes.Deflater) -> dict:
    """Write and verify every planned file into ``report.artifacts``; predictions by name."""
    preds = {}
    # The stripped model run once on the samples: a Keras file that holds its weights and gives its
    # outputs is not run on every sample again, and the Keras 3 files are compared with these outputs.
    measured = verify.measure_model(stripped, x, y) if any(fmt != "tflite" for _, fmt, _, _ in plan) else None
    for i, (name, fmt, filename, opts) in enumerate(plan, start=1):
        if control is not None and control.stopped:
            report.stopped = True
            break
        progress(i / steps, f"Writing and verifying {filename}")
        if opts.get("flavour") == "keras3":
            art = _artifact(name, fmt, out / filename, opts)  # finished by the Keras 3 job below
        else:
            art, preds[name] = _export_one(stripped, name, fmt, out / filename, opts, x, y, batch, unsized,
                                           measured)
        art.nonzero = report.sparsity["nonzero"]
        report.artifacts.append(art)
    if job is not None and not report.stopped:
        progress((steps - 2) / steps, "Checking the Keras 3 files")
        for (_, (name, _, filename, _)), tmp, result in zip(keras3_plan, job.targets,
                                             job.result(measured.preds if measured is not None else None)):
            art = next((a for a in report.artifacts if a.name == name), None)
            if art is not None:
                preds[name] = _finish(art, Path(tmp["path"]), out / filename, result, unsized)
                if not art.ok and filename == "model_keras3.keras":
                    _extra_copy_not_made(art)
            Path(tmp["path"]).unlink(missing_ok=True)
    return preds


def _extra_copy_not_made(art) -> None:
    """The Keras 3 copy of a tf-keras model is an extra: when Keras 3 cannot hold the model (a layer
    it has no counterpart for, a custom class), it is left out with its reason, not counted as a
    failed export; the tf-keras files are the model's own format."""
    art.dropped = True
    reason = art.note.removeprefix("Not exported: ")
    art.note = f"Not made: Keras 3 cannot hold this tf-keras model ({reason}); use model.keras with tf-keras."


def _artifact(name, fmt, target: Path, opts) -> Artifact:
    kind = opts.get("kind") or opts.get("flavour", "")
    return Artifact(name=name, format=fmt, path=str(target), kind=kind, sparse=bool(opts.get("sparse")))


def _export_one(stripped, name, fmt, target: Path, opts, x, y, batch, unsized: sizes.Deflater, measured=None):
    art = _artifact(name, fmt, target, opts)
    tmp = batch.take_path(name) if fmt == "tflite" else temp_path_beside(target)
    try:
        if fmt == "tflite":
            error, extra = batch.wait(name)  # the converter process wrote ``tmp``
            if error:
                raise ExportError(error)
            result = verify.verify_tflite(tmp.read_bytes(), x, y)
            if extra and not result.error:
                result.note = f"{result.note}; {extra}"
        else:
            # A stripped model is not compiled, so neither format carries optimizer state.
            # The user asked for .h5 by name: tf-keras's "legacy format" warning is noise.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*HDF5 file.*legacy", category=UserWarning)
                stripped.save(tmp, **({"include_optimizer": False} if fmt == "h5" else {}))
            result = verify.verify_keras(str(tmp), x, y, stripped, measured)
        return art, _finish(art, tmp, target, result, unsized)
    except ExportError as exc:
        art.note = f"Not exported: {exc}"
    except OSError as exc:
        art.note = f"Not exported: writing {target} failed ({exc.strerror or exc})."
    finally:
        tmp.unlink(missing_ok=True)
        log.info("%s: ok=%s %s", name, art.ok, art.note)
    return art, None


def _finish(art: Artifact, tmp: Path, target: Path, result, unsized: sizes.Deflater) -> np.ndarray | None:
    """Measure the written ``tmp`` and move it into place when ``result`` verified it; a file moved
    into place joins ``unsized`` (its gzip size is measured while the export goes on)."""
    if not tmp.is_file():
        art.note = f"Not exported: {result.error or 'the file was not written.'}"
        return None
    art.bytes = tmp.stat().st_size
    if result.error:
        art.gzip_bytes = gzip_size(tmp)  # the file is removed now
        art.note = f"Not exported: {result.error}"
        return None
    tmp.replace(target)
    unsized.add(art, target)
    art.accuracy, art.latency_ms, art.note, art.ok = result.accuracy, result.latency_ms, result.note, True
    return result.preds


def _compare(art: Artifact, base) -> None:
    """Fill ``art``'s like-for-like baseline fields from ``base`` (a :class:`Baseline`)."""
    if base is None:
        return
    art.baseline_bytes, art.baseline_gzip_bytes, art.baseline_label = base.bytes, base.gzip_bytes, base.label
    if art.ok and base.latency_ms and art.latency_ms:
        art.speedup = base.latency_ms / art.latency_ms


def _drop_dominated(artifacts: list[Artifact]) -> None:
    """Remove sparse-encoded files that are larger (gzipped) and slower than their plain twin.

    Sparse copies of the integer kinds are kept: the user asked for them (``sparse_int8``).
    """
    plain = {a.kind: a for a in artifacts if a.format == "tflite" and not a.sparse and a.ok}
    for art in artifacts:
        twin = plain.get(art.kind)
        if not (art.ok and art.sparse and twin) or art.kind in ("dynamic", "int8"):
            continue
        if art.gzip_bytes >= twin.gzip_bytes and (art.latency_ms or 0) >= (twin.latency_ms or 0):
            Path(art.path).unlink(missing_ok=True)
            art.ok, art.dropped = False, True
            art.note = (f"Not kept: larger gzipped ({art.gzip_bytes:,} vs {twin.gzip_bytes:,} B) and slower "
                        f"({art.latency_ms:.3f} vs {twin.latency_ms:.3f} ms/sample) than {twin.name}; "
                        "set keep_dominated to keep such files.")


def _classes(pred) -> list:
    pred = np.asarray(pred).reshape(len(pred), -1)
    return ((pred[:, 0] > 0.5).astype(int) if pred.shape[1] == 1 else pred.argmax(axis=1)).tolist()


def _truth(y) -> list:
    y = np.asarray(y)
    flat = y.reshape(len(y), -1).argmax(axis=1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(-1)
    return flat.astype(np.int64).tolist()  # class labels, also when stored as floats (0.0 / 1.0)


def _samples(picked: np.ndarray, y, base_preds, preds: dict, artifacts, n: int = SAMPLES) -> list[dict]:
    """A few test samples with the baseline's and each verified artifact's predicted class.

    With several outputs (labels by output name), ``label`` and each prediction are
    ``{output name: class}`` for the outputs that classify.
    """
    from prune_studio.data import arrays

    total = arrays.count(y) if y is not None else 0
    if base_preds is None or total == 0:
        return []
    rows = np.unique(np.linspace(0, total - 1, min(n, total)).round().astype(int))
    ok = {a.name for a in artifacts if a.ok}
    if arrays.is_named(y):
        outputs = [k for k, labels in y.items() if np.asarray(labels).size and _is_class(labels)]
        if not outputs or not isinstance(base_preds, dict):
            return []

        def classes(pred):
            return {k: _classes(np.asarray(pred[k])[rows]) for k in outputs} if isinstance(pred, dict) else None

        truth = {k: [_truth(y[k])[r] for r in rows] for k in outputs}
        base = classes(base_preds)
        per = {name: c for name, p in preds.items() if p is not None and name in ok and (c := classes(p))}
        pick = lambda table, j: {k: table[k][j] for k in outputs}  # noqa: E731
        return [{"index": int(picked[r]), "label": pick(truth, j), "baseline_pred": pick(base, j),
                 "preds": {name: pick(c, j) for name, c in per.items()}} for j, r in enumerate(rows)]
    if isinstance(base_preds, dict):
        return []
    truth = _truth(y)
    base = _classes(np.asarray(base_preds)[rows])
    per = {name: _classes(np.asarray(p)[rows]) for name, p in preds.items()
           if p is not None and not isinstance(p, dict) and name in ok}
    return [{"index": int(picked[r]), "label": truth[r], "baseline_pred": base[j],
             "preds": {name: c[j] for name, c in per.items()}} for j, r in enumerate(rows)]


def _is_class(labels) -> bool:
    labels = np.asarray(labels)
    return labels.ndim > 1 and labels.shape[-1] > 1 or bool(np.all(np.mod(labels, 1) == 0))


def _bounded(x, y, limit: int):
    """At most ``limit`` samples spread evenly over the split (0: all), and their indices."""
    from prune_studio.data import arrays

    n = arrays.count(x)
    if not limit or n <= limit:
        return x, y, np.arange(n)
    picked = np.unique(np.linspace(0, n - 1, limit).round().astype(int))
    return arrays.take(x, picked), arrays.take(y, picked), picked


def _baseline(path, model, x, y, gzipped=None) -> tuple[dict, np.ndarray | None]:
    """The opened model's sizes, accuracy and latency; ``gzipped`` is its gzip size being measured."""
    base: dict = {"path": str(path) if path else "", "format": Path(path).suffix.lstrip(".") if path else ""}
    if path and Path(path).is_file():
        # Waited for before the timed run below (a deflating thread would take a core from it).
        size = gzipped.result() if gzipped is not None else gzip_size(path)
        base["bytes"], base["gzip_bytes"] = Path(path).stat().st_size, size
    elif model is not None:  # no file: measure the model saved as .keras
        with tempfile.TemporaryDirectory() as tmpdir:
            tmp = Path(tmpdir) / "baseline.keras"
            model.save(tmp)
            base["bytes"], base["gzip_bytes"], base["format"] = tmp.stat().st_size, gzip_size(tmp), "keras"
    preds = None
    if model is not None:
        measured = verify.measure_model(model, x, y)
        base["accuracy"], base["latency_ms"] = measured.accuracy, measured.latency_ms
        base["nonzero"] = weight_sparsity(model)["nonzero"]
        base["verify_samples"] = arrays.count(x)
        preds = measured.preds
    return base, preds


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

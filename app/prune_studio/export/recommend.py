"""Which exported file to use: the recommended one, and one sentence of advice per file.

The recommended file is the smallest (gzipped) verified file whose accuracy stays within the
user's budget (:attr:`ExportSettings.max_accuracy_drop`) of the baseline, the faster one on a
tie. Every other file gets a sentence saying why it is worse and when to pick it anyway.
"""

from __future__ import annotations

from prune_studio.export.report import Artifact, ExportReport

#: When a file of each kind is the right choice, whatever its size.
WHEN = {
    "float32": "pick it when the device has no quantized kernels or needs Keras's float outputs exactly",
    "float16": "pick it for GPU delegates, which compute in float16 anyway",
    "dynamic": "pick it when no calibration data is at hand: weights are int8, activations stay float",
    "int8": "pick it for microcontrollers, Edge TPUs and NPUs that run integer-only models",
    "tf-keras": "pick it to keep training with tf-keras (TF_USE_LEGACY_KERAS=1) or to convert it with other tools; it is not meant for devices",
    "keras3": "pick it to keep working with Keras 3 (import keras); it is not meant for devices",
    "h5": "pick it only for tools that need the legacy HDF5 format",
}
SPARSE_WHEN = "pick it only for a runtime with sparse kernels (XNNPack densifies float files and cannot run integer ones)"


def _budget_text(drop: float) -> str:
    pts = 100 * drop
    return f"{pts:g} point" + ("" if pts == 1 else "s")


def when_to_pick(art: Artifact) -> str:
    if art.sparse:
        return SPARSE_WHEN
    if art.format == "h5":
        return WHEN["h5"]
    return WHEN.get(art.kind, "")


def _within(art: Artifact, base_acc: float | None, drop: float) -> bool:
    return art.accuracy is None or base_acc is None or art.accuracy >= base_acc - drop - 1e-9


def recommend(report: ExportReport, max_drop: float) -> Artifact | None:
    """Mark the recommended artifact and write every artifact's ``advice``; returns the pick."""
    base_acc = report.baseline.get("accuracy")
    ok = [a for a in report.artifacts if a.ok]
    fitting = [a for a in ok if _within(a, base_acc, max_drop)]
    best = min(fitting, key=lambda a: (a.gzip_bytes, a.latency_ms or 0.0)) if fitting else None
    budget = _budget_text(max_drop)
    for art in report.artifacts:
        art.recommended = art is best
        art.advice = _advice(art, best, base_acc, max_drop, budget, report)
    return best


def _advice(art: Artifact, best: Artifact | None, base_acc, drop: float, budget: str, report: ExportReport) -> str:
    if art.dropped:
        return art.note.replace("Not kept: ", "Not kept, as it is ", 1) if art.note else "Not kept."
    if not art.ok:
        return "This file could not be made or verified; the note says why."
    pick = when_to_pick(art)
    if art is best:
        ratio = report.ratio(art)
        smaller = f", {ratio:.1f}x smaller than the {art.baseline_label or 'baseline'}" if ratio else ""
        return f"Recommended: the smallest verified file within {budget} of the baseline's accuracy{smaller}."
    if not _within(art, base_acc, drop):
        lost = 100 * (base_acc - art.accuracy)
        return f"Loses {lost:.1f} points of accuracy, more than the {budget} allowed; {pick}."
    if best is None:
        return f"No file stays within {budget} of the baseline's accuracy; {pick}."
    larger = art.gzip_bytes / best.gzip_bytes if best.gzip_bytes else 1.0
    slower = art.latency_ms is not None and best.latency_ms is not None and art.latency_ms > best.latency_ms \
        and art.format == best.format
    if larger >= 1.05:
        what = f"{larger:.1f}x larger{' and slower' if slower else ''} than {best.name}"
    else:
        what = f"About as large as {best.name}{', and slower' if slower else ''}"
    return f"{what}; {pick}."

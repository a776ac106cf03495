"""Which files an export writes: cheap to ask on the GUI thread (no TensorFlow import).

Importing :mod:`prune_studio.export.exporter` on the GUI thread cost ~80 ms the first time;
the window asks only what would be replaced, so that answer lives here.
"""

from __future__ import annotations

from pathlib import Path

from prune_studio.export.settings import TFLITE_KINDS, ExportSettings

REPORT_FILES = ("report.json", "report.csv", "report.html")


def keras3_source(baseline_path) -> bool:
    """Whether the opened model file was written by Keras 3 (its exports are then Keras 3 too)."""
    if not baseline_path or not Path(baseline_path).is_file():
        return False
    from prune_studio.models.loading import read_header

    try:
        return read_header(Path(baseline_path)).keras_version.startswith("3")
    except Exception:  # noqa: BLE001 - an unreadable header: treat it as tf-keras
        return False


def planned_files(settings: ExportSettings, keras3_input: bool = False) -> list[tuple[str, str, str, dict]]:
    """The artifacts ``settings`` asks for: (name, format, file name, options), in order.

    A model that came in as a Keras 3 file goes out as Keras 3 files (``.keras`` and ``.h5``);
    a tf-keras model gets tf-keras files plus, with ``settings.keras3``, a Keras 3 ``.keras``.
    """
    plan = []
    flavour = "keras3" if keras3_input else "tf-keras"
    label = "Keras 3" if keras3_input else "tf-keras"
    if settings.keras:
        plan.append((f"Keras .keras ({label}, stripped)", "keras", "model.keras", {"flavour": flavour}))
    if settings.keras and settings.keras3 and not keras3_input:
        plan.append(("Keras .keras (Keras 3, stripped)", "keras", "model_keras3.keras", {"flavour": "keras3"}))
    if settings.h5:
        plan.append((f"Keras HDF5 ({label}, stripped)", "h5", "model.h5", {"flavour": flavour}))
    sparse = settings.sparse_kinds()
    for kind in settings.tflite:
        plan.append((TFLITE_KINDS[kind], "tflite", f"model_{kind}.tflite", {"kind": kind, "sparse": False}))
        if kind in sparse:
            plan.append((f"{TFLITE_KINDS[kind]}, sparse", "tflite", f"model_{kind}_sparse.tflite",
                         {"kind": kind, "sparse": True}))
    return plan


def target_paths(out_dir: str | Path, settings: ExportSettings, keras3_input: bool = False) -> list[Path]:
    """Every file an export with ``settings`` into ``out_dir`` writes, reports included."""
    out = Path(out_dir)
    return [out / f for _, _, f, _ in planned_files(settings, keras3_input)] + [out / f for f in REPORT_FILES]

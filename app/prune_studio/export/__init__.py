"""Export: strip the pruning wrappers, save Keras and TFLite files, verify each, report.

Public names (see ``docs/ARCHITECTURE.md``)::

    from prune_studio.export import ExportSettings, export_all
    report = export_all(model, dataset, "out", ExportSettings(), baseline_path="model.keras")

Importing this package does not import TensorFlow; :func:`export_all` does, on first call.
"""

from __future__ import annotations

from prune_studio.export.report import Artifact, ExportReport, gzip_size
from prune_studio.export.settings import (
    INT8_IO_CHOICES,
    TFLITE_KINDS,
    ExportError,
    ExportSettings,
    TargetExistsError,
)

__all__ = [
    "Artifact", "ExportError", "ExportReport", "ExportSettings", "INT8_IO_CHOICES", "TFLITE_KINDS",
    "TargetExistsError", "export_all", "gzip_size", "target_paths", "write_html_report",
]


def __getattr__(name):
    """Load the TensorFlow-backed functions on first use, so the window starts fast."""
    if name in ("export_all", "target_paths"):
        from prune_studio.export import exporter

        return getattr(exporter, name)
    if name == "write_html_report":
        from prune_studio.export.html_report import write_html_report

        return write_html_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

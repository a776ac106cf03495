"""The result of an export: one :class:`Artifact` per file, plus baseline and sparsity.

The same ``report.json`` is written for the window and the CLI. Sizes are measured twice:
on disk, and compressed the way the TensorFlow Model Optimization tutorial measures them
(deflate the file into a zip archive and count the bytes), because zeros only shrink a file
once it is compressed.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from prune_studio.export.files import atomic_write_bytes

CSV_COLUMNS = (
    "name", "format", "bytes", "gzip_bytes", "ratio", "nonzero", "accuracy", "accuracy_change",
    "latency_ms", "ok", "note", "path", "speedup", "baseline_label", "baseline_gzip_bytes", "recommended",
    "advice", "flops",
)


def gzip_size(path: str | Path) -> int:
    """Bytes of ``path`` once deflated into a zip archive (the tutorial's measure).

    The archive member has a fixed name, so the size depends on the contents only (a file
    measured under its temporary name measures the same once renamed).
    """
    # The archive is written to a sink that only counts (ResNet50's 95 MB files: growing an
    # in-memory copy cost ~10% of the measure), in 1 MiB pieces instead of zipfile's 8 KiB;
    # deflate's output does not depend on how its input is cut, so the count is unchanged.
    sink = _CountingSink()
    info = zipfile.ZipInfo.from_file(path, arcname="model")
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as zf, \
            open(path, "rb") as src, zf.open(info, "w") as dest:
        while chunk := src.read(1 << 20):
            dest.write(chunk)
    return sink.size


class _CountingSink(io.RawIOBase):
    """A seekable file that keeps nothing but its size (zipfile seeks back to finish each header)."""

    def __init__(self):
        super().__init__()
        self.size = self._pos = 0

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, data) -> int:
        n = len(memoryview(data))
        self._pos += n
        self.size = max(self.size, self._pos)
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._pos = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence] + offset
        return self._pos

    def tell(self) -> int:
        return self._pos


@dataclass
class Artifact:
    """One exported file and what verifying it measured.

    Attributes:
        name: label shown in the table ("TFLite dynamic-range int8").
        format: ``keras``, ``h5`` or ``tflite``.
        path: where the file is (or would have been, when ``ok`` is false).
        bytes: size on disk.
        gzip_bytes: compressed size (see :func:`gzip_size`).
        accuracy: accuracy on the test split when the file was run, or None.
        latency_ms: mean milliseconds per sample when it was run, or None.
        ok: the file was written and verified.
        note: how it was verified, or why it failed, as a sentence.
        nonzero: non-zero weights in the model the file holds.
        kind: ``float32``, ``dynamic``, ``float16``, ``int8`` for TFLite files; ``tf-keras`` or
            ``keras3`` (which Keras wrote it) for Keras files.
        sparse: the TFLite file stores its weights sparse-encoded.
        dropped: the file was made and measured, then removed because the plain file of its
            kind is smaller and faster, or an extra copy (a tf-keras model's Keras 3 file) that
            Keras 3 cannot hold (``ok`` is false; see ``note``). Not a failed export.
        recommended: the one file to use: the smallest verified file within the accuracy budget.
        advice: one sentence for people: why this file is recommended, or when to pick it.
        baseline_bytes, baseline_gzip_bytes: size of the unpruned model in the same format,
            without optimizer state (the like-for-like baseline), when it was measured.
        baseline_label: what that baseline is ("unpruned float32 TFLite").
        speedup: the like-for-like baseline's latency divided by this file's, when both ran.
    """

    name: str
    format: str
    path: str
    bytes: int = 0
    gzip_bytes: int = 0
    accuracy: float | None = None
    latency_ms: float | None = None
    ok: bool = False
    note: str = ""
    nonzero: int | None = None
    kind: str = ""
    sparse: bool = False
    dropped: bool = False
    recommended: bool = False
    advice: str = ""
    baseline_bytes: int | None = None
    baseline_gzip_bytes: int | None = None
    baseline_label: str = ""
    speedup: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Artifact":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def class_text(value) -> str:
    """A sample's class as text: ``"3"``, or ``"first 2, second 0"`` for several outputs."""
    if isinstance(value, dict):
        return ", ".join(f"{name} {v}" for name, v in value.items())
    return "" if value is None else str(value)


def input_text(x, index: int, values: int = 3) -> str:
    """The first few input values of sample ``index`` (per input name for several inputs)."""
    import numpy as np

    if isinstance(x, dict):
        return "; ".join(f"{name}: {input_text(a, index, 2)}" for name, a in x.items())
    if x is None or not 0 <= index < len(x):
        return f"#{index}"
    flat = np.ravel(x[index])[:values]
    return ", ".join(f"{v:.2g}" for v in flat) + "…"


@dataclass
class ExportReport:
    """Everything one export produced.

    Attributes:
        baseline: the model as opened: ``accuracy``, ``bytes``, ``gzip_bytes``, ``nonzero``,
            ``path``.
        artifacts: one entry per file, in the order written.
        sparsity: ``overall`` (fraction of zeros in all kernels of the exported model),
            ``layers`` {layer name: fraction}, ``nonzero`` and ``total`` weights.
        settings: the :class:`ExportSettings` as a dict.
        out_dir: the output folder.
        stopped: the user stopped the export before every artifact was written.
        samples: a few test samples for a "see it work" strip: ``{"index", "label",
            "baseline_pred", "preds": {artifact name: predicted class}}``; with several outputs
            each class is ``{output name: class}`` (the outputs that classify).
        cost: parameters and FLOPs per sample of the model as opened and of the exported one
            (``structured.report.cost_report``: ``{"baseline": {params, flops}, "model": {...}}``),
            when the caller measured them; every artifact comes from the exported model.
    """

    baseline: dict
    artifacts: list[Artifact] = field(default_factory=list)
    sparsity: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    out_dir: str = ""
    stopped: bool = False
    samples: list[dict] = field(default_factory=list)
    cost: dict = field(default_factory=dict)

    def ok_artifacts(self) -> list[Artifact]:
        return [a for a in self.artifacts if a.ok]

    def failed_artifacts(self) -> list[Artifact]:
        """Artifacts that were asked for and could not be made (dropped ones are not failures)."""
        return [a for a in self.artifacts if not a.ok and not a.dropped]

    def recommended(self) -> Artifact | None:
        return next((a for a in self.artifacts if a.recommended), None)

    def ratio(self, artifact: Artifact) -> float | None:
        """How many times smaller than its baseline ``artifact`` is, both gzipped.

        The baseline is the unpruned model in the same format without optimizer state
        (``artifact.baseline_gzip_bytes``) when it was measured, else the file as opened.
        """
        base = artifact.baseline_gzip_bytes or self.baseline.get("gzip_bytes") or 0
        return base / artifact.gzip_bytes if base and artifact.gzip_bytes else None

    def to_dict(self) -> dict:
        return {
            "baseline": dict(self.baseline),
            "artifacts": [a.to_dict() for a in self.artifacts],
            "sparsity": dict(self.sparsity),
            "settings": dict(self.settings),
            "out_dir": self.out_dir,
            "stopped": self.stopped,
            "samples": [dict(x) for x in self.samples],
            **({"cost": dict(self.cost)} if self.cost else {}),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "ExportReport":
        return cls(
            baseline=dict(d.get("baseline", {})),
            artifacts=[Artifact.from_dict(a) for a in d.get("artifacts", [])],
            sparsity=dict(d.get("sparsity", {})),
            settings=dict(d.get("settings", {})),
            out_dir=d.get("out_dir", ""),
            stopped=bool(d.get("stopped", False)),
            samples=[dict(x) for x in d.get("samples", [])],
            cost=dict(d.get("cost") or {}),
        )

    def write_json(self, path: str | Path) -> None:
        """Write the report as indented JSON, atomically."""
        atomic_write_bytes(path, json.dumps(self.to_dict(), indent=2).encode("utf-8"))

    def rows(self) -> list[dict]:
        """Baseline then artifacts as table rows with the :data:`CSV_COLUMNS` keys."""
        b = self.baseline
        like_for_like = any(a.baseline_gzip_bytes for a in self.artifacts)
        rows = [{
            "name": "Baseline (as opened)", "format": b.get("format", ""), "bytes": b.get("bytes"),
            "gzip_bytes": b.get("gzip_bytes"), "ratio": None if like_for_like else (1.0 if b.get("gzip_bytes") else None),
            "nonzero": b.get("nonzero"), "accuracy": b.get("accuracy"), "accuracy_change": None,
            "latency_ms": b.get("latency_ms"), "ok": True, "path": b.get("path", ""),
            "flops": (self.cost.get("baseline") or {}).get("flops"),
            "note": "The file as opened; each file below is compared with the unpruned model in its own "
                    "format, without optimizer state." if like_for_like else "",
        }]
        for a in self.artifacts:
            change = (
                a.accuracy - b["accuracy"]
                if a.accuracy is not None and b.get("accuracy") is not None else None
            )
            rows.append({**a.to_dict(), "ratio": self.ratio(a), "accuracy_change": change,
                         "flops": (self.cost.get("model") or {}).get("flops")})
        return rows

    def to_csv(self) -> str:
        """The comparison table as CSV text (baseline first)."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in self.rows():
            writer.writerow({k: _csv_value(row.get(k)) for k in CSV_COLUMNS})
        return out.getvalue()


def _csv_value(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return v

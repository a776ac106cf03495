"""What to export, and the errors an export can raise.

:class:`ExportSettings` is a plain dataclass so the window, the recipe and the CLI share it
and it round-trips through JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from prune_studio.errors import PruneStudioError

#: TFLite kinds, in the order they are written, with a label a non-programmer understands.
TFLITE_KINDS = {
    "float32": "TFLite float32",
    "dynamic": "TFLite dynamic-range int8",
    "float16": "TFLite float16",
    "int8": "TFLite full-integer int8",
}
INT8_IO_CHOICES = ("float", "int8")


class ExportError(PruneStudioError):
    """An export that cannot start or cannot finish (bad settings, unsafe target)."""


class TargetExistsError(ExportError):
    """A file the export would write exists already and ``overwrite`` is false.

    Attributes:
        paths: the existing files, so a window can list them in a confirmation dialog.
    """

    def __init__(self, paths: list[str]):
        self.paths = list(paths)
        shown = ", ".join(self.paths[:3]) + (f" and {len(self.paths) - 3} more" if len(self.paths) > 3 else "")
        super().__init__(
            f"The export would replace existing files ({shown}); choose another folder or allow overwriting."
        )


@dataclass
class ExportSettings:
    """Which artifacts to write.

    Args:
        keras: save the stripped model as ``model.keras``.
        h5: save the stripped model as ``model.h5`` (legacy HDF5).
        tflite: TFLite kinds to convert to, any of ``float32``, ``dynamic``, ``float16``,
            ``int8`` (full-integer, calibrated with training samples).
        int8_io: input/output type of the full-integer model: ``"float"`` (quantize inside
            the model) or ``"int8"`` (the caller quantizes, as microcontrollers expect).
        keras3: with ``keras``, also write the model as a Keras 3 ``.keras`` file
            (``model_keras3.keras``) when it came in as a tf-keras model (Keras 3 cannot open tf-keras ``.keras`` files). A
            model that came in as a Keras 3 file is always written back as Keras 3 files.
        sparse: also write the float TFLite kinds (``float32``, ``float16``) with sparse weight
            encoding (``Optimize.EXPERIMENTAL_SPARSITY``), smaller when many weights are zero.
        sparse_int8: also write the integer kinds (``dynamic``, ``int8``) with sparse encoding.
            Off by default: XNNPack cannot run those files, so they run on the slower built-in
            kernels, and gzip already removes most of what sparse encoding saves.
        keep_dominated: keep a sparse-encoded file even when it turned out larger (gzipped) and
            slower than the plain file of the same kind; otherwise it is measured, reported
            and removed.
        max_accuracy_drop: the accuracy budget: the recommended file is the smallest verified
            one that loses at most this much accuracy (0.01 = one point) against the baseline.
        representative_samples: how many training samples calibrate the int8 model.
        verify_samples: at most this many test samples (spread over the test split) verify
            each file and the baseline; 0 means all of them.

    Example::

        ExportSettings(h5=False, tflite=("int8",), int8_io="int8", sparse=False)
    """

    keras: bool = True
    h5: bool = True
    tflite: tuple[str, ...] = ("float32", "dynamic", "float16", "int8")
    int8_io: str = "float"
    sparse: bool = True
    representative_samples: int = 200
    keras3: bool = True
    sparse_int8: bool = False
    keep_dominated: bool = False
    max_accuracy_drop: float = 0.01
    verify_samples: int = 1000

    def __post_init__(self):
        self.tflite = tuple(self.tflite)
        unknown = [k for k in self.tflite if k not in TFLITE_KINDS]
        if unknown:
            raise ExportError(
                f"tflite kind {unknown[0]!r} is not known; valid kinds are {', '.join(TFLITE_KINDS)}."
            )
        if self.int8_io not in INT8_IO_CHOICES:
            raise ExportError(f"int8_io {self.int8_io!r} is not valid; use 'float' or 'int8'.")
        if self.representative_samples < 1:
            raise ExportError(
                f"representative_samples is {self.representative_samples}; it must be at least 1."
            )
        if not 0 <= self.max_accuracy_drop <= 1:
            raise ExportError(
                f"max_accuracy_drop is {self.max_accuracy_drop}; give a fraction between 0 and 1 (0.01 = one point)."
            )
        if self.verify_samples < 0:
            raise ExportError(f"verify_samples is {self.verify_samples}; give 0 (all) or a positive number.")

    def sparse_kinds(self) -> tuple[str, ...]:
        """The TFLite kinds that also get a sparse-encoded copy."""
        wanted = (("float32", "float16") if self.sparse else ()) + (("dynamic", "int8") if self.sparse_int8 else ())
        return tuple(k for k in self.tflite if k in wanted)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tflite"] = list(self.tflite)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ExportSettings":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)

"""Open a model file safely: ``.keras``, ``.h5`` or a SavedModel folder.

Users bring whatever file they have, so every failure becomes one ``ModelLoadError`` whose
message names the file and what is wrong, never a TensorFlow traceback. Before anything is
deserialised the model's JSON config is read directly and scanned for code (Lambda layers,
unknown custom classes); such files load only with ``trust=True``. Files written by Keras 3
are rebuilt as tf-keras models (see ``keras3``).

Example::

    loaded = load_model("model.keras")
    loaded.model.summary()
"""

from __future__ import annotations

import json
import zipfile
import threading
from dataclasses import dataclass
from pathlib import Path

import h5py

from prune_studio.errors import PruneStudioError
from prune_studio.models.compile_settings import (
    CompileSettings,
    infer_compile_settings,
    settings_from_saved,
)
from prune_studio.models.config_scan import Finding, describe_findings, scan_config
from prune_studio.models.safety import check_graph, load_custom_objects
from prune_studio.models.savedmodel import open_savedmodel
from prune_studio.models.subclassed_inputs import with_inputs

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ZIP_MAGIC = b"PK\x03\x04"
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
_TRUST = "open it with --trust (trust=True in Python) only if you trust its source"
_CUSTOM = "give the Python file that defines its classes with --custom-objects FILE.py"


class ModelLoadError(PruneStudioError):
    """A model file or folder cannot be opened; the message says which and why."""


class LoadedModel:
    """A model opened from disk; the tf-keras model itself is built on first use.

    Opening checks the file (its kind, its config, the code scan) at once; building the model
    (every layer, every weight read) waits until ``model`` is first read, so a window or
    ``inspect`` can show the layers from :meth:`describe` in well under a second. Reading
    ``model`` from several threads builds it once.

    Attributes:
        path: The file or folder it came from.
        fmt: ``"keras"``, ``"h5"`` or ``"savedmodel"``.
        saved_with: Which Keras wrote it, e.g. ``"tf-keras 2.21.0"`` or ``"keras 3.15.1"``.
    """

    def __init__(self, path: Path, fmt: str, saved_with: str, build, training=None, config=None, custom=None):
        self.path, self.fmt, self.saved_with = path, fmt, saved_with
        self._build, self._training, self._config, self._custom = build, training, config, dict(custom or {})
        self._model = None
        self._settings = None
        self._lock = threading.Lock()

    @property
    def is_built(self) -> bool:
        """Whether the tf-keras model has been built (``model`` returns at once)."""
        return self._model is not None

    @property
    def model(self):
        """The tf-keras model, compiled with ``compile_settings`` and Adam (built on first read).

        Raises:
            ModelLoadError: The weights or layers cannot be loaded after all.
        """
        with self._lock:
            if self._model is None:
                model = with_inputs(self._build())
                _check_inputs(self.path, model)
                self._settings = _compile(model, self._training)
                self._model = model
            return self._model

    @property
    def compile_settings(self) -> CompileSettings:
        """The loss and metrics saved with the model, or inferred (builds the model)."""
        _ = self.model
        return self._settings

    def describe(self):
        """The :class:`~prune_studio.models.describe.ModelDescription` of the model, from its
        config when that can be read without building the model, else from the built model."""
        from prune_studio.models.describe import describe_model
        from prune_studio.models.quick_describe import describe_config

        if self._model is None and self._config is not None:
            description = describe_config(self._config, self._custom, self.path)
            if description is not None:
                return description
        return describe_model(self.model, self.path)


def _compile(model, training) -> CompileSettings:
    settings = settings_from_saved(training, getattr(model, "output_names", None)) or infer_compile_settings(model)
    try:
        model.compile(optimizer="adam", loss=settings.keras_loss(), metrics=settings.keras_metrics())
    except Exception:  # a saved loss tf-keras does not know: fall back to an inferred one
        settings = infer_compile_settings(model)
        model.compile(optimizer="adam", loss=settings.keras_loss(), metrics=settings.keras_metrics())
    return settings


@dataclass
class _Header:
    """What is read from a file without deserialising anything."""

    fmt: str
    model_config: dict
    compile_config: dict | None
    keras_version: str


def _fail(path: Path, what: str) -> ModelLoadError:
    return ModelLoadError(f"Model file '{path.name}' {what}")


def _read_keras_zip(path: Path) -> _Header:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "config.json" not in names:
                raise _fail(path, "is a zip archive without a config.json, so it is not a Keras model.")
            config = json.loads(archive.read("config.json"))
            meta = json.loads(archive.read("metadata.json")) if "metadata.json" in names else {}
    except (zipfile.BadZipFile, EOFError, OSError, zipfile.LargeZipFile):
        raise _fail(path, "is damaged or incomplete: its zip archive cannot be read.") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise _fail(path, "has a config.json that is not valid JSON.") from None
    if not isinstance(config, dict) or "class_name" not in config:
        raise _fail(path, "has a config.json that does not describe a model.")
    return _Header("keras", config, config.get("compile_config"), str(meta.get("keras_version", "")))


def _attr_text(value) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _read_h5(path: Path) -> _Header:
    try:
        with h5py.File(path, "r") as f:
            model_config = _attr_text(f.attrs.get("model_config"))
            training = _attr_text(f.attrs.get("training_config"))
            version = _attr_text(f.attrs.get("keras_version")) or ""
            weights_only = "layer_names" in f.attrs or "model_weights" not in f
    except OSError:
        raise _fail(path, "is damaged or incomplete: its HDF5 data cannot be read.") from None
    if model_config is None:
        if weights_only:
            raise _fail(
                path,
                "holds only weights, not a model; open the file saved with model.save() instead.",
            )
        raise _fail(path, "has no model configuration, so it is not a Keras model.")
    try:
        config = json.loads(model_config)
        compile_config = json.loads(training) if training else None
    except json.JSONDecodeError:
        raise _fail(path, "has a model configuration that is not valid JSON.") from None
    return _Header("h5", config, compile_config, version)


def read_header(path: Path) -> _Header:
    """Check the file's kind by its first bytes and read its config, deserialising nothing."""
    suffix = path.suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise _fail(
            path,
            f"has the extension '{suffix or '(none)'}'; open a .keras or .h5 file or a SavedModel folder.",
        )
    size = path.stat().st_size
    if size == 0:
        raise _fail(path, "is empty (0 bytes).")
    with open(path, "rb") as f:
        magic = f.read(8)
    if magic.startswith(_ZIP_MAGIC):
        return _read_keras_zip(path)
    if magic == _HDF5_MAGIC:
        return _read_h5(path)
    raise _fail(path, "is not a Keras model: it is neither a .keras zip archive nor an HDF5 file.")


def _custom_objects(custom_objects_file) -> dict:
    if custom_objects_file is None:
        return {}
    try:
        return load_custom_objects(custom_objects_file)
    except ValueError as exc:
        raise ModelLoadError(f"The {exc}.") from None


def refusal(subject: str, findings: list[Finding]) -> str:
    """One sentence: what in the file would run code, and how to proceed."""
    kinds = {f.kind for f in findings}
    how = _TRUST if kinds == {"lambda"} else f"{_CUSTOM}, or {_TRUST}"
    return f"{subject} holds code that is not run without trust: {describe_findings(findings)}; {how}."


def _refuse_code(path: Path, header: _Header, trust: bool, custom: dict) -> None:
    if trust:
        return
    keras3 = header.keras_version.startswith("3")
    findings = scan_config(header.model_config, set(custom), keras3)
    if header.compile_config is not None and header.fmt == "h5":
        findings += scan_config(header.compile_config, set(custom), keras3, where="the training config")
    if findings:
        raise ModelLoadError(refusal(f"Model file '{path.name}'", findings))


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300].rstrip(".")


def _declares_input(model_config: dict) -> bool:
    """Whether a saved config fixes the model's input shape (so its weights have shapes)."""
    config = model_config.get("config") or {}
    if model_config.get("class_name") != "Sequential":
        return True  # Functional models always start at Input layers
    if config.get("build_input_shape"):
        return True
    shape_keys = ("batch_input_shape", "batch_shape", "input_shape", "input_dim")
    return any(
        layer.get("class_name") == "InputLayer" or any((layer.get("config") or {}).get(k) for k in shape_keys)
        for layer in config.get("layers") or []
    )


_NO_INPUT = (
    "has no defined input shape; save it after building it with an Input layer or "
    "input_shape so its layers have weights."
)


def _check_inputs(path: Path, model) -> None:
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs or not getattr(model, "built", False):
        raise _fail(path, _NO_INPUT)


def _load_tf_keras(path: Path, header: _Header, trust: bool, custom: dict):
    from prune_studio.compat import keras
    from tf_keras.src.saving import serialization_lib

    from prune_studio.models.keras_zip import load_keras_archive

    try:
        if header.fmt == "keras":
            return load_keras_archive(path, header.model_config, custom, trust)
        with serialization_lib.SafeModeScope(not trust):
            return keras.models.load_model(str(path), custom_objects=custom, compile=False)
    except Exception as exc:  # tf-keras raises many types for a bad file
        raise _fail(path, f"could not be loaded: {_short(exc)}.") from None


def load_model(path, trust: bool = False, custom_objects_file=None) -> LoadedModel:
    """Open a ``.keras`` / ``.h5`` file or SavedModel folder as a compiled tf-keras model.

    Args:
        path: The file or folder.
        trust: Allow code stored in the file (Lambda layers, custom classes) to run. Only for
            files from a trusted source.
        custom_objects_file: A Python file whose classes and functions are made known to the
            loader (running it is a trusted action the user chose).

    Returns:
        LoadedModel with the model built and compiled (Adam, plus its saved or inferred
        loss/metrics).

    Raises:
        ModelLoadError: The path is missing, not a model, damaged, holds code without
            ``trust``, or the model has no defined input shape.
    """
    loaded = open_model(path, trust, custom_objects_file)
    _ = loaded.model
    return loaded


def open_model(path, trust: bool = False, custom_objects_file=None) -> LoadedModel:
    """Check a model file or folder and return it with the tf-keras model not built yet.

    Everything that can be told from the file without building the model is checked here (it
    exists, its kind, its config, the code scan, the input shape, the layer graph); the model is
    built when ``LoadedModel.model`` is first read, and ``LoadedModel.describe()`` usually needs
    no build at all. Arguments and errors as :func:`load_model`.
    """
    from prune_studio.models import keras3

    p = Path(path)
    if not p.exists():
        raise ModelLoadError(
            f"Model file '{p}' does not exist; choose a .keras or .h5 file or a SavedModel folder."
        )
    custom = _custom_objects(custom_objects_file)
    if p.is_dir():
        plan = open_savedmodel(p, trust, custom)
        return LoadedModel(p, "savedmodel", "tf-keras (SavedModel)", plan.build, plan.training, plan.config, custom)
    header = read_header(p)
    _refuse_code(p, header, trust, custom)
    if not _declares_input(header.model_config):
        raise _fail(p, _NO_INPUT)
    if header.keras_version.startswith("3"):
        saved_with = f"keras {header.keras_version}"
        config = keras3.tf_keras_config(header.model_config, custom)

        def build():
            return keras3.rebuild(p, header.fmt, header.model_config, custom)
    else:
        saved_with = f"tf-keras {header.keras_version}".strip()
        try:
            check_graph(header.model_config)
        except ValueError as exc:
            raise _fail(p, f"has a damaged layer graph: {exc}.") from None
        config = header.model_config

        def build():
            return _load_tf_keras(p, header, trust, custom)
    return LoadedModel(p, header.fmt, saved_with, build, header.compile_config, config, custom)

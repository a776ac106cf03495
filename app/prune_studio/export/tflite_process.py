"""TFLite conversions in a child process, so the converter never holds this process's GIL.

``TFLiteConverter.convert`` holds the GIL for its whole run (0.2-2.3 s per file here): in the
window's process that froze the window, whichever thread converted. The export therefore
hands each model over once (:func:`hand_over`: traced and frozen to a GraphDef, or saved as a
SavedModel for recurrent models and models with several inputs or outputs, exactly the two
routes the in-process converter takes) and :class:`ConverterProcess` runs
:mod:`prune_studio.export.tflite_worker`, which converts and writes the files. Tracing,
freezing and saving stay here: they are Python code, which lets other threads run.

The child is started once and kept (:func:`shared`): importing TensorFlow there takes seconds,
and the window exports more than once. It inherits the calling thread's priority (the
window's workers run niced). When it cannot be started, conversions run in this process.

Example::

    process = shared()
    handoff = hand_over(model, folder)
    ticket = process.submit(handoff.request("float32", path=folder / "m.tflite"))
    error = process.wait(ticket)      # '' when the file was written
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import subprocess
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from prune_studio.child_process import ChildOwner, last_line, start_module
from prune_studio.export.settings import ExportError

log = logging.getLogger(__name__)


@dataclass
class Handoff:
    """A model as the child converts it; ``spec`` is the request's ``source``."""

    spec: dict
    integer_inputs: list[bool] | None = None
    note: str = ""
    unfused_error: str = ""  # why no full-integer int8 file can be made ('' when it can)
    calibration: str | None = None  # the calibration samples' file, once written

    def request(self, kind: str, path, sparse: bool = False, int8_io: str = "float") -> dict:
        return {"source": self.spec, "kind": kind, "sparse": sparse, "int8_io": int8_io,
                "integer_inputs": self.integer_inputs, "calibration": self.calibration if kind == "int8" else None,
                "path": str(path)}


def hand_over(model, folder: Path, name: str = "model") -> Handoff:
    """Write ``model`` into ``folder`` the way the child converts it (see the module docstring).

    Raises:
        ExportError: the model cannot be converted at all (a recurrent model without a fixed
            sequence length), or cannot be written.
    """
    from prune_studio.compat import tf
    from prune_studio.export.tflite import check_int8, make_source

    source = make_source(model)
    try:
        check_int8(model)
        unfused = ""
    except ExportError as exc:
        unfused = str(exc)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if source is not None and not source.fixed_batch:
                from tensorflow.python.framework import convert_to_constants

                # What the converter does with a concrete function: the same options, the same file.
                frozen, graph_def = convert_to_constants.convert_variables_to_constants_v2_as_graph(
                    source.function, lower_control_flow=False, aggressive_inlining=True)
                path = folder / f"{name}.pb"
                path.write_bytes(graph_def.SerializeToString())
                spec = {"graph": str(path), "inputs": [t.name for t in frozen.inputs],
                        "outputs": [t.name for t in frozen.outputs]}
            else:
                # Recurrent models (the SavedModel route lowers LSTMs to fused kernels) and models
                # with several inputs/outputs (the signature carries the Keras names).
                target = folder / f"{name}_savedmodel"
                signatures = {"serving_default": source.function} if source is not None else None
                tf.saved_model.save(model, str(target), signatures=signatures)
                spec = {"saved_model": str(target)}
    except ExportError:
        raise
    except Exception as exc:  # noqa: BLE001 - tracing and saving raise many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"the model could not be prepared for TFLite ({first}).") from exc
    return Handoff(spec, source.integer_inputs if source is not None else None,
                   source.note() if source is not None else "", unfused)


def write_calibration(handoff: Handoff, samples, folder: Path) -> None:
    """Save the int8 calibration ``samples`` (an array, or a dict by input name) for the child."""
    if isinstance(samples, dict):
        path = folder / "calibration.npz"
        np.savez(path, **{k: np.asarray(v) for k, v in samples.items()})
    else:
        path = folder / "calibration.npy"
        np.save(path, np.asarray(samples))
    handoff.calibration = str(path)


@dataclass
class ConverterProcess(ChildOwner):
    """The child converting TFLite files; requests are answered in the order sent."""

    _process: subprocess.Popen | None = None
    _stderr: object = None
    _next: int = 0
    _answers: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)  # sending, starting, stopping
    _reading: threading.Lock = field(default_factory=threading.Lock)  # receiving

    def start(self) -> bool:
        """Start the child unless it runs; False when it cannot be started."""
        with self._lock:
            if self.alive():
                return True
            self._answers.clear()
            try:
                self._process, self._stderr = start_module("prune_studio.export.tflite_worker")
            except OSError as exc:
                log.warning("TFLite converter process could not start (%s); converting in-process", exc)
                self._process = None
                return False
            return True

    def submit(self, request: dict) -> int:
        """Send one request (see :mod:`~prune_studio.export.tflite_worker`); its ticket for :meth:`wait`."""
        with self._lock:
            ticket, self._next = self._next, self._next + 1
            try:
                self._process.stdin.write(json.dumps(dict(request, id=ticket)) + "\n")
                self._process.stdin.flush()
            except (OSError, AttributeError, ValueError):
                self._answers[ticket] = self._died()
        return ticket

    def wait(self, ticket: int) -> str:
        """Block until ``ticket`` is answered: '' when its file was written, else the reason."""
        with self._reading:
            while ticket not in self._answers:
                process = self._process
                try:
                    line = process.stdout.readline() if process is not None else ""
                except (OSError, ValueError):  # stopped meanwhile
                    line = ""
                if not line:
                    self._answers[ticket] = self._died()
                    break
                reply = json.loads(line)
                if reply.get("id") is not None:
                    self._answers[reply["id"]] = reply.get("error", "")
            return self._answers.pop(ticket)

    def _died(self) -> str:
        last = last_line(self._stderr)
        process = self._process
        code = process.poll() if process is not None else None
        detail = f" ({last})" if last else (f" (exit code {code})" if code is not None else "")
        return f"the TFLite converter process stopped unexpectedly{detail}; try the export again."


_children: dict[str, ConverterProcess] = {}  # 'main' (shared), 'helper'
_shared_lock = threading.Lock()
#: Whether exports convert in the child (see :func:`use_child`).
_use_child = True


def use_child(enabled: bool) -> None:
    """Convert in the child process (the default) or in this one.

    The CLI converts in its own process: it has no window to keep responsive, and the child's
    TensorFlow import costs several seconds of CPU per run.
    """
    global _use_child
    _use_child = enabled


def _child(role: str) -> ConverterProcess:
    """The process-wide child for ``role`` (made on first use, closed at exit)."""
    with _shared_lock:
        if role not in _children:
            _children[role] = ConverterProcess()
            atexit.register(_children[role].close)
        return _children[role]


def shared() -> ConverterProcess | None:
    """The process-wide converter child (started on first use, closed at exit); None when this
    process converts its files itself (:func:`use_child`)."""
    return _child("main") if _use_child else None


#: Parameters from which a model's files are shared between two children (see :func:`helper`).
HELPER_FROM_PARAMS = 2_000_000


def helper(params: int) -> ConverterProcess | None:
    """A second converter child for the files of a model with ``params`` parameters, or None.

    The converter runs on one core: a big model's files (ResNet50's ten took ~75 s one after
    another here) are made by two children at once when the machine has two cores or more.
    A small model's files take a fraction of a second each, less than a child's start-up, so
    they stay with :func:`shared`'s. A converting child peaks at ~34 bytes per float32 byte of
    the model here (ResNet50: 3.2 GB for 94 MB), so the second one is used only when the memory
    free now holds :data:`HELPER_BYTES_PER_PARAM` per parameter.
    """
    if not _use_child or params < HELPER_FROM_PARAMS or (os.cpu_count() or 1) < 2:
        return None
    if free_memory_bytes() < HELPER_BYTES_PER_PARAM * params:
        return None
    return _child("helper")


#: Free memory a second converting child needs, per model parameter (see :func:`helper`).
HELPER_BYTES_PER_PARAM = 200


def free_memory_bytes() -> int:
    """Memory free now, in bytes; 0 where the system does not say (then no helper child)."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 0


def children() -> list[ConverterProcess]:
    """The converter children made so far (for measuring what they cost)."""
    with _shared_lock:
        return list(_children.values())

"""Run :func:`~prune_studio.training.fine_tune` in a child process and relay what it reports.

Why: see :mod:`prune_studio.training.run_child`. The window calls :meth:`RunProcess.run` from
its run worker thread, which then only waits on a pipe (no GIL held) and calls the listener
with each event the child sends; :class:`~prune_studio.training.control.RunControl` changes
(stop, pause, resume) are passed on within 50 ms. The child opens the model file and loads the
data itself (:meth:`RunProcess.prepare` does it ahead, while the user sets the plan), writes the
stripped model when the run ends, and this process reads it back ("Reading the pruned model").

One child serves the whole process (:func:`shared`), one run at a time; it starts on first use
and ends with this process. It inherits the priority of the thread that starts it (the window's
workers run niced). The model must come from a file (:class:`ModelSource`); anything else is
fine-tuned in the calling thread as before.

Example::

    source = ModelSource("model.keras", trust=False)
    data = DataSource(spec.to_dict(), dataset.fixes)
    result = shared().run(source, data, plan, settings, compile_settings, listener, control)
"""

from __future__ import annotations

import atexit
import importlib
import json
import logging
import shutil
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from prune_studio.child_process import ChildOwner, last_line, start_module
from prune_studio.errors import PruneStudioError

log = logging.getLogger(__name__)

#: How often the control's stop/pause/resume is looked at during a run (seconds).
CONTROL_POLL_S = 0.05
READING = "Reading the pruned model"


class RunProcessError(PruneStudioError):
    """The child failed in a way that has no error type of its own here."""


@dataclass(frozen=True)
class ModelSource:
    """Where the child opens the model from: the file the window opened, as it opened it."""

    path: str
    trust: bool = False


@dataclass(frozen=True)
class DataSource:
    """How the child loads the data: a ``DataSpec.to_dict()`` and the fixes applied since."""

    spec: dict
    fixes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"spec": self.spec, "fixes": list(self.fixes)}


@dataclass
class RunProcess(ChildOwner):
    """The child process fine-tuning for this one (see the module docstring)."""

    _process: Any = None
    _stderr: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)  # starting, sending, stopping
    _running: threading.Lock = field(default_factory=threading.Lock)  # one run at a time

    def start(self) -> bool:
        """Start the child unless it runs; False when it cannot be started."""
        with self._lock:
            if self.alive():
                return True
            self._close_streams()
            try:
                self._process, self._stderr = start_module("prune_studio.training.run_child")
            except OSError as exc:
                log.warning("the training process could not start (%s); fine-tuning in this one", exc)
                self._process = None
                return False
            return True

    def _send(self, message: dict) -> bool:
        with self._lock:
            process = self._process
            try:
                process.stdin.write(json.dumps(message) + "\n")
                process.stdin.flush()
            except (OSError, AttributeError, ValueError):
                return False
            return True

    def prepare(self, model: ModelSource, data: DataSource) -> bool:
        """Have the child open ``model`` and load ``data`` now (returns at once; False when the
        child cannot be started)."""
        return self.start() and self._send({"cmd": "prepare", "model": asdict(model), "data": data.to_dict()})

    def run(self, model: ModelSource, data: DataSource, plan, settings, compile_settings=None,
            listener=None, control=None, structured=None):
        """Fine-tune in the child; the :class:`~prune_studio.training.run.FineTuneResult`.

        ``wrapped_model`` of the result is None (the wrappers stay in the child);
        ``stripped_model`` is read from the file the child wrote, compiled. With ``structured``
        (:class:`~prune_studio.structured.settings.StructuredSettings`) the child removes channels
        first, as ``structured_fine_tune`` with ``plan`` for the last round (when it enables a
        layer), and the result is a :class:`~prune_studio.structured.run.ShrinkResult`; the
        listener hears the opened model's baseline first, then each round's.

        Raises:
            PruneStudioError: what the child raised (the same class when it is one of this
                package's), or :class:`RunProcessError` when the child died or could not start.
        """
        from prune_studio.training.listener import TrainingListener

        listener = listener or TrainingListener()
        with self._running:
            if not self.start():
                raise RunProcessError("The training process could not be started; see the log for why.")
            out = Path(tempfile.mkdtemp(prefix="prune-studio-run-"))
            try:
                reply = self._relay(model, data, plan, settings, compile_settings, structured, out, listener,
                                    control)
                return self._result(reply, model, listener)
            finally:
                shutil.rmtree(out, ignore_errors=True)

    def _relay(self, model, data, plan, settings, compile_settings, structured, out, listener, control) -> dict:
        request = {"cmd": "run", "model": asdict(model), "data": data.to_dict(), "plan": plan.to_dict(),
                   "settings": settings.to_dict(),
                   "compile": compile_settings.to_dict() if compile_settings is not None else None,
                   "out": str(out)}
        if structured is not None:
            request["structured"] = structured.to_dict()
        if not self._send(request):
            raise RunProcessError(self._died())
        finished = threading.Event()
        if control is not None:
            threading.Thread(target=self._pass_control, args=(control, finished), name="run-control",
                             daemon=True).start()
        try:
            while True:
                try:
                    line = self._process.stdout.readline()
                except (OSError, ValueError, AttributeError):
                    line = ""
                if not line:
                    raise RunProcessError(self._died())
                message = json.loads(line)
                event = message.get("event")
                if event is None:
                    return message
                getattr(listener, f"on_{event}")(*message.get("args", []))
        finally:
            finished.set()

    def _pass_control(self, control, finished: threading.Event) -> None:
        sent = (False, False)  # (stopped, paused) as the child knows them
        while not finished.wait(CONTROL_POLL_S):
            now = (control.stopped, control.paused)
            if now == sent:
                continue
            if now[0] and not sent[0]:
                self._send({"cmd": "stop"})
            elif now[1] != sent[1]:
                self._send({"cmd": "pause" if now[1] else "resume"})
            sent = now

    def _result(self, reply: dict, model: ModelSource, listener):
        if "error" in reply:
            raise _rebuilt(reply["error"])
        from prune_studio.models import load_model
        from prune_studio.training.run import FineTuneResult

        listener.on_phase(READING, None)
        started = time.perf_counter()
        stripped = load_model(reply["stripped"], trust=model.trust).model
        listener.on_phase(READING, time.perf_counter() - started)
        done = reply["done"]
        result = FineTuneResult(wrapped_model=None, stripped_model=stripped, baseline=done["baseline"],
                                final=done["final"], history=done["history"], stopped=done["stopped"],
                                skipped=done.get("skipped", {}), sparsity=done.get("sparsity", {}))
        listener.on_run_end(result)
        if "shrink" in reply:
            from prune_studio.structured.run import ShrinkResult

            return ShrinkResult.from_dict(reply["shrink"], stripped, result, reply.get("layer_sizes"))
        return result

    def _died(self) -> str:
        last = last_line(self._stderr)
        self.stop()
        return ("The training process stopped unexpectedly" + (f" ({last})" if last else "")
                + "; try the run again, with a smaller batch size if the computer ran out of memory.")

    def _close_streams(self) -> None:
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


def _rebuilt(error: dict) -> BaseException:
    """The child's exception as one of this process: its own class when it is this package's
    error type (only ``prune_studio`` modules are imported), MemoryError, else RunProcessError."""
    log.info("the training process failed:\n%s", error.get("traceback", ""))
    module, _, name = error.get("type", "").rpartition(".")
    message = error.get("message", "")
    if error.get("expected"):
        return _own_error_class(module, name)(message)
    if name == "MemoryError":
        return MemoryError(message)
    return RunProcessError(f"The fine-tune failed ({name}: {message}); the log panel has the details.")


def _own_error_class(module: str, name: str) -> type:
    """The error class ``module.name`` when it is one of this package's, else RunProcessError."""
    if module == "prune_studio" or module.startswith("prune_studio."):
        try:
            cls = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            cls = None
        if isinstance(cls, type) and issubclass(cls, PruneStudioError):
            return cls
    return RunProcessError


_shared: RunProcess | None = None
_shared_lock = threading.Lock()
_use_child = True


def use_child(enabled: bool) -> None:
    """Fine-tune the window's runs in the child (the default) or in the calling thread."""
    global _use_child
    _use_child = enabled


def shared() -> RunProcess | None:
    """The process-wide training child (not started until used), or None when runs stay in
    this process (:func:`use_child`)."""
    global _shared
    if not _use_child:
        return None
    with _shared_lock:
        if _shared is None:
            _shared = RunProcess()
            atexit.register(_shared.close)
        return _shared

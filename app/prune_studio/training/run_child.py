"""Fine-tune in a process of its own: ``python -m prune_studio.training.run_child``.

The window's fine-tune used to run in a thread of the window's process. TensorFlow builds its
training graph in Python, and every Qt call the GUI thread makes gives the GIL away and waits
to get it back from that thread: on MobileNetV2 the window stalled 130-290 ms at a time while
a run started and trained. Here the run has a process to itself;
:mod:`prune_studio.training.run_process` starts it and relays what it reports.

Protocol: one JSON object per line on stdin, in order::

    {"cmd": "prepare", "model": {"path": "m.keras", "trust": false},
     "data": {"spec": {DataSpec.to_dict()}, "fixes": ["rescale_255"]}}
        opens the model and loads the data now, so a run that follows starts at once (no reply)
    {"cmd": "run", "model": ..., "data": ..., "plan": {PruningPlan.to_dict()},
     "settings": {TrainingSettings.to_dict()}, "compile": {CompileSettings.to_dict()} or null,
     "out": "folder for the stripped model",
     "structured": {StructuredSettings.to_dict()} or absent (remove channels, then fine-tune)}
    {"cmd": "stop"} | {"cmd": "pause"} | {"cmd": "resume"}    (for the run in progress)

and on stdout, for a run: one ``{"event": "<listener method>", "args": [...]}`` per listener
call (``on_batch_end`` -> ``"batch_end"``; ``on_run_end`` is not sent), then
``{"done": FineTuneResult.to_dict(), "stripped": "out/stripped.keras"}`` (a structured run adds
``"shrink": ShrinkResult.to_dict()`` and ``"layer_sizes"``) or
``{"error": {"type": "module.Class", "message": "...", "expected": bool, "traceback": "..."}}``.
The process ends when stdin closes; a run in progress then stops at its next batch.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import traceback
from pathlib import Path

EVENTS = ("run_start", "baseline", "batch_end", "epoch_end", "sparsity", "log", "phase", "warning")


def _number(value):
    """JSON for the numpy scalars Keras puts in its logs."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


class _Replies:
    """Writes one JSON line per reply; the listener and the main loop share it."""

    def __init__(self, stream) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, message: dict) -> None:
        line = json.dumps(message, default=_number)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()


def _listener(replies: _Replies):
    from prune_studio.training.listener import TrainingListener

    class JsonListener(TrainingListener):
        pass

    def forward(event):
        return lambda self, *args: replies.send({"event": event, "args": list(args)})

    for event in EVENTS:
        setattr(JsonListener, f"on_{event}", forward(event))
    return JsonListener()


class _Workspace:
    """The opened model and loaded data of the last ``prepare``/``run`` (one at a time)."""

    def __init__(self) -> None:
        self._key = None
        self._value = None

    def get(self, model: dict, data: dict):
        key = json.dumps([model, data], sort_keys=True)
        if key != self._key:
            self._key, self._value = None, None  # the old model's memory goes first
            self._value = _open(model, data)
            self._key = key
        return self._value


def _open(model: dict, data: dict):
    from prune_studio.data import DataSpec, apply_fix, load_data
    from prune_studio.models import open_model

    loaded = open_model(model["path"], trust=bool(model.get("trust")))
    loaded.model  # noqa: B018 - builds it and reads its weights now
    dataset = load_data(DataSpec.from_dict(data["spec"]))
    for fix in data.get("fixes", []):
        if fix not in dataset.fixes:
            dataset = apply_fix(dataset, fix)
    return loaded, dataset


def _run(request: dict, workspace: _Workspace, replies: _Replies, control) -> dict:
    from prune_studio.models.compile_settings import CompileSettings
    from prune_studio.pruning.plan import PruningPlan
    from prune_studio.training.run import fine_tune
    from prune_studio.training.settings import TrainingSettings

    loaded, dataset = workspace.get(request["model"], request["data"])
    compile_settings = (CompileSettings.from_dict(request["compile"]) if request.get("compile")
                        else loaded.compile_settings)
    plan, settings = PruningPlan.from_dict(request["plan"]), TrainingSettings.from_dict(request["settings"])
    listener = _listener(replies)
    reply = {}
    if request.get("structured") is not None:
        shrunk = _shrink(loaded.model, dataset, request["structured"], plan, settings, compile_settings,
                         listener, control)
        result = shrunk.fine_tune
        reply["shrink"], reply["layer_sizes"] = shrunk.to_dict(), shrunk.layer_sizes
    else:
        result = fine_tune(loaded.model, plan, dataset, settings, compile_settings=compile_settings,
                           listener=listener, control=control)
    target = Path(request["out"]) / "stripped.keras"
    result.stripped_model.save(target)
    return {**reply, "done": result.to_dict(), "stripped": str(target)}


def _shrink(model, dataset, structured: dict, plan, settings, compile_settings, listener, control):
    """Remove channels and fine-tune, as the window's Channels tab asks: the first baseline the
    listener hears is the model as opened; each round's own (the smaller model before tuning) follows."""
    import time

    from prune_studio.structured.run import structured_fine_tune
    from prune_studio.structured.settings import StructuredSettings
    from prune_studio.training.evaluate import evaluate_keras

    listener.on_phase("Evaluating", None)
    start = time.monotonic()
    baseline = evaluate_keras(model, dataset, compile_settings, settings.batch_size)
    listener.on_phase("Evaluating", time.monotonic() - start)
    listener.on_baseline(baseline)
    magnitude = plan if any(p.enabled for p in plan.layers.values()) else None
    return structured_fine_tune(model, dataset, StructuredSettings.from_dict(structured), settings, compile_settings,
                                listener=listener, control=control, plan=magnitude)


def _error(exc: BaseException) -> dict:
    from prune_studio.errors import PruneStudioError

    kind = type(exc)
    return {"error": {"type": f"{kind.__module__}.{kind.__qualname__}", "message": str(exc),
                      "expected": isinstance(exc, PruneStudioError),
                      "traceback": "".join(traceback.format_exception(kind, exc, exc.__traceback__))}}


def main() -> int:
    from prune_studio.child_process import reply_channel

    replies = _Replies(reply_channel())
    import prune_studio.compat  # noqa: F401 - TensorFlow loads before the first command comes
    from prune_studio.training.control import RunControl

    commands: queue.Queue = queue.Queue()
    current: dict = {"control": RunControl()}

    def read_stdin() -> None:
        for line in sys.stdin:
            if not line.strip():
                continue
            command = json.loads(line)
            name = command.get("cmd")
            if name in ("stop", "pause", "resume"):
                getattr(current["control"], name)()
                continue
            if name == "run":  # a stop read right after it is for this run, even before it starts
                command["control"] = current["control"] = RunControl()
            commands.put(command)
        current["control"].stop()  # the parent went away: end the run at its next batch
        commands.put(None)

    threading.Thread(target=read_stdin, name="commands", daemon=True).start()
    workspace = _Workspace()
    while (command := commands.get()) is not None:
        if command["cmd"] == "prepare":
            try:
                workspace.get(command["model"], command["data"])
            except Exception:  # noqa: BLE001 - the run that follows opens it again and reports why
                pass
            continue
        try:
            reply = _run(command, workspace, replies, command.pop("control"))
        except BaseException as exc:  # noqa: BLE001 - every failure goes back as one reply
            reply = _error(exc)
        replies.send(reply)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The TFLite files of one export, converted by the child process while the export does the rest.

:meth:`TFLiteBatch.add` hands a model over (traced and frozen here) and queues every file
wanted from it; the child (:mod:`prune_studio.export.tflite_process`) works through the
queue while this process measures the baseline and writes and verifies the Keras files. Given
a second child (a big model's files), the two take the files in turn.
:meth:`TFLiteBatch.wait` returns one file's outcome. When the child cannot be started the
same conversions run in this process, one at a time as they are waited for.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from prune_studio.export.settings import ExportError
from prune_studio.export.tflite_process import ConverterProcess, hand_over, write_calibration


class TFLiteBatch:
    """Queued conversions by name; use as a context manager (the hand-over folder is removed)."""

    def __init__(self, process: ConverterProcess | None, helper: ConverterProcess | None = None):
        # Started on the first add: an export without TFLite files needs none. The helper
        # only joins a started main child (without one, everything converts here).
        self._offered = [c for c in (process, helper if process is not None else None) if c is not None]
        self._processes: list[ConverterProcess] = []  # the started children, sent files in turn
        self._assigned: dict[tuple, ConverterProcess] = {}  # (model key, kind, int8 I/O) -> its child
        self._folder = tempfile.TemporaryDirectory(prefix="prune-studio-tflite-")
        self._tickets: dict[str, tuple[ConverterProcess, int]] = {}
        self._done: dict[str, str] = {}  # name -> '' (written) or why not
        self._notes: dict[str, str] = {}
        self._local: dict[str, tuple] = {}  # name -> in-process conversion, when there is no child
        self._paths: dict[str, Path] = {}  # where each file is written (removed on close unless taken)
        self._sources: dict[int, object] = {}  # id(model) -> its TFLiteSource, for in-process conversions
        self._last = None  # the last in-process conversion in both encodings (tflite.LastConversion)

    @property
    def folder(self) -> Path:
        """The hand-over folder (removed on :meth:`close`)."""
        return Path(self._folder.name)

    def add(self, key: str, model, files: list[tuple[str, str, bool, Path]], int8_io: str = "float",
            calibration=None) -> None:
        """Queue ``files`` (name, kind, sparse, path) of ``model``; ``calibration`` feeds ``int8``."""
        folder = Path(self._folder.name)
        if self._offered:
            for child in self._offered:
                if not child.start():
                    break
                self._processes.append(child)
            self._offered = []
        self._paths.update((name, Path(path)) for name, _, _, path in files)
        try:
            handoff = hand_over(model, folder, key) if self._processes else None
        except ExportError as exc:
            self._done.update((name, str(exc)) for name, *_ in files)
            return
        for name, kind, sparse, path in files:
            if kind == "int8":
                error = handoff.unfused_error if handoff is not None else ""
                if error or calibration is None:
                    self._done[name] = error or ("The full-integer int8 export needs training samples to "
                                                   "calibrate; load a data set with a training split.")
                    continue
                if handoff is not None and handoff.calibration is None:
                    write_calibration(handoff, calibration, folder)
            if handoff is None:
                self._local[name] = (model, kind, sparse, calibration, int8_io, Path(path))
                continue
            self._notes[name] = handoff.note
            process = self._child_for((key, kind, int8_io))
            self._tickets[name] = (process, process.submit(handoff.request(kind, path, sparse, int8_io)))

    def _child_for(self, conversion: tuple) -> ConverterProcess:
        """The child that makes ``conversion``'s files (model, kind, int8 I/O): a kind's plain and
        sparse files go to the same child, which converts once for both (tflite.Encodings).
        Each new conversion goes to the next child in turn."""
        if conversion not in self._assigned:
            self._assigned[conversion] = self._processes[len(self._assigned) % len(self._processes)]
        return self._assigned[conversion]

    def take_path(self, name: str) -> Path:
        """Where file ``name`` is written; the caller removes it from now on."""
        return self._paths.pop(name)

    def pending(self) -> bool:
        """Whether the child still has files of this batch to make."""
        return bool(self._tickets)

    def wait_all(self, control=None) -> None:
        """Wait until the child has made every queued file (it then uses no CPU), or until
        ``control.stopped``.

        Latencies are measured after this: a conversion running beside a timed run took a
        core from it (the unpruned model measured 6.3 instead of 0.7 ms/sample).
        """
        for name, (process, ticket) in list(self._tickets.items()):
            if control is not None and control.stopped:
                return
            self._done[name] = process.wait(ticket)
            del self._tickets[name]

    def wait(self, name: str) -> tuple[str, str]:
        """``(error, note)`` for file ``name``: error '' when the file was written."""
        if name in self._done:
            error = self._done.pop(name)
            return error, "" if error else self._notes.get(name, "")
        if name in self._local:
            return self._convert_here(name)
        if name not in self._tickets:
            return f"no TFLite file named {name!r} was queued.", ""
        process, ticket = self._tickets.pop(name)
        return process.wait(ticket), self._notes.get(name, "")

    def _convert_here(self, name: str) -> tuple[str, str]:
        from prune_studio.export.tflite import LastConversion, converter_for, make_source

        model, kind, sparse, calibration, int8_io, path = self._local.pop(name)
        try:
            # Traced and frozen once per model, not once per file (ResNet50: 6 s a file), and
            # converted once per kind (the sparse twin is encoded from the plain file's model).
            if id(model) not in self._sources:
                self._sources[id(model)] = make_source(model)
            source = self._sources[id(model)]
            self._last = self._last or LastConversion()
            path.write_bytes(self._last.file((id(model), kind, int8_io), sparse, kind, lambda: converter_for(
                model, kind, False, calibration, int8_io, source=source)))
        except ExportError as exc:
            return str(exc), ""
        except OSError as exc:
            return f"writing {path} failed ({exc.strerror or exc}).", ""
        return "", source.note() if source is not None else ""

    def close(self) -> None:
        """Drop what was not waited for (the child is stopped if it still works on it)."""
        for process in {id(p): p for p, _ in self._tickets.values()}.values():
            process.stop()
        self._tickets.clear()
        self._sources.clear()
        self._last = None
        for path in self._paths.values():
            path.unlink(missing_ok=True)
        self._folder.cleanup()

    def __enter__(self) -> "TFLiteBatch":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

"""Keras 3 files of a tf-keras model, written and verified by Keras 3 in a child process.

Keras 3 cannot open a tf-keras ``.keras`` file (``Could not locate class 'Functional'``), and
this process runs tf-keras. So the stripped model is saved as a tf-keras ``.h5`` without
optimizer state (a dialect Keras 3 reads), and :mod:`prune_studio.export.keras3_worker` runs
in a fresh ``python`` (without ``TF_USE_LEGACY_KERAS``): Keras 3 rebuilds the model from that
file, saves each target, loads it back in safe mode and runs it on the test samples. Here the
predictions are compared with the tf-keras model's and every layer's weights with the
stripped weights; a file counts as verified only when both match.

The child starts as soon as the export does (:func:`start`) and works while the TFLite files
are converted; :meth:`Keras3Job.result` waits for it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prune_studio.data import arrays
from prune_studio.export.verify import Verification, scored

WORKER = Path(__file__).with_name("keras3_worker.py")
#: Seconds the child may take (importing TensorFlow and Keras 3 alone takes a few).
TIMEOUT = 600
#: Largest difference tolerated between Keras 3's and tf-keras's outputs.
ATOL = 1e-4


def _leaves(model, prefix=""):
    for layer in model.layers:
        if getattr(layer, "layers", None):
            yield from _leaves(layer, f"{prefix}{layer.name}/")
        else:
            yield f"{prefix}{layer.name}", layer


@dataclass
class Keras3Job:
    """A running child process writing Keras 3 files (see :func:`start`)."""

    process: subprocess.Popen | None
    workdir: tempfile.TemporaryDirectory
    targets: list[dict]
    model: object
    x: np.ndarray
    y: np.ndarray
    error: str = ""

    def cancel(self) -> None:
        """Stop the child if it still runs and remove its folder (safe to call twice)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.workdir.cleanup()

    def result(self, preds=None) -> list[Verification]:
        """Wait for the child; one :class:`Verification` per target, in order.

        ``preds`` are the tf-keras model's outputs on ``x`` when already computed (an array, or a
        dict by output name); else the model is run here to compare.
        """
        try:
            return self._collect(preds)
        finally:
            self.workdir.cleanup()

    def _collect(self, preds=None) -> list[Verification]:
        failed = lambda text: [Verification(error=text) for _ in self.targets]  # noqa: E731
        if self.error:
            return failed(self.error)
        try:
            self.process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return failed(f"Keras 3 did not finish within {TIMEOUT} s.")
        folder = Path(self.workdir.name)
        result = folder / "result.npz"
        if self.process.returncode != 0 or not result.is_file():
            stderr = (folder / "stderr.txt").read_text("utf-8", "replace")
            lines = [ln for ln in stderr.splitlines() if ln.strip()]
            return failed(f"Keras 3 stopped with an error ({lines[-1][:200] if lines else 'no details'}).")
        with np.load(result, allow_pickle=False) as data:
            data = {k: data[k] for k in data.files}
        errors = json.loads(str(data["errors"]))
        if "all" in errors:
            return failed(errors["all"])
        names = _output_names(self.model)
        if preds is None or (len(names) > 1 and not isinstance(preds, dict)):
            preds = self.model(self.x, training=False)
        expected = _outputs(preds, names)
        weights = {name: layer.get_weights() for name, layer in _leaves(self.model)}
        version = str(data.get("keras_version", ""))
        out = []
        for i in range(len(self.targets)):
            if str(i) in errors:
                out.append(Verification(error=errors[str(i)]))
                continue
            out.append(self._check(i, data, expected, weights, version))
        return out

    def _check(self, i: int, data: dict, expected: list, weights: dict, version: str) -> Verification:
        preds = [data[f"{i}/pred/{k}"] for k in range(len(expected)) if f"{i}/pred/{k}" in data]
        prefix = f"{i}/w/"
        saved: dict[str, dict[int, np.ndarray]] = {}
        for key, value in data.items():
            if key.startswith(prefix):
                name, j = key[len(prefix):].rsplit("/", 1)
                saved.setdefault(name, {})[int(j)] = value
        for name, mine in weights.items():
            theirs = saved.get(name, {})
            if len(theirs) != len(mine) or any(
                theirs[j].shape != a.shape or not np.array_equal(theirs[j], a) for j, a in enumerate(mine)
            ):
                return Verification(error=f"Keras 3 read different weights for layer '{name}'.")
        if len(preds) != len(expected):
            return Verification(error=f"Keras 3's model has {len(preds)} outputs, not {len(expected)}.")
        for pred, want in zip(preds, expected):
            if pred.shape != want.shape or not np.allclose(pred, want, atol=ATOL):
                diff = float(np.max(np.abs(pred - want))) if pred.shape == want.shape else float("inf")
                return Verification(error=f"Keras 3's outputs differ from the model's (largest difference {diff:.2g}).")
        ms = 1000.0 * float(data[f"{i}/seconds"]) / max(1, arrays.count(self.x))
        note = f"reloaded with Keras {version} in a separate process; weights and outputs equal"
        pred = preds[0] if len(preds) == 1 else dict(zip(_output_names(self.model), preds))
        result = scored(pred, self.y, note, ms)
        result.preds = pred
        return result


def _output_names(model) -> list[str]:
    return list(getattr(model, "output_names", None) or [])


def _outputs(pred, names: list[str]) -> list[np.ndarray]:
    """tf-keras predictions as a list of arrays in the order of the model's output names."""
    if isinstance(pred, dict):
        return [np.asarray(pred[n]) for n in names]
    if isinstance(pred, (list, tuple)):
        return [np.asarray(p) for p in pred]
    return [np.asarray(pred)]


def _named_inputs(model, x) -> dict:
    """``x`` by input name (Keras 3 matches a dict to a model's inputs by their names)."""
    names = list(getattr(model, "input_names", None) or [])
    if arrays.is_named(x):
        return dict(x)
    return dict(zip(names, x))


def start(model, targets: list[dict], x, y) -> Keras3Job:
    """Start writing ``targets`` (``{"path", "format"}``) with Keras 3; returns at once.

    Args:
        model: the stripped tf-keras model.
        targets: where to write, ``format`` ``"keras"`` or ``"h5"`` (the paths' extensions).
        x, y: test inputs and labels the files are run on (dicts by input and output name, or a
            list of inputs in the model's order, for a model with several).
    """
    workdir = tempfile.TemporaryDirectory(prefix="prune-studio-keras3-")
    job = Keras3Job(None, workdir, targets, model, x, y)
    folder = Path(workdir.name)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*HDF5 file.*legacy", category=UserWarning)
            model.save(folder / "source.h5", include_optimizer=False)
        if len(model.inputs) > 1:
            np.savez(folder / "x.npz", **_named_inputs(model, x))
        else:
            np.save(folder / "x.npy", next(iter(x.values())) if arrays.is_named(x) else x)
    except Exception as exc:  # noqa: BLE001 - tf-keras raises many types when saving
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        job.error = f"the model could not be handed to Keras 3 ({text})."
        return job
    spec = {"source": str(folder / "source.h5"), "x": str(folder / ("x.npz" if len(model.inputs) > 1 else "x.npy")),
            "outputs": _output_names(model), "targets": targets, "result": str(folder / "result.npz")}
    (folder / "job.json").write_text(json.dumps(spec), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    try:
        with open(folder / "stderr.txt", "wb") as stderr:
            job.process = subprocess.Popen([sys.executable, str(WORKER), str(folder / "job.json")], env=env,
                                           stdout=subprocess.DEVNULL, stderr=stderr)
    except OSError as exc:
        job.error = f"Keras 3 could not be started ({exc.strerror or exc})."
    return job

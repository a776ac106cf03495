"""``--strategy multi-worker`` with two worker processes on 127.0.0.1: the same masks on both.

``--strategy mirrored`` on two logical CPUs is run in ``test_runs.py``.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np

from prune_studio.compat import keras

WORKER_TIMEOUT = 150


def _recipe(tmp_path, model_file, data_file):
    from prune_studio.models import load_model
    from prune_studio.pruning.plan import PruningPlan

    plan = PruningPlan.uniform(load_model(model_file).model, 0.7, 0, 6, frequency=2)
    recipe = {
        "schema_version": 1,
        "model": {"path": str(model_file), "trust": False},
        "data": {"kind": "npz", "path": str(data_file), "options": {}},
        "plan": plan.to_dict(),
        "training": {"epochs": 1, "batch_size": 32, "optimizer": "adam", "learning_rate": 0.001,
                     "validation_split": 0.1},
        "export": {"keras": True, "h5": False, "tflite": [], "int8_io": "float", "sparse": False},
    }
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(recipe))
    return path


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _kernels(path):
    model = keras.models.load_model(path, compile=False)
    return {layer.name: layer.kernel.numpy() for layer in model.layers if hasattr(layer, "kernel")}


def test_multi_worker_two_processes_same_masks(demo_model_file, tiny_npz, tmp_path):
    recipe = _recipe(tmp_path, demo_model_file, tiny_npz)
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    try:
        for index in range(2):
            env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
                   "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "prune_studio.cli", "prune", str(demo_model_file), "--recipe", str(recipe),
                 "--out", str(tmp_path / "out"), "--strategy", "multi-worker", "--json"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
        outputs = [p.communicate(timeout=WORKER_TIMEOUT) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
    reports = [json.loads(out) for out, _ in outputs]
    assert [r["strategy"]["chief"] for r in reports] == [True, False]
    assert all(r["strategy"]["replicas"] == 2 for r in reports)
    chief = _kernels(tmp_path / "out" / "model.keras")
    other = _kernels(tmp_path / "out" / "worker-1" / "model.keras")
    assert chief.keys() == other.keys() and chief
    for name in chief:
        np.testing.assert_array_equal(chief[name] == 0, other[name] == 0, err_msg=name)
        np.testing.assert_allclose(chief[name], other[name], rtol=1e-5, atol=1e-6, err_msg=name)
    assert reports[0]["training"]["sparsity"] == reports[1]["training"]["sparsity"]

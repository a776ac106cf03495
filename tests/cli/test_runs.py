"""demo, prune, evaluate and export as subprocesses on the demo model and small digits data."""

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

QUICK_EXPORT = {"keras": True, "h5": False, "tflite": ["float32"], "int8_io": "float", "sparse": False, "keras3": False}


@pytest.fixture(scope="module")
def demo(tmp_path_factory, cli):
    """One ``demo --epochs 1`` run shared by the tests of this module."""
    root = tmp_path_factory.mktemp("demo")
    run = cli("demo", "--out", root / "out", "--epochs", 1, "--json", "--logdir", root / "logs")
    return root, run


def _artifact(report, fmt_word):
    return next(a for a in report["artifacts"] if fmt_word in a["name"].lower() or fmt_word in a["format"].lower())


def test_demo_writes_baseline_recipe_artifacts_and_report(demo):
    root, run = demo
    report = run.json()
    out = root / "out"
    for name in ("baseline.keras", "recipe.json", "model.keras", "report.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "report.json").read_text()) == report
    assert list(out.glob("*.tflite")), "no TFLite files"
    assert report["artifacts"] and all(a["ok"] or a["dropped"] for a in report["artifacts"]), report["artifacts"]
    assert sum(a["recommended"] for a in report["artifacts"]) <= 1
    train = report["training"]
    assert train["baseline"]["accuracy"] > 0.95 and train["final"]["accuracy"] > 0.8
    targets = {n: p["schedule"]["config"]["final_sparsity"] for n, p in report["plan"]["layers"].items()}
    assert all(abs(s - targets[n]) < 0.01 for n, s in train["sparsity"].items()), train["sparsity"]
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["model"]["path"] == "baseline.keras" and recipe["training"]["epochs"] == 1
    assert report["recipe"]["plan"] == recipe["plan"]
    assert list((root / "logs").rglob("events.out.tfevents*"))


def test_evaluate_a_tflite_file(cli, demo):
    root, run = demo
    report = run.json()
    out = root / "out"
    tflite = sorted(out.glob("*.tflite"))[0]
    lite_eval = cli("evaluate", tflite, "--data", "digits", "--json").json()
    assert lite_eval["format"] == "tflite" and lite_eval["samples"] == 360
    expected = next(a for a in report["artifacts"] if a["path"].endswith(tflite.name))["accuracy"]
    assert lite_eval["accuracy"] == pytest.approx(expected, abs=0.01)
    assert 0 < lite_eval["loss"] < 5


def test_demo_refuses_a_used_folder(cli, demo):
    root, _ = demo
    run = cli("demo", "--out", root / "out")
    assert run.code == 2 and "baseline.keras" in run.error_line()


def test_prune_reruns_the_demo_recipe_mirrored_on_two_logical_cpus(cli, demo, tiny_npz, tmp_path):
    """The demo's recipe, on other data, with MirroredStrategy over two logical CPU devices."""
    root, _ = demo
    recipe = json.loads((root / "out" / "recipe.json").read_text())
    recipe["export"] = QUICK_EXPORT
    recipe_path = root / "out" / "quick_recipe.json"
    recipe_path.write_text(json.dumps(recipe))
    args = ("prune", root / "out" / "baseline.keras", "--recipe", recipe_path, "--data", tiny_npz,
            "--out", tmp_path / "run", "--json", "--strategy", "mirrored")
    report = cli(*args, env={"PRUNE_STUDIO_LOGICAL_CPUS": "2"}).json()
    assert report["recipe"]["data"]["path"] == str(tiny_npz)
    assert [a["format"] for a in report["artifacts"]] == ["keras", "tflite"]
    assert report["training"]["history"]["loss"] and len(report["training"]["history"]["loss"]) == 1
    assert report["strategy"] == {"name": "mirrored", "replicas": 2, "chief": True, "task": None}
    # 8 steps of a schedule made for the full sample: on the way, the same share of each layer's target
    reached = [s / recipe["plan"]["layers"][n]["schedule"]["config"]["final_sparsity"]
               for n, s in report["training"]["sparsity"].items()]
    assert 0.05 < reached[0] < 1 and max(reached) - min(reached) < 0.05


def test_export_an_already_pruned_model(cli, demo, tiny_npz, tmp_path):
    root, _ = demo
    report = cli("export", root / "out" / "model.keras", "--data", tiny_npz, "--out", tmp_path / "exp",
                 "--tflite", "dynamic", "--no-h5", "--no-sparse", "--no-keras3", "--json").json()
    assert [a["format"] for a in report["artifacts"]] == ["keras", "tflite"]
    assert all(a["ok"] for a in report["artifacts"])
    assert report["sparsity"], "the export report carries the weights' sparsity"
    assert (tmp_path / "exp" / "report.json").is_file()


def test_a_run_that_diverges_exits_1(cli, demo, tiny_npz, tmp_path):
    root, _ = demo
    with np.load(tiny_npz) as d:
        arrays = {k: d[k] for k in d.files}
    arrays["x_train"] = np.where(arrays["x_train"] > 0.5, 3e38, -3e38).astype(np.float32)  # finite, overflows
    data = tmp_path / "huge.npz"
    np.savez(data, **arrays)
    recipe = json.loads((root / "out" / "recipe.json").read_text())
    recipe["export"] = QUICK_EXPORT
    recipe_path = tmp_path / "recipe.json"
    recipe_path.write_text(json.dumps(recipe))
    run = cli("prune", root / "out" / "baseline.keras", "--recipe", recipe_path, "--data", data,
              "--out", tmp_path / "run", "--epochs", 1)
    assert run.code == 1, run.stderr[-2000:]
    assert "NaN" in run.error_line()
    assert not (tmp_path / "run" / "model.keras").exists()


def test_ctrl_c_stops_training_and_still_exports(demo, tiny_npz, tmp_path):
    root, _ = demo
    recipe = json.loads((root / "out" / "recipe.json").read_text())
    recipe["export"] = {**QUICK_EXPORT, "tflite": []}
    recipe_path = tmp_path / "recipe.json"
    recipe_path.write_text(json.dumps(recipe))
    proc = subprocess.Popen(
        [sys.executable, "-m", "prune_studio.cli", "prune", str(root / "out" / "baseline.keras"), "--recipe",
         str(recipe_path), "--data", str(tiny_npz), "--out", str(tmp_path / "run"), "--epochs", "200", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"})
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(ln) for ln in proc.stderr], daemon=True).start()
    try:
        deadline = time.monotonic() + 120
        while "Fine-tuning" not in lines.get(timeout=max(0.1, deadline - time.monotonic())):
            pass
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    report = json.loads(out)
    assert report["training"]["stopped"] is True
    assert 1 <= len(report["training"]["history"]["loss"]) < 200
    assert (tmp_path / "run" / "model.keras").is_file()

"""``prune-studio-cli scan`` as a user runs it: a separate process, real files."""

import json
import os
import subprocess
import sys

import pytest

CLI = "import sys; from prune_studio.cli import main; sys.exit(main(sys.argv[1:]))"


def _run(tmp_path, *args):
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True,
                          timeout=300, env=env, cwd=tmp_path)


def test_scan_prints_curves_and_writes_a_plan(tmp_path, demo_model_file):
    plan_file = tmp_path / "plan.json"
    proc = _run(tmp_path, "scan", str(demo_model_file), "--data", "digits", "--json", "--samples", "128",
                "--sparsities", "0,50,90", "--target-sparsity", "80", "--plan-out", str(plan_file))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["metric_name"] == "accuracy" and out["num_samples"] == 128
    assert set(out["curves"]) == {"conv1", "conv2", "dense1", "digits"}
    assert all(curve[0] == [0.0, out["baseline"]] for curve in out["curves"].values())
    assert 0.8 <= out["projected_sparsity"] < 0.801
    assert json.loads(plan_file.read_text()) == out["plan"]
    assert list((tmp_path / "cache" / "prune-studio" / "scan").glob("*.json"))

    text = _run(tmp_path, "scan", str(demo_model_file), "--data", "digits", "--samples", "128",
                "--sparsities", "0,50,90", "--max-drop", "1")
    assert text.returncode == 0, text.stderr
    assert "dense1" in text.stdout and "Suggested plan:" in text.stdout and "safe up to" in text.stdout


@pytest.mark.parametrize("args, word", [
    (["--sparsities", "0,150"], "--sparsities"),
    (["--layers", "nope"], "nope"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, demo_model_file, args, word):
    proc = _run(tmp_path, "scan", str(demo_model_file), "--data", "digits", "--samples", "32", *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and word in lines[0], proc.stderr

"""MirroredStrategy with two logical CPU devices (a fresh process: device setup is global)."""

import json
import os
import subprocess
import sys
from pathlib import Path


def test_mirrored_strategy_gives_identical_masks_on_both_replicas():
    child = Path(__file__).with_name("_mirrored_child.py")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, str(child)], capture_output=True, text=True, timeout=240, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT ") :])
    assert result["replicas"] == 2
    # PolynomialDecay(0.3, 0.7, 0, 6, frequency=2): the last of 8 steps that pruned is step 6
    # (sparsity 0.7), so k = round(n * 0.3) weights are kept.
    for name, layer in result["layers"].items():
        assert layer["same_masks"], name
        expected = [max(1, round(n * 0.3)) for n in layer["size"]]
        assert layer["kept"] == expected, name
        assert layer["nonzero_per_replica"] == [expected[0], expected[0]], name
        assert layer["steps"] == [8, 8], name

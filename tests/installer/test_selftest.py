"""``prune-studio --self-test`` passes from the source tree (the bundle runs the same code)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_self_test_from_the_source_tree_exits_0():
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run(
        [sys.executable, "-m", "prune_studio", "--self-test"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )
    out = proc.stdout
    assert proc.returncode == 0, f"self-test failed:\n{out[-3000:]}\n{proc.stderr[-3000:]}"
    assert "SELF-TEST PASSED" in out
    for line in ("tensorflow", "window:", "fine-tune:", "export:", "float32"):
        assert line in out, f"{line!r} missing from the summary:\n{out}"

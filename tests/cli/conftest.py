"""Helpers for CLI tests: run ``prune-studio-cli`` in a subprocess, small real data."""

import json
import os
import subprocess
import sys

import pytest

CLI_TIMEOUT = 240


class CliRun:
    """Outcome of one CLI call."""

    def __init__(self, proc):
        self.code = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    def json(self):
        assert self.code == 0, f"exit {self.code}: {self.stderr[-3000:]}"
        return json.loads(self.stdout)

    def error_line(self):
        lines = [ln for ln in self.stderr.splitlines() if ln.startswith("prune-studio-cli")]
        assert lines, f"no error line on stderr: {self.stderr[-2000:]}"
        return lines[-1]


def run_cli(*args, env=None, timeout=CLI_TIMEOUT, cwd=None):
    """``python -m prune_studio.cli ARGS`` with a bounded run time."""
    full_env = {**os.environ, "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "prune_studio.cli", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=full_env, cwd=cwd,
    )
    return CliRun(proc)



@pytest.fixture(scope="session")
def cli():
    """The :func:`run_cli` function, for tests to call."""
    return run_cli

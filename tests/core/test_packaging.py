"""The wheel carries the resources and both entry points, and an installed copy finds them."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = out.glob("prune_studio-*.whl")
    return path


def test_wheel_has_resources_and_entry_points(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        text = zf.read(entry_points).decode()
    assert "prune_studio/_resources/samples/digits.npz" in names
    assert "prune_studio/_resources/samples/digits_demo.keras" in names
    assert "prune_studio/compat.py" in names
    assert "prune-studio-cli = prune_studio.cli:main" in text
    assert "[gui_scripts]" in text and "prune-studio = prune_studio.ui.app:main" in text


def test_installed_copy_finds_its_resources(wheel, tmp_path):
    target = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import prune_studio.resources as r; print(r.digits_path()); print(r.demo_model_path())"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for line in proc.stdout.split():
        assert Path(line).is_file() and str(target) in line

"""install.sh and uninstall.sh, run for real into a temporary HOME with a stand-in bundle."""

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINUX = ROOT / "installer" / "linux"


@pytest.fixture
def fake_bundle(tmp_path):
    """A folder shaped like the PyInstaller bundle, whose executable just prints a line."""
    bundle = tmp_path / "dist" / "prune-studio"
    shutil.copytree(ROOT / "resources" / "icons", bundle / "_internal" / "resources" / "icons")
    exe = bundle / "prune-studio"
    exe.write_text('#!/bin/sh\necho "fake prune-studio $*"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return bundle


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    return home


def _run(script, home, *args):
    env = {"HOME": str(home), "PATH": os.environ["PATH"]}
    return subprocess.run(["bash", str(LINUX / script), *args], env=env, capture_output=True,
                          text=True, timeout=60)


def test_install_then_uninstall(fake_bundle, home):
    proc = _run("install.sh", home, str(fake_bundle))
    assert proc.returncode == 0, proc.stderr
    prefix = home / ".local" / "opt" / "prune-studio"
    launcher = home / ".local" / "bin" / "prune-studio"
    share = home / ".local" / "share"
    desktop = share / "applications" / "prune-studio.desktop"
    assert (prefix / "prune-studio").is_file()
    assert launcher.is_symlink() and launcher.resolve() == (prefix / "prune-studio").resolve()
    ran = subprocess.run([str(launcher), "--self-test"], capture_output=True, text=True, timeout=30)
    assert ran.stdout.strip() == "fake prune-studio --self-test"
    text = desktop.read_text()
    assert f"Exec={prefix}/prune-studio %f" in text
    assert f"TryExec={prefix}/prune-studio" in text
    for size in (16, 48, 256, 512):
        assert (share / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "prune-studio.png").is_file()
    assert (share / "icons" / "hicolor" / "scalable" / "apps" / "prune-studio.svg").is_file()

    # A second install over the first replaces it cleanly.
    (fake_bundle / "NEW").write_text("v2")
    assert _run("install.sh", home, str(fake_bundle)).returncode == 0
    assert (prefix / "NEW").is_file()
    assert not (prefix.parent / "prune-studio.new").exists()

    proc = _run("uninstall.sh", home)
    assert proc.returncode == 0, proc.stderr
    assert not prefix.exists() and not launcher.exists() and not launcher.is_symlink()
    assert not desktop.exists()
    assert not list((share / "icons").rglob("prune-studio.*"))


def test_install_respects_xdg_data_home(fake_bundle, home, tmp_path):
    data = tmp_path / "xdg-data"
    env = {"HOME": str(home), "PATH": os.environ["PATH"], "XDG_DATA_HOME": str(data)}
    proc = subprocess.run(["bash", str(LINUX / "install.sh"), str(fake_bundle)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert (data / "applications" / "prune-studio.desktop").is_file()


def test_install_without_a_bundle_says_how_to_build_one(home, tmp_path):
    proc = _run("install.sh", home, str(tmp_path / "missing"))
    assert proc.returncode == 1
    assert "make installer" in proc.stderr and str(tmp_path / "missing") in proc.stderr
    assert not (home / ".local").exists()


def test_uninstall_leaves_unrelated_files_alone(home):
    prefix = home / ".local" / "opt" / "prune-studio"
    prefix.mkdir(parents=True)
    (prefix / "notes.txt").write_text("mine")
    bin_dir = home / ".local" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "prune-studio").write_text("#!/bin/sh\n")
    proc = _run("uninstall.sh", home)
    assert proc.returncode == 0
    assert (prefix / "notes.txt").is_file() and (bin_dir / "prune-studio").is_file()
    assert "left it in place" in proc.stderr


def test_unknown_option_is_refused(home):
    proc = _run("install.sh", home, "--sytem")
    assert proc.returncode == 2 and "--sytem" in proc.stderr

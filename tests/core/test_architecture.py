"""The core never imports Qt: only prune_studio.ui may."""

import ast
import subprocess
import sys
from pathlib import Path

import prune_studio

PACKAGE = Path(prune_studio.__file__).parent
QT_MODULES = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "pyqtgraph", "qtpy", "superqt")


def _imports(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def test_no_core_module_imports_qt():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "ui":
            continue
        for name in _imports(path):
            if name.split(".")[0] in QT_MODULES:
                offenders.append(f"{rel}: {name}")
    assert not offenders, "core modules import Qt: " + ", ".join(offenders)


def test_importing_the_core_loads_no_qt():
    core = [
        f"prune_studio.{p.stem if p.is_file() else p.name}"
        for p in PACKAGE.iterdir()
        if p.name not in ("ui", "__main__.py", "__pycache__", "_resources")
        and (p.suffix == ".py" or (p / "__init__.py").exists())
    ]
    code = (
        "import sys, importlib\n"
        f"for m in {core!r}: importlib.import_module(m)\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r}]\n"
        "print(','.join(bad)); sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"Qt loaded by the core: {proc.stdout} {proc.stderr[-2000:]}"


def test_compat_selects_tf_keras():
    from prune_studio.compat import keras, tf

    assert keras.__name__ == "tf_keras"
    assert tf.keras.__name__.startswith("tf_keras")

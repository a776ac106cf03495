"""The PyInstaller spec names the entry script, ships the resources and trims the bundle.

The build itself is too slow for the test suite (`make installer` runs it); these tests read
the spec as Python source and run its file filter on sample bundle paths.
"""

import ast
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "installer" / "prune-studio.spec"


@pytest.fixture(scope="module")
def spec_tree():
    return ast.parse(SPEC.read_text(), filename=str(SPEC))


def _assigned(tree, name):
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return node.value
    raise AssertionError(f"{name} is not assigned in the spec")


def _call(tree, func):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == func:
            return node
    raise AssertionError(f"the spec does not call {func}()")


@pytest.fixture(scope="module")
def spec_filter(spec_tree):
    """The spec's ``keep()`` filter and its tables, executed on their own."""
    names = {"KEEP_QT_PLUGINS", "DROP_LIBS", "EXCLUDES", "STRIP_LIBS"}
    nodes = [
        n for n in spec_tree.body
        if (isinstance(n, ast.FunctionDef) and n.name in ("keep", "strip_symbols", "not_a_test"))
        or (isinstance(n, ast.Assign) and {getattr(t, "id", None) for t in n.targets} & names)
    ]
    namespace = {"Path": Path, "sys": sys}
    exec(compile(ast.Module(body=nodes, type_ignores=[]), str(SPEC), "exec"), namespace)
    return namespace


def test_entry_script_is_the_gui_entry_point(spec_tree):
    entry = _assigned(spec_tree, "ENTRY")
    assert ast.unparse(entry) == "ROOT / 'installer' / 'entry.py'"
    script = (ROOT / "installer" / "entry.py").read_text()
    assert "from prune_studio.ui.app import main" in script
    analysis = _call(spec_tree, "Analysis")
    assert isinstance(analysis.args[0], ast.List) and ast.unparse(analysis.args[0]) == "[str(ENTRY)]"


def test_resources_and_package_are_collected(spec_tree):
    analysis = _call(spec_tree, "Analysis")
    keywords = {k.arg: ast.unparse(k.value) for k in analysis.keywords}
    assert keywords["datas"].startswith("[(str(RESOURCES), 'resources')] + ")
    assert "copy_metadata(dist)" in keywords["datas"]
    assert "collect_submodules('prune_studio')" in keywords["hiddenimports"]
    assert "collect_submodules('tf_keras', filter=not_a_test)" in keywords["hiddenimports"]
    # pyqtgraph loads these with importlib, out of the analysis' sight.
    for hidden in ("'PySide6.QtOpenGL'", "'PySide6.QtOpenGLWidgets'", "'ai_edge_litert.interpreter'"):
        assert hidden in keywords["hiddenimports"]
    assert ast.unparse(_assigned(spec_tree, "RESOURCES")) == "ROOT / 'resources'"
    # prune_studio.resources looks for sys._MEIPASS/resources: the same folder name.
    assert '"resources"' in (ROOT / "app" / "prune_studio" / "resources.py").read_text()
    collect = _call(spec_tree, "COLLECT")
    assert {k.arg: ast.unparse(k.value) for k in collect.keywords}["name"] == "'prune-studio'"


def test_unused_modules_are_excluded(spec_filter):
    excludes = set(spec_filter["EXCLUDES"])
    for name in ("tensorboard", "pytest", "PySide6.QtQml", "PySide6.QtQuick", "matplotlib",
                 "pyqtgraph.opengl", "PyQt5"):
        assert name in excludes
    for needed in ("tensorflow", "tf_keras", "ai_edge_litert", "PySide6.QtSvg", "PySide6.QtWidgets",
                   "PySide6.QtOpenGL", "PySide6.QtOpenGLWidgets", "pyqtgraph", "h5py", "numpy"):
        assert needed not in excludes


@pytest.mark.parametrize(
    "dest, kept",
    [
        ("PySide6/Qt/plugins/platforms/libqxcb.so", True),
        ("PySide6/Qt/plugins/platforms/libqoffscreen.so", True),
        ("PySide6/Qt/plugins/platforms/libqvnc.so", False),
        ("PySide6/Qt/plugins/imageformats/libqsvg.so", True),
        ("PySide6/Qt/plugins/imageformats/libqtiff.so", False),
        ("PySide6/Qt/plugins/qmltooling/libqmldbg_debugger.so", False),
        ("PySide6/Qt/plugins/xcbglintegrations/libqxcb-glx-integration.so", True),
        ("PySide6/Qt/lib/libQt6Quick.so.6", False),
        ("PySide6/Qt/lib/libQt6Widgets.so.6", True),
        ("nvidia/cudnn/lib/libcudnn.so.9", False),
        ("tensorflow/libtensorflow_cc.so.2", True),
        ("ai_edge_litert/libLiteRtWebGpuAccelerator.so", False),
        ("ai_edge_litert/libpywrap_litert_common.so", True),
        ("numpy/_core/tests/data/umath-validation-set-log.csv", False),
        ("resources/samples/digits_demo.keras", True),
        ("resources/icons/prune-studio-256.png", True),
    ],
)
def test_bundle_file_filter(spec_filter, dest, kept):
    assert spec_filter["keep"](dest) is kept


@pytest.mark.skipif(shutil.which("strip") is None, reason="binutils' strip is not installed")
def test_strip_symbols_shrinks_named_libraries_and_keeps_links(spec_filter, tmp_path):
    import prune_studio.compat  # noqa: F401  (a real shared library with a symbol table)
    import tensorflow

    source = Path(tensorflow.__file__).parent / "python" / "lib_pywrap_tensorflow_common.so"
    lib = tmp_path / "tensorflow" / "libdemo.so.2"
    lib.parent.mkdir()
    shutil.copy(source, lib)
    other = tmp_path / "other.so"
    shutil.copy(source, other)
    link = tmp_path / "libdemo.so.2"
    link.symlink_to(lib)
    spec_filter["strip_symbols"](tmp_path, names=("libdemo.so.2",))
    assert lib.stat().st_size < source.stat().st_size
    assert lib.read_bytes()[:4] == b"\x7fELF"
    assert link.is_symlink() and link.resolve() == lib.resolve()
    assert other.stat().st_size == source.stat().st_size


def test_tf_keras_is_collected_without_its_tests(spec_filter):
    not_a_test = spec_filter["not_a_test"]
    assert not_a_test("tf_keras.src.engine.base_layer_v1")
    assert not not_a_test("tf_keras.src.layers.core.dense_test")
    assert not not_a_test("tf_keras.src.benchmarks.model_memory_profile")

"""``prune-studio --self-test``: prove an install works, end to end, without a person.

Run after every installer build against the built bundle, and from the source tree by the
tests. It opens the main window on the demo (offscreen unless a display platform was asked
for), runs a short pruning fine-tune of the demo model on the built-in digits sample, exports
float32 TFLite files (dense and sparse) and verifies them with LiteRT, then prints a summary
and returns the exit code.

This module is part of the core: it never imports Qt itself. The window step goes through
``prune_studio.ui.app``, imported inside the function.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
import traceback
from importlib import metadata
from pathlib import Path

#: Steps of the self-test fine-tune: enough to see sparsity rise, short enough for seconds.
FINE_TUNE_EPOCHS = 1
TARGET_SPARSITY = 0.5
#: Accuracy below this after the fine-tune means the pipeline is broken, not just pruned.
MIN_ACCURACY = 0.5
#: How long the window may take to load the demo model and data in its worker threads.
WINDOW_TIMEOUT_S = 120


def _versions() -> dict[str, str]:
    """Versions of the packages the app is built on (from their metadata, no imports)."""
    import prune_studio

    found = {"prune-studio": prune_studio.__version__, "python": platform.python_version()}
    for dist in ("tensorflow", "tf-keras", "PySide6-Essentials", "pyqtgraph", "ai-edge-litert"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:  # a bundle may not carry every dist-info
            found[dist] = "?"
    return found


def _open_window() -> str:
    """Open the main window on the demo, wait until its model and data have loaded, close it.

    Qt is reached only through ``prune_studio.ui.app`` (the UI package owns every Qt import).
    """
    try:
        from prune_studio.ui import app as ui_app
    except ImportError as exc:
        return f"skipped (the window is not available in this build: {exc})"
    qapp = ui_app.QApplication.instance() or ui_app.QApplication(sys.argv[:1])
    window = ui_app.create_window(demo=True)
    window.setProperty("modalErrors", False)  # report load errors here, not in a dialog
    outcome: dict = {}
    window.dataReady.connect(lambda: outcome.setdefault("ready", True))
    window.taskFailed.connect(lambda exc: outcome.setdefault("error", exc))
    deadline = time.monotonic() + WINDOW_TIMEOUT_S
    while not outcome and time.monotonic() < deadline:
        qapp.processEvents()
        time.sleep(0.02)
    title = window.windowTitle().replace("[*]", "")
    window.close_without_asking()  # the loaders have finished by now
    window.deleteLater()
    qapp.processEvents()
    if "error" in outcome:
        raise RuntimeError(f"the window could not open the demo: {outcome['error']}")
    if not outcome:
        raise RuntimeError(f"the window did not finish loading the demo in {WINDOW_TIMEOUT_S} s")
    return f"opened the demo in '{title}'"


def _fine_tune():
    """Prune the demo model to 50% in one short epoch; return (result, dataset, text)."""
    from prune_studio.data import DataSpec, load_data
    from prune_studio.models import load_model
    from prune_studio.pruning.plan import PruningPlan
    from prune_studio.resources import demo_model_path
    from prune_studio.training import TrainingSettings, fine_tune, steps_for

    loaded = load_model(demo_model_path())
    dataset = load_data(DataSpec(kind="digits"))
    settings = TrainingSettings(epochs=FINE_TUNE_EPOCHS, batch_size=64, validation_split=0.0)
    total = steps_for(settings, dataset.num_train)
    plan = PruningPlan.uniform(loaded.model, TARGET_SPARSITY, 0, max(1, total - 1), frequency=5)
    result = fine_tune(
        loaded.model, plan, dataset, settings, compile_settings=loaded.compile_settings
    )
    accuracy = result.final.get("accuracy")
    if accuracy is None or accuracy < MIN_ACCURACY:
        raise RuntimeError(
            f"the fine-tuned demo reached accuracy {accuracy}, below {MIN_ACCURACY}: {result.final}"
        )
    zeros = sum(result.sparsity.values()) / len(result.sparsity) if result.sparsity else 0.0
    text = (
        f"{total} steps, accuracy {result.baseline.get('accuracy', float('nan')):.3f} -> "
        f"{accuracy:.3f}, {len(result.sparsity)} layers pruned to {zeros:.0%} zeros on average"
    )
    return result, dataset, text


def _export(model, dataset, workdir: Path) -> str:
    """Export ``model`` as float32 TFLite (dense and sparse), verified; raise if that failed."""
    from prune_studio.export import ExportSettings, export_all

    settings = ExportSettings(keras=False, h5=False, tflite=("float32",))
    report = export_all(model, dataset, workdir / "export", settings)
    bad = [f"{a.name}: {a.note}" for a in report.artifacts if not a.ok]
    if not report.artifacts or bad:
        raise RuntimeError(f"export failed: {bad or 'no artifacts written'}")
    return ", ".join(
        f"{a.name} {a.bytes:,} bytes, accuracy {a.accuracy:.3f}" for a in report.artifacts
    )


def run_self_test() -> int:
    """Run the self-test, print a summary, and return 0 on success or 1 with the reason.

    Returns:
        The process exit code: 0 when every step passed.
    """
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    print("Prune Studio self-test")
    for name, version in _versions().items():
        print(f"  {name:<20} {version}")
    started = time.perf_counter()
    step = "start"
    try:
        with tempfile.TemporaryDirectory(prefix="prune-studio-selftest-") as tmp:
            workdir = Path(tmp)
            step = "window"
            t0 = time.perf_counter()
            print(f"  window: {_open_window()} ({time.perf_counter() - t0:.1f} s)")
            step = "fine-tune"
            t0 = time.perf_counter()
            result, dataset, text = _fine_tune()
            print(f"  fine-tune: {text} ({time.perf_counter() - t0:.1f} s)")
            step = "export"
            t0 = time.perf_counter()
            print(f"  export: {_export(result.stripped_model, dataset, workdir)} "
                  f"({time.perf_counter() - t0:.1f} s)")
    except Exception as exc:  # the self-test reports every failure as its exit code
        traceback.print_exc(file=sys.stdout)
        print(f"SELF-TEST FAILED at step '{step}': {exc}")
        return 1
    print(f"SELF-TEST PASSED in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(run_self_test())

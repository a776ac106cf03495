"""``prune-studio``: start the desktop app.

The window appears before TensorFlow is imported; models and data load in worker threads
with a busy indicator.

Usage::

    prune-studio [MODEL] [--demo] [--trust] [--self-test]
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys

from PySide6.QtCore import QCoreApplication, QEvent, Qt
from PySide6.QtWidgets import QApplication

from prune_studio.ui import idle_gc
from prune_studio.ui.main_window import MainWindow
from prune_studio.ui.theme import app_icon, apply_theme, follow_system
from prune_studio.ui.worker import wait_for_all

DEFAULT_SIZE = (1280, 800)
GIL_SWITCH_INTERVAL_S = 0.0001


def create_window(model_path: str | None = None, demo: bool = False, trust: bool = False) -> MainWindow:
    """The main window, themed, sized to fit the screen, loading ``model_path`` or the demo.

    Needs an existing ``QApplication``. Loading runs in the background; ``modelReady`` and
    ``dataReady`` fire when it is done.
    """
    app = QApplication.instance()
    if app is None:
        raise RuntimeError("create_window needs a QApplication; create one first")
    apply_theme(app)
    # Workers run Python-heavy TensorFlow code (graph tracing) while the GUI thread paints,
    # and a paint re-enters Python hundreds of times; each re-entry may wait for the GIL up to
    # the switch interval (5 ms by default), which made one paint take 150 ms. 0.1 ms bounds
    # that (a chart repaint beside a worker running Python: 11 ms at 5 ms, 6 ms at 1 ms, 4 ms at
    # 0.5 ms; the longest stall while MobileNetV2's model is built beside the tree's first layout:
    # 87-116 ms at 0.5 ms, 35-52 ms at 0.1 ms, the build no slower).
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    idle_gc.install(app)  # full garbage collections only while no background work runs
    if not getattr(app, "_prune_studio_waits_for_workers", False):
        app.aboutToQuit.connect(wait_for_all)  # a closed window may still be building a model
        app._prune_studio_waits_for_workers = True
    window = MainWindow(trust=trust)
    window.setWindowIcon(app_icon())
    width, height = DEFAULT_SIZE
    screen = app.primaryScreen()
    if screen is not None:
        available = screen.availableGeometry()
        width, height = min(width, available.width()), min(height, available.height())
    window.resize(width, height)
    if demo:
        window.open_demo()
    elif model_path:
        window.open_model(model_path)
    return window


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="prune-studio", description="Prune a Keras model with live charts.")
    parser.add_argument("model", nargs="?", metavar="MODEL", help="a .keras, .h5 or SavedModel to open")
    parser.add_argument("--demo", action="store_true", help="open the built-in digits model and data")
    parser.add_argument("--trust", action="store_true", help="allow the model file to run its own code (Lambda layers)")
    parser.add_argument("--self-test", action="store_true", help="check this install works, then exit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``prune-studio`` gui-script; returns the exit code."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.self_test:
        from prune_studio.selftest import run_self_test

        return run_self_test()
    if QApplication.instance() is None:
        from prune_studio.ui.qt_check import missing_platform_library, problem_message

        missing = missing_platform_library()
        if missing:
            print(problem_message(missing), file=sys.stderr, end="")
            return 1
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    QApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Prune Studio")
    app.setOrganizationName("PruneStudio")
    app.setWindowIcon(app_icon())
    follow_system(app)
    window = create_window(args.model, demo=args.demo, trust=args.trust)
    window.show()
    code = app.exec()
    # Destroy the window while the QApplication still exists: left to interpreter shutdown,
    # the two go in arbitrary order and the process can crash on its way out.
    window.deleteLater()
    del window
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()
    return code

"""Render the main window's screenshots (run under Xvfb or offscreen).

    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python docs/screenshots/make_screenshots.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from PySide6.QtWidgets import QApplication

HERE = Path(__file__).resolve().parent


def wait(app: QApplication, condition, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the window did not reach the expected state")
        app.processEvents()
        time.sleep(0.01)


def main(scheme: str | None = None) -> None:
    from prune_studio.ui.app import create_window
    from prune_studio.ui.layout import fit_panes, select_names
    from prune_studio.ui import theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    if scheme:  # render as if the system used this colour scheme
        theme.system_scheme = lambda: scheme
    window = create_window(demo=True)
    window.resize(1280, 800)  # the smallest size the window must work at
    window.show()
    fit_panes(window)
    wait(app, lambda: window.session.dataset is not None and not window.is_busy())
    window.settings_panel.epochs.setValue(6)
    window.prune_all_prunable()
    select_names(window, ["dense1"])
    [app.processEvents() for _ in range(20)]
    suffix = f"_{scheme}" if scheme else ""
    window.grab().save(str(HERE / f"main_window{suffix}.png"))
    if scheme:
        window._dirty = False
        window.close()
        return
    window.tabs.setCurrentIndex(1)
    [app.processEvents() for _ in range(20)]
    window.grab().save(str(HERE / "settings.png"))
    window.start_run()
    wait(app, lambda: window.progress.value() > 0.45 * max(window.progress.maximum(), 1))
    time.sleep(0.2)
    [app.processEvents() for _ in range(20)]
    window.grab().save(str(HERE / "running.png"))
    done = []
    window.runFinished.connect(done.append)
    wait(app, lambda: bool(done), 300)
    [app.processEvents() for _ in range(20)]
    window.grab().save(str(HERE / "finished.png"))
    window.tabs.setCurrentIndex(0)
    wait(app, lambda: not window.is_busy())
    [app.processEvents() for _ in range(20)]
    window.grab().save(str(HERE / "finished_weights.png"))
    window.weights.buttons.button(1).click()  # the zeros map of the same layer
    [app.processEvents() for _ in range(20)]
    window.grab().save(str(HERE / "finished_zeros.png"))
    window._dirty = False
    window.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)

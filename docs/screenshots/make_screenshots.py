"""Render the main window's screenshots at 1280x800 from the real window (run under Xvfb).

    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python docs/screenshots/make_screenshots.py
    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python docs/screenshots/make_screenshots.py dark
    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python docs/screenshots/make_screenshots.py structured [DIR]

The light run walks through the demo: the plan, the settings, a run in progress, the finished
run, the weights of a layer, the sensitivity scan, the export and its result view, presentation
mode; then MobileNetV2's layer tree; then channel removal on a small residual CNN (the
Channels tab, the finished shrink and its result view). Exports made before ``ExportReport.samples`` existed carry
no samples: the result view's strip is then filled from the exported files
(``tests/ui/sample_predictions.py``) so the picture shows it.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtWidgets import QApplication

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SIZE = (1280, 800)


def wait(app: QApplication, condition, timeout: float = 300.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the window did not reach the expected state")
        app.processEvents()
        time.sleep(0.01)


def settle(app: QApplication, seconds: float = 0.3) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def shoot(app, window, name: str) -> None:
    settle(app)
    window.grab().save(str(HERE / f"{name}.png"))
    print("wrote", name)


def demo(app, scheme: str | None) -> None:
    from prune_studio.export import ExportSettings
    from prune_studio.ui.app import create_window
    from prune_studio.ui.layout import fit_panes, select_names, show_tab

    window = create_window(demo=True)
    window.resize(*SIZE)
    window.show()
    fit_panes(window)
    wait(app, lambda: window.session.dataset is not None and not window.is_busy())
    window.prune_all_prunable()
    select_names(window, ["dense1"])
    wait(app, lambda: not window.is_busy())
    if scheme:
        shoot(app, window, f"main_window_{scheme}")
        window.close_without_asking()
        return
    shoot(app, window, "main_window")
    window.tabs.setCurrentIndex(1)
    shoot(app, window, "settings")
    window.start_run()
    wait(app, lambda: window.progress.value() > 0.45 * max(window.progress.maximum(), 1))
    shoot(app, window, "running")
    done = []
    window.runFinished.connect(done.append)
    wait(app, lambda: bool(done), 600)
    shoot(app, window, "finished")
    accuracy_banner(app, window)
    window.tabs.setCurrentIndex(0)
    select_names(window, ["dense1"])
    wait(app, lambda: not window.is_busy())
    shoot(app, window, "finished_weights")
    window.weights.buttons.button(1).click()  # the zeros map of the same layer
    shoot(app, window, "finished_zeros")
    if window.scan_panel is not None:
        show_tab(window, window.scan_panel)
        window.scan_panel.start_scan()
        wait(app, lambda: window.scan_panel.result is not None and not window.scan_panel.is_scanning(), 600)
        shoot(app, window, "scan_panel")

    out = Path(tempfile.mkdtemp(prefix="prune-studio-shots-"))
    panel = window.export_panel
    panel.apply_settings(ExportSettings(keras=True, h5=False, tflite=("float32", "dynamic", "int8"), sparse=False))
    panel.folder_edit.setText(str(out))
    show_tab(window, panel)
    shoot(app, window, "export_panel")
    reports = []
    panel.exportFinished.connect(reports.append)
    panel.start_export()
    wait(app, lambda: bool(reports) and not panel.is_running() and not window.results.filling(), 600)
    report = reports[0]
    if not getattr(report, "samples", None):
        sys.path.insert(0, str(ROOT / "tests" / "ui"))
        from sample_predictions import samples_from_files

        report.samples = samples_from_files(report, window.session.dataset, window.session.loaded.model)
        window.results.show_report(report)
    shoot(app, window, "results")
    window.act_present.setChecked(True)
    settle(app, 0.8)
    window.grab().scaled(*SIZE).save(str(HERE / "results_presentation.png"))
    window.act_present.setChecked(False)
    window.close_without_asking()
    shutil.rmtree(out, ignore_errors=True)


def accuracy_banner(app, window) -> None:
    """The warning a collapsing run shows (staged: the demo's own run keeps its accuracy).

    Shown on the banner alone, placed as the run places it, so the log (and the later shots)
    carry only what the run wrote.
    """
    from prune_studio.training.guard import drop_message
    from prune_studio.ui.layout import place_banner

    place_banner(window)
    window.banner.show_message(drop_message(0.989, 0.62, 0.55, ["conv1", "digits"], 1e-4, 512, 1025))
    shoot(app, window, "accuracy_banner")
    window.banner.hide()


def mobilenet(app) -> None:
    from prune_studio.compat import keras
    from prune_studio.ui.app import create_window
    from prune_studio.ui.layout import select_names

    folder = Path(tempfile.mkdtemp(prefix="prune-studio-mobilenet-"))
    path = folder / "mobilenet_v2.keras"
    keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), classes=10).save(path)
    window = create_window(str(path))
    window.resize(*SIZE)
    window.show()
    wait(app, lambda: window.session.description is not None and not window.is_busy())
    group = window.tree_model.group_index("block_3", 4)
    window.tree_model.setData(group, 2, 10)  # tick every prunable layer of block_3 (Checked, CheckStateRole)
    window.tree.collapseAll()
    for name in ("block_2", "block_3"):
        window.tree.expand(window.tree_proxy.mapFromSource(window.tree_model.group_index(name)))
    select_names(window, ["block_3_project"])
    shoot(app, window, "mobilenet_tree")
    window.close_without_asking()
    shutil.rmtree(folder, ignore_errors=True)


def residual_digits_model(path: Path) -> None:
    """A small ResNet-style CNN for the digits (two residual Adds), trained briefly, saved to ``path``."""
    from prune_studio.compat import keras
    from prune_studio.data import DataSpec, load_data

    L = keras.layers
    keras.utils.set_random_seed(0)
    BN = lambda name: L.BatchNormalization(momentum=0.9, name=name)  # noqa: E731 - statistics settle in a short fit
    inp = L.Input((8, 8, 1))
    x = L.ReLU(name="stem_relu")(BN("stem_bn")(L.Conv2D(32, 3, padding="same", name="stem")(inp)))
    for i in (1, 2):
        y = L.ReLU(name=f"block{i}_relu")(BN(f"block{i}_bn1")(
            L.Conv2D(32, 3, padding="same", name=f"block{i}_conv1")(x)))
        y = BN(f"block{i}_bn2")(L.Conv2D(32, 3, padding="same", name=f"block{i}_conv2")(y))
        x = L.ReLU(name=f"block{i}_out")(L.Add(name=f"block{i}_add")([x, y]))
    x = L.Conv2D(64, 3, strides=2, activation="relu", name="head_conv")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inp, L.Dense(10, activation="softmax", name="digits")(x), name="residual_digits")
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    data = load_data(DataSpec("digits"))
    model.fit(data.x_train, data.y_train, epochs=10, batch_size=32, verbose=0)
    model.save(path)


def structured(app, where: Path = HERE) -> None:
    """Channel removal: the Channels tab with a thinned group, the finished shrink, its results."""
    from prune_studio.export import ExportSettings
    from prune_studio.ui.app import create_window
    from prune_studio.ui.layout import fit_panes, show_tab

    folder = Path(tempfile.mkdtemp(prefix="prune-studio-structured-"))
    path = folder / "residual_digits.keras"
    residual_digits_model(path)
    window = create_window()
    window.resize(*SIZE)
    window.show()
    fit_panes(window)
    window.open_model(path, data_spec={"kind": "digits", "path": None, "options": {}})
    wait(app, lambda: window.session.dataset is not None and not window.is_busy())
    panel = window.structured_panel
    show_tab(window, panel)
    panel.table.selectRow(0)  # the stem group, tied by both residual Adds
    panel.slider.setValue(50)
    window.settings_panel.epochs.setValue(10)
    shoot_to(app, window, where, "channels")
    done = []
    window.runFinished.connect(done.append)
    panel.shrink_button.click()
    wait(app, lambda: bool(done), 600)
    shoot_to(app, window, where, "shrink_finished")
    out = folder / "out"
    export = window.export_panel
    export.apply_settings(ExportSettings(keras=True, h5=False, tflite=("float32", "dynamic", "int8"), sparse=False))
    export.folder_edit.setText(str(out))
    reports = []
    export.exportFinished.connect(reports.append)
    export.start_export()
    wait(app, lambda: bool(reports) and not export.is_running() and not window.results.filling(), 600)
    shoot_to(app, window, where, "shrink_results")
    window.close_without_asking()
    shutil.rmtree(folder, ignore_errors=True)


def shoot_to(app, window, where: Path, name: str) -> None:
    settle(app)
    window.grab().save(str(where / f"{name}.png"))
    print("wrote", where / f"{name}.png")


def main(scheme: str | None = None) -> None:
    from PySide6.QtCore import QSettings

    from prune_studio.ui import theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    settings = tempfile.mkdtemp(prefix="prune-studio-settings-")
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, settings)  # no recent files of yours
    if scheme == "structured":  # only the channel-removal pictures (into the folder given, else here)
        structured(app, Path(sys.argv[2]) if len(sys.argv) > 2 else HERE)
        return
    if scheme:  # render as if the system used this colour scheme
        theme.system_scheme = lambda: scheme
    demo(app, scheme)
    if not scheme:
        mobilenet(app)
        structured(app)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)

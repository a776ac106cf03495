"""The layer tree of a 150-layer model: showing it and expanding every block (target < 1 s).

MobileNetV2 (``weights=None``) is described once; then the window's tree is filled from the
description, expanded, and painted, five times; the median and the worst are printed next to
the same for the five-layer demo.
"""

from __future__ import annotations

import time

import numpy as np

from prune_studio.ui.layout import fit_tree_columns
from PySide6.QtWidgets import QApplication


def _fill_and_expand(window, description) -> float:
    start = time.perf_counter()
    window.tree_model.set_description(description, {})
    window.tree.expandAll()
    fit_tree_columns(window)
    window.tree.viewport().repaint()
    QApplication.processEvents()
    return time.perf_counter() - start


def test_open_and_expand_a_big_tree(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from prune_studio.compat import keras
    from prune_studio.models import describe_model, load_model
    from prune_studio.resources import demo_model_path
    from prune_studio.ui.app import create_window

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path))
    big = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), classes=10)
    descriptions = {"MobileNetV2": describe_model(big), "demo": describe_model(load_model(demo_model_path()).model)}
    window = create_window()
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    for name, description in descriptions.items():
        times = np.array([_fill_and_expand(window, description) for _ in range(5)])
        rows = len(window.tree_model.nodes()) + len(window.tree_model.groups())
        print(f"\n{name}: {rows} rows, fill + expand all + paint: median {1000 * np.median(times):.0f} ms, "
              f"worst {1000 * times.max():.0f} ms (target < 1000 ms)")
    window.close_without_asking()
    window.deleteLater()

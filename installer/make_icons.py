"""Render the app icon SVG to the PNG sizes desktops ask for.

Usage::

    python installer/make_icons.py    # writes resources/icons/prune-studio-<N>.png, .ico, .icns

The PNGs are committed, so neither the app nor the bundle build needs this script; rerun it
after editing ``resources/icons/prune-studio.svg``. It renders with Qt's ``QSvgRenderer``
offscreen, so it works without a display.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"
SVG = ICONS / "prune-studio.svg"
#: Icons embedded in the executable by the Windows and macOS builds: (file suffix, size).
PLATFORM_ICONS = (("ico", 256), ("icns", 512))


def render_icons(svg: Path = SVG, out_dir: Path = ICONS, sizes=SIZES) -> list[Path]:
    """Render ``svg`` to ``out_dir/prune-studio-<N>.png`` for each size; return the paths."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 (keeps Qt alive)
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"The icon SVG {svg} could not be parsed by Qt; fix the file and rerun.")
    written = []
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        renderer.render(painter)
        painter.end()
        targets = [(out_dir / f"prune-studio-{size}.png", "PNG")]
        targets += [(out_dir / f"prune-studio.{fmt}", fmt.upper()) for fmt, px in PLATFORM_ICONS if px == size]
        for path, fmt in targets:
            if not image.save(str(path), fmt):
                raise OSError(f"Could not write the icon {path} as {fmt}.")
            written.append(path)
    return written


if __name__ == "__main__":
    for p in render_icons():
        print(p)

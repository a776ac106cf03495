"""The desktop window: the only package that imports Qt (PySide6) and pyqtgraph.

It talks to the core through plain Python objects and callbacks; long work runs in
:mod:`prune_studio.ui.worker` threads.
"""

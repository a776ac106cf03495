"""Prune Studio: point-and-click magnitude pruning for Keras models.

The core (``pruning``, ``models``, ``data``, ``training``, ``export``, ``scan``,
``recipe``) never imports Qt; ``prune_studio.ui`` is the only package that does.
Importing this package is cheap: TensorFlow is imported by the modules that need it,
through :mod:`prune_studio.compat`.
"""

__version__ = "0.1.0"

"""Package attributes imported on first use, so importing a package does not load TensorFlow."""

import importlib
from typing import Any, Callable


def lazy_getattr(package: str, names: dict[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``package.<names[name]>`` the first time ``name`` is read.

    The value is cached in ``namespace`` (the package's ``globals()``), so later reads are plain.
    """

    def __getattr__(name: str) -> Any:
        if name in names:
            value = getattr(importlib.import_module(f"{package}.{names[name]}"), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__

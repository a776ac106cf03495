"""Walk a whole saved model config and name every entry that would import or run code.

tf-keras rebuilds a model from JSON by looking classes up by name: when a ``{"module",
"class_name"}`` pair is not a Keras built-in it imports ``module`` and calls the class it finds
there (``from_config`` or ``__init__``), for the model object itself as much as for a layer, an
initializer or an optimizer. A crafted file could name ``subprocess.Popen`` or any class in any
importable package. So before anything is deserialised, every object reference anywhere in the
config (top level, nested models, layers, wrapped layers and cells, initializers, regularizers,
constraints, activations, losses, metrics, optimizer, compile/training config, SavedModel
metadata) is checked against an allowlist: tf-keras/Keras built-ins, plain data markers, and the
classes the user registered from a custom-objects file. Everything else is reported.

Example::

    findings = scan_config(config)          # [] for a plain Keras model
    describe_findings(findings)             # "'d' (custom class Popen from module subprocess)"
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass

_KERAS_ROOTS = ("keras", "tf_keras")
_MODEL_CLASSES = {"Sequential", "Functional", "Model"}
# Built-in layers tf-keras creates for TensorFlow ops called on Keras tensors.
_OP_LAYERS = {"TFOpLambda", "SlicingOpLambda"}
# Plain data (shapes, specs, tuples, arrays, dtype policies) that tf-keras or Keras 3 decode
# without looking up any class by module.
_DATA_MARKERS = {
    "__tuple__", "__numpy__", "__tensor__", "__bytes__", "__ellipsis__", "__keras_tensor__", "__slice__",
    "TensorShape", "TypeSpec", "InputSpec", "Policy", "DTypePolicy", "FloatDTypePolicy",
    "QuantizedDTypePolicy", "QuantizedFloat8DTypePolicy",
}
# Namespaces of TensorFlow functions with side effects (files, console, Python callbacks) that a
# TFOpLambda layer must not name.
_SIDE_EFFECT_OPS = {
    "io", "raw_ops", "debugging", "summary", "saved_model", "gfile", "py_function", "numpy_function",
    "py_func", "print", "Print", "load_op_library", "load_library", "write_file", "read_file", "data",
    "train", "config", "distribute", "tpu", "autograph", "lookup", "experimental",
}
_CATEGORY_MODULES = (
    "initializers", "regularizers", "constraints", "losses", "metrics", "optimizers",
    "optimizers.legacy", "optimizers.schedules", "mixed_precision",
)


@dataclass(frozen=True)
class Finding:
    """An entry whose loading would run code.

    Attributes:
        where: The layer (or part of the file) holding it, e.g. ``"'dense'"`` or
            ``"the model itself"``.
        what: What it is, e.g. ``"Lambda"``, ``"custom class MyBlock"``,
            ``"custom class Popen from module subprocess"``.
        kind: ``"lambda"``, ``"custom"`` (a class that is not a Keras built-in, or one in a
            module outside Keras) or ``"module"`` (a function outside Keras, a side-effect
            TensorFlow function, a type spec from outside TensorFlow).
    """

    where: str
    what: str
    kind: str


@functools.lru_cache(maxsize=1)
def builtin_names() -> tuple[frozenset, frozenset]:
    """(class names, function names) that tf-keras deserialises without custom objects."""
    from prune_studio.compat import keras
    from tf_keras.src.layers import serialization

    serialization.populate_deserializable_objects()
    classes = set(serialization.LOCAL.ALL_OBJECTS) | _MODEL_CLASSES | _OP_LAYERS | _DATA_MARKERS
    classes |= {n for n in dir(keras.layers) if n[:1].isupper()}
    functions = set()
    for dotted in _CATEGORY_MODULES + ("activations",):
        module = keras
        for part in dotted.split("."):
            module = getattr(module, part, None)
        for name in dir(module or object()):
            obj = getattr(module, name, None)
            if inspect.isclass(obj):
                classes.add(name)
            elif callable(obj) and not name.startswith("_"):
                functions.add(name)
    return frozenset(classes), frozenset(functions)


def _keras_module(module) -> bool:
    return module is None or (isinstance(module, str) and module.split(".")[0] in _KERAS_ROOTS)


def _bare(name: str) -> str:
    """``Custom>Adam`` (how tf-keras names a built-in optimizer in .h5 files) -> ``Adam``."""
    return name.split(">", 1)[1] if name.startswith("Custom>") else name


class _Scanner:
    def __init__(self, registered: set[str], keras3: bool):
        self.classes, self.functions = builtin_names()
        self.registered = set(registered)
        self.keras3 = keras3
        self.found: list[Finding] = []

    def add(self, where: str, what: str, kind: str) -> None:
        finding = Finding(where, what, kind)
        if finding not in self.found:
            self.found.append(finding)

    def known_class(self, name, registered_name) -> bool:
        if name in self.registered or registered_name in self.registered:
            return True
        if registered_name not in (None, name) and _bare(str(registered_name)) not in self.classes:
            return False  # tf-keras looks the registered name up first
        return _bare(name) in self.classes

    def check(self, entry: dict, where: str) -> None:
        """One ``{"class_name", ...}`` object reference."""
        name = entry.get("class_name")
        module, registered = entry.get("module"), entry.get("registered_name")
        if not isinstance(name, str):  # tf-keras would still import ``module`` before failing
            self.add(where, f"a malformed class reference {name!r} in module {module}", "module")
            return
        if name == "Lambda" or name == "__lambda__":
            self.add(where, "Lambda", "lambda")
        elif name == "__typespec__":
            if not (isinstance(module, str) and module.split(".")[0] == "tensorflow"):
                self.add(where, f"the type spec {module}.{entry.get('spec_name')}", "module")
        elif name == "function":
            fn = entry.get("config")
            if fn in self.registered or registered in self.registered:
                return
            if not (_keras_module(module) or module == "builtins") or fn not in self.functions:
                self.add(where, f"the function {module}.{fn}", "module")
        elif name in self.registered or registered in self.registered:
            return
        elif not _keras_module(module):
            self.add(where, f"custom class {name} from module {module}", "custom")
        elif not self.known_class(name, registered):
            if self.keras3 and module is not None:
                return  # a Keras 3 built-in tf-keras lacks: the rebuild names it, importing nothing
            self.add(where, f"custom class {registered or name}", "custom")
        elif name in _OP_LAYERS:
            symbol = (entry.get("config") or {}).get("function")
            parts = set(str(symbol).replace("tf.", "", 1).split("."))
            if not isinstance(symbol, str) or parts & _SIDE_EFFECT_OPS:
                self.add(where, f"the TensorFlow function {symbol!r}, which has side effects", "module")

    def walk(self, value, where: str, root: bool = False) -> None:
        if isinstance(value, list):
            for item in value:
                self.walk(item, where)
            return
        if not isinstance(value, dict):
            return
        if "class_name" in value:
            config = value.get("config")
            name = config.get("name") if isinstance(config, dict) else None
            if not root and isinstance(name, str) and str(value["class_name"]) not in _DATA_MARKERS:
                where = f"'{name}'"
            self.check(value, where)
        for item in value.values():
            self.walk(item, where)


def scan_config(config, registered: set[str] = frozenset(), keras3: bool = False,
                where: str = "the model itself") -> list[Finding]:
    """Every entry of a saved config (any JSON value) that would import or run code.

    Args:
        config: The model config, a compile/training config, or a SavedModel node's metadata.
        registered: Names of the classes and functions the user registered (custom objects).
        keras3: The file was written by Keras 3: its configs are rebuilt from tf-keras
            built-ins only, so a Keras 3 built-in tf-keras lacks is left for the rebuild to name.
        where: How to name an entry found outside any named layer.

    Returns:
        The findings in config order, without repeats.
    """
    scanner = _Scanner(set(registered), keras3)
    scanner.walk(config, where, root=True)
    return scanner.found


def describe_findings(findings: list[Finding], limit: int = 4) -> str:
    """``"'lam' (Lambda), the model itself (custom class Popen from module subprocess)"``."""
    parts = [f"{f.where} ({f.what})" for f in findings[:limit]]
    if len(findings) > limit:
        parts.append(f"and {len(findings) - limit} more")
    return ", ".join(parts)

"""Helpers for opening files safely: built-in classes, user custom objects, graph checks.

The scan of a config for code lives in ``config_scan``. Custom classes can be registered from
a Python file the user picks, which is a trusted action. ``check_graph`` refuses a layer graph
that would make tf-keras loop forever.
"""

from __future__ import annotations

import importlib.util
import inspect
import itertools
from pathlib import Path

_MODEL_CLASSES = {"Sequential", "Functional", "Model"}
_counter = itertools.count()


def builtin_layer_classes() -> dict:
    """Layer and model classes tf-keras can deserialise without custom objects, by name."""
    from prune_studio.compat import keras
    from tf_keras.src.layers import serialization

    serialization.populate_deserializable_objects()
    classes = dict(serialization.LOCAL.ALL_OBJECTS)
    classes.update({n: getattr(keras.layers, n) for n in dir(keras.layers) if n[:1].isupper()})
    return classes


def load_custom_objects(py_file) -> dict:
    """Import a user-chosen Python file and return the classes and functions it defines.

    Running the file is the trusted action: the user picked it. Its classes are then known
    to the loader by name (and by ``package>name`` when registered with Keras).

    Raises:
        ValueError: The file is missing, not ``.py``, or fails to import.
    """
    path = Path(py_file)
    if not path.is_file() or path.suffix != ".py":
        raise ValueError(f"custom objects file '{path}' is not an existing .py file")
    module_name = f"prune_studio_custom_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's code can raise anything
        raise ValueError(f"custom objects file '{path}' failed to import ({type(exc).__name__}: {exc})") from exc
    objects = {}
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module_name:
            continue
        if inspect.isclass(obj) or inspect.isfunction(obj):
            objects[name] = obj
    from prune_studio.compat import keras

    for name, obj in list(objects.items()):
        registered_name = keras.saving.get_registered_name(obj)
        if registered_name != name:
            objects[registered_name] = obj
    return objects


def _refs(node) -> list:
    """The ``[layer, call, tensor, ...]`` references in one tf-keras inbound node."""
    if isinstance(node, list) and node and isinstance(node[0], str):
        return [] if node[0] == "_CONSTANT_VALUE" else [node]  # a constant operand, not a call
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    return []


def skips_first_call(entry: dict) -> bool:
    """Whether a nested model's node 0 is its own creation (it was built on an Input), so the
    outer model's calls to it are numbered from 1."""
    layers = (entry.get("config") or {}).get("layers") or []
    if entry.get("class_name") == "Functional":
        return True
    return entry.get("class_name") == "Sequential" and bool(layers) and layers[0].get("class_name") == "InputLayer"


def check_graph(model_config: dict) -> None:
    """Refuse a Functional config whose layer calls cannot all be rebuilt.

    tf-keras rebuilds a Functional model by retrying layer calls until their inputs exist;
    a call that refers to a missing layer call, or calls that wait on each other, make it
    loop forever. A crafted or damaged file must not hang the app, so this is checked first.

    Raises:
        ValueError: With the layer and the reference that cannot be satisfied.
    """
    config = model_config.get("config") if isinstance(model_config, dict) else None
    if not isinstance(config, dict):
        return
    layers = [e for e in config.get("layers") or [] if isinstance(e, dict)]
    for entry in layers:
        if entry.get("class_name") in _MODEL_CLASSES:
            check_graph(entry)
    if "input_layers" not in config:
        return
    calls = {}
    for entry in layers:
        name = entry.get("name") or (entry.get("config") or {}).get("name")
        first = int(skips_first_call(entry))
        calls[name] = (entry.get("class_name"), first, entry.get("inbound_nodes") or [])
    waiting: dict = {}
    for name, (_, first, nodes) in calls.items():
        for k, node in enumerate(nodes):
            deps = []
            for ref in _refs(node):
                target = calls.get(ref[0])
                if target is None:
                    raise ValueError(f"layer '{name}' is called on the unknown layer '{ref[0]}'")
                cls, lo, target_nodes = target
                index = ref[1] if len(ref) > 1 and isinstance(ref[1], int) else -1
                if cls != "InputLayer" and not lo <= index < lo + len(target_nodes):
                    raise ValueError(f"layer '{name}' is called on a call of '{ref[0]}' that does not exist")
                if cls != "InputLayer":
                    deps.append((ref[0], index))
            waiting[(name, k + first)] = deps
    for ref in _refs(config.get("input_layers")) + _refs(config.get("output_layers")):
        if ref[0] not in calls:
            raise ValueError(f"the model's inputs or outputs name the unknown layer '{ref[0]}'")
    state: dict = {}

    def visit(key):  # depth-first search for a cycle
        state[key] = 1
        for dep in waiting.get(key, ()):
            if state.get(dep) == 1:
                raise ValueError(f"layers '{key[0]}' and '{dep[0]}' wait on each other's outputs")
            if dep not in state:
                visit(dep)
        state[key] = 2

    for key in waiting:
        if key not in state:
            visit(key)

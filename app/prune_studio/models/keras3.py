"""Rebuild a model saved by Keras 3 as an equivalent tf-keras model, running no code from it.

tf-keras cannot read Keras 3 files (``InputLayer`` got ``batch_shape``, dtype policies are
objects, call arguments are recorded differently). Instead of asking Keras 3 to load the file,
its JSON config is translated to the tf-keras dialect, the model is built from that with
tf-keras's own (built-in) layer classes, and the weights are copied straight from the HDF5
data with h5py. Nothing in the file is imported or executed. A layer that has no tf-keras
equivalent, or whose options tf-keras lacks, is named in the error.
"""

from __future__ import annotations

import functools
import inspect
import io
import json
import re
import zipfile
from pathlib import Path

import h5py
import numpy as np

from prune_studio.models.safety import builtin_layer_classes, check_graph

_BASE_LAYER_KWARGS = {
    "name",
    "trainable",
    "dtype",
    "dynamic",
    "input_dim",
    "input_shape",
    "batch_input_shape",
    "batch_size",
    "weights",
    "activity_regularizer",
    "autocast",
    "implementation",
    "zero_output_for_mask",  # tf-keras RNNs pop it from **kwargs (set by Bidirectional)
}
_MODEL_CLASSES = {"Sequential", "Functional", "Model"}
# Config keys under which wrappers (Bidirectional, TimeDistributed, RNN) keep a whole layer.
_WRAPPED = {"layer", "forward_layer", "backward_layer", "cell"}
_EMPTY = (None, False, [], {}, "")


class _Unsupported(Exception):
    """A layer cannot be carried over; ``args[0]`` says which and why."""


def _error(path: Path, what: str):
    from prune_studio.models.loading import ModelLoadError

    return ModelLoadError(f"Model file '{path.name}' was saved by Keras 3 and {what}")


def _classes(custom: dict) -> dict:
    return {**builtin_layer_classes(), **custom}


@functools.lru_cache(maxsize=None)
def _accepted(cls) -> tuple[frozenset[str], bool]:
    """Keyword names a class's constructors take (over its bases), and whether it takes **kwargs."""
    names: set[str] = set()
    var_keyword = False
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or klass is object:
            continue
        params = inspect.signature(vars(klass)["__init__"]).parameters.values()
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break  # nothing is passed further up
        var_keyword = True
    names.discard("self")
    return frozenset(names), var_keyword


def _object(value: dict, layer: str):
    """A Keras 3 serialised object (initializer, regularizer, ...) in tf-keras form."""
    from prune_studio.compat import keras

    cls_name = value["class_name"]
    if cls_name in ("DTypePolicy", "FloatDTypePolicy"):
        return value["config"]["name"]
    if cls_name == "__tuple__":
        return tuple(_value(v, layer) for v in value["config"]["value"])
    config = value.get("config")
    for module in (keras.initializers, keras.regularizers, keras.constraints):
        cls = getattr(module, cls_name, None)
        if inspect.isclass(cls) and isinstance(config, dict):
            names, _ = _accepted(cls)
            extra = {k: v for k, v in config.items() if k not in names and v not in _EMPTY}
            if extra:
                raise _Unsupported(f"layer '{layer}' uses {cls_name} options {sorted(extra)} that tf-keras lacks")
            return {"class_name": cls_name, "config": {k: _value(v, layer) for k, v in config.items() if k in names}}
    if cls_name == "function" or value.get("module", "keras").split(".")[0] != "keras":
        raise _Unsupported(f"layer '{layer}' uses the custom object {config!r}")
    return {"class_name": cls_name, "config": _value(config, layer)}


def _value(value, layer: str):
    if isinstance(value, dict):
        if "class_name" in value and "config" in value:
            return _object(value, layer)
        return {k: _value(v, layer) for k, v in value.items()}
    if isinstance(value, list):
        return [_value(v, layer) for v in value]
    return value


def _tensor_ref(arg, layer: str, shifted: set) -> list:
    if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
        name, node, index = arg["config"]["keras_history"]
        # tf-keras numbers the calls of a nested model with an Input from 1 (its node 0 is
        # the one it was built with); Keras 3 from 0.
        return [name, node + 1 if name in shifted else node, index]
    raise _Unsupported(f"layer '{layer}' is called on something other than layer outputs")


def _inbound_nodes(nodes: list, layer: str, shifted: set) -> list:
    """Keras 3 ``{"args", "kwargs"}`` nodes as tf-keras ``[[name, node, index, kwargs]]``."""
    converted = []
    for node in nodes:
        args = node.get("args", [])
        kwargs = {k: v for k, v in (node.get("kwargs") or {}).items() if v is not None}
        if any(isinstance(v, dict) for v in kwargs.values()):
            raise _Unsupported(f"layer '{layer}' is called with tensor keyword arguments")
        if len(args) == 1 and isinstance(args[0], list):
            refs = [_tensor_ref(a, layer, shifted) for a in args[0]]
        else:
            refs = [_tensor_ref(a, layer, shifted) for a in args]
        converted.append([ref + [kwargs] for ref in refs])
    return converted


def _layer_refs(refs) -> list:
    """``input_layers`` / ``output_layers`` as a list of ``[name, node, index]``."""
    if refs and isinstance(refs[0], str):
        return [refs]
    return [list(r) for r in refs]


def _has_input(entry: dict) -> bool:
    """Whether a nested model entry was built with an Input (tf-keras then skips node 0)."""
    if entry.get("class_name") == "Functional":
        return True
    layers = (entry.get("config") or {}).get("layers") or []
    return entry.get("class_name") == "Sequential" and bool(layers) and layers[0].get("class_name") == "InputLayer"


def convert_layer(entry: dict, known: dict, shifted: set) -> dict:
    """One Keras 3 layer entry as a tf-keras ``{"class_name", "config", ...}`` entry."""
    cls_name = entry["class_name"]
    config = dict(entry.get("config") or {})
    name = config.get("name") or entry.get("name") or cls_name
    if cls_name in _MODEL_CLASSES:
        out = {"class_name": cls_name, "config": convert_model_config(entry, known)["config"]}
    else:
        cls = known.get(cls_name)
        if cls_name == "Lambda":
            raise _Unsupported(f"layer '{name}' is a Lambda layer, whose Keras 3 code cannot be carried over to tf-keras")
        if cls is None:
            raise _Unsupported(f"layer '{name}' has the class {cls_name}, which tf-keras does not have")
        if cls_name == "InputLayer" and "batch_shape" in config:
            config["batch_input_shape"] = config.pop("batch_shape")
        names, passes_kwargs = _accepted(cls)
        allowed = names | (_BASE_LAYER_KWARGS if passes_kwargs else set())
        extra = {k: v for k, v in config.items() if k not in allowed and v not in _EMPTY}
        if extra:
            raise _Unsupported(f"layer '{name}' ({cls_name}) uses options {sorted(extra)} that tf-keras lacks")
        config = {
            k: convert_layer(v, known, set()) if k in _WRAPPED and isinstance(v, dict) else _value(v, name)
            for k, v in config.items()
            if k in allowed
        }
        out = {"class_name": cls_name, "config": config}
    if "name" in entry:
        out["name"] = entry["name"]
    if "inbound_nodes" in entry:
        out["inbound_nodes"] = _inbound_nodes(entry["inbound_nodes"], name, shifted)
    return out


def convert_model_config(model_config: dict, known: dict) -> dict:
    """A Keras 3 Sequential/Functional config in the tf-keras dialect."""
    config = dict(model_config["config"])
    layers = config.get("layers", [])
    shifted = {(e.get("config") or {}).get("name") for e in layers if _has_input(e)}
    out = {
        "name": config.get("name"),
        "layers": [convert_layer(layer, known, shifted) for layer in layers],
    }
    if "trainable" in config:
        out["trainable"] = config["trainable"]
    if model_config["class_name"] == "Sequential":
        if config.get("build_input_shape"):
            out["build_input_shape"] = config["build_input_shape"]
    else:
        out["input_layers"] = _layer_refs(config["input_layers"])
        out["output_layers"] = _layer_refs(config["output_layers"])
    return {"class_name": model_config["class_name"], "config": out}


def _snake(name: str) -> str:
    """Keras 3's snake case for class names: ``Conv2D`` -> ``conv2d``, ``LSTM`` -> ``lstm``."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _datasets(group) -> list[np.ndarray]:
    """A leaf layer's arrays: its ``vars`` in index order, then sub-objects (cell, forward...)."""
    arrays = []
    if "vars" in group:
        arrays += [group["vars"][k][()] for k in sorted(group["vars"], key=int)]
    order = {"forward_layer": 0, "backward_layer": 1}
    for key in sorted((k for k in group if k != "vars"), key=lambda k: (order.get(k, 2), k)):
        if isinstance(group[key], h5py.Group):
            arrays += _datasets(group[key])
    return arrays


def _set(layer, arrays: list, path: Path) -> None:
    try:
        layer.set_weights(arrays)
    except ValueError:
        have = [tuple(a.shape) for a in arrays]
        want = [tuple(w.shape) for w in layer.weights]
        raise _error(path, f"the weights of layer '{layer.name}' do not fit it (saved {have}, tf-keras needs {want}).") from None


def _copy_keras_weights(model, group, entries: list, path: Path) -> None:
    """Copy ``.keras`` weights, stored under class-based names (``dense``, ``dense_1``...).

    Keras 3 names each layer's group after its class in snake case, numbered in the order
    of the model's layers, so the keys are recomputed from the saved config.
    """
    from prune_studio.compat import keras

    keys, used = {}, {}
    for entry in entries:
        key = _snake(entry["class_name"])
        used[key] = used.get(key, -1) + 1
        keys[(entry.get("config") or {}).get("name") or entry.get("name")] = (
            f"{key}_{used[key]}" if used[key] else key,
            entry,
        )
    for layer in model.layers:
        if not layer.weights or layer.name not in keys:
            continue
        key, entry = keys[layer.name]
        sub = group.get(key) if group is not None else None
        if isinstance(layer, keras.Model):
            inner = sub.get("layers") if sub is not None else None
            _copy_keras_weights(layer, inner, entry["config"].get("layers", []), path)
        else:
            _set(layer, _datasets(sub) if sub is not None else [], path)


def _leaf_layers(model):
    from prune_studio.compat import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer)
        else:
            yield layer


def _copy_h5_weights(model, root, path: Path) -> None:
    """Copy legacy ``.h5`` weights, grouped by top-level layer name with ``weight_names``."""
    from prune_studio.compat import keras

    for layer in model.layers:
        if not layer.weights:
            continue
        if layer.name not in root:
            raise _error(path, f"has no saved weights for layer '{layer.name}'.")
        group = root[layer.name]
        names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs.get("weight_names", [])]
        saved = {n: group[n][()] for n in names}
        if not isinstance(layer, keras.Model):
            _set(layer, [saved[n] for n in names], path)
            continue
        for leaf in _leaf_layers(layer):
            mine = [saved[n] for n in names if f"/{leaf.name}/" in f"/{n}"]
            if leaf.weights:
                _set(leaf, mine, path)


def tf_keras_config(model_config: dict, custom: dict) -> dict | None:
    """The tf-keras dialect of a Keras 3 Sequential/Functional config (to describe it without
    rebuilding), or None when it cannot be carried over (``rebuild`` then names the reason)."""
    if model_config.get("class_name") not in ("Sequential", "Functional"):
        return None
    try:
        converted = convert_model_config(model_config, _classes(custom))
        check_graph(converted)
    except (_Unsupported, KeyError, TypeError, ValueError):
        return None
    return converted


def rebuild(path: Path, fmt: str, model_config: dict, custom: dict):
    """Build the tf-keras twin of a Keras 3 model from its config and copy its weights.

    Args:
        path: The ``.keras`` or ``.h5`` file.
        fmt: ``"keras"`` or ``"h5"``.
        model_config: The file's model config (already scanned for code by the caller).
        custom: Classes registered by the user (from a custom objects file).

    Raises:
        ModelLoadError: A layer cannot be carried over (named), or the weights do not fit.
    """
    from prune_studio.compat import keras

    if model_config.get("class_name") not in ("Sequential", "Functional"):
        raise _error(path, f"is a subclassed model ({model_config.get('class_name')}), which cannot be rebuilt in tf-keras; save it as a Functional or Sequential model.")
    try:
        converted = convert_model_config(model_config, _classes(custom))
        check_graph(converted)
    except _Unsupported as exc:
        raise _error(path, f"cannot be opened here: {exc}.") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise _error(path, f"has a model config that could not be translated ({exc}).") from None
    try:
        model = keras.models.model_from_json(json.dumps(converted), custom_objects=custom)
    except Exception as exc:  # tf-keras raises many types for a config it cannot build
        raise _error(path, f"could not be rebuilt in tf-keras: {str(exc).splitlines()[0][:300]}.") from None
    if not model.built:
        return model  # the caller reports the missing input shape
    if fmt == "keras":
        with zipfile.ZipFile(path) as archive:
            data = io.BytesIO(archive.read("model.weights.h5"))
        with h5py.File(data, "r") as f:
            _copy_keras_weights(model, f.get("layers"), model_config["config"]["layers"], path)
    else:
        with h5py.File(path, "r") as f:
            _copy_h5_weights(model, f["model_weights"], path)
    return model

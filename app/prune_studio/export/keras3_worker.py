"""Write and check Keras 3 files; run as a script, in its own process, never imported by the app.

The app runs tf-keras (``TF_USE_LEGACY_KERAS=1``), and one process cannot hold both Keras
flavours, so :mod:`prune_studio.export.keras3_files` starts this file with ``python`` and a job
file. Importing nothing from ``prune_studio`` keeps the legacy flag out of this process.

Job (JSON): ``{"source": tf-keras .h5 without optimizer, "x": .npy of test inputs (or .npz of
one array per input name), "outputs": the model's output names, "targets": [{"path": ...,
"format": "keras" | "h5"}], "result": .npz to write}``. A model with several outputs has its
predictions stored per output, in the order of ``outputs``.
For each target the model is saved by Keras 3, loaded back by Keras 3 (safe mode, no compile)
and run on the inputs; the result holds its predictions, its weights per layer and the time
the predictions took, or the error. Exit code 0 unless the job itself cannot be read.
"""

import json
import os
import sys
import time

os.environ.pop("TF_USE_LEGACY_KERAS", None)
os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _leaves(model, prefix=""):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            yield from _leaves(layer, f"{prefix}{layer.name}/")
        else:
            yield f"{prefix}{layer.name}", layer


_BASE_KWARGS = {"name", "trainable", "dtype", "input_shape", "batch_input_shape", "batch_size", "input_dim",
                "autocast", "weights", "activity_regularizer"}


def _accepted(cls):
    """Keyword names ``cls``'s constructors take, following ``**kwargs`` up the bases."""
    import inspect

    names = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or klass is object:
            continue
        params = inspect.signature(vars(klass)["__init__"]).parameters.values()
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return names | _BASE_KWARGS


def _is_ref(v):
    return isinstance(v, list) and len(v) == 3 and isinstance(v[0], str) and all(isinstance(i, int) for i in v[1:])


def _tensor(ref):
    # Keras 3 keeps only ``keras_history`` of a revived tensor; shape and dtype are placeholders.
    return {"class_name": "__keras_tensor__", "config": {"shape": [None], "dtype": "float32", "keras_history": ref}}


def _node(node):
    """A tf-keras node whose call took tensors as keyword arguments (``value=`` of attention).

    Keras 3 reads old nodes but not tensors among their keyword arguments; those nodes are
    written in its own ``{"args", "kwargs"}`` form.
    """
    if not isinstance(node, list) or not all(isinstance(e, list) and len(e) == 4 for e in node):
        return node
    kwargs = node[0][3] if isinstance(node[0][3], dict) else {}
    if not any(_is_ref(v) for v in kwargs.values()):
        return node
    refs = [_tensor(e[:3]) for e in node]
    return {"args": refs if len(refs) == 1 else [refs],
            "kwargs": {k: _tensor(v) if _is_ref(v) else v for k, v in kwargs.items()}}


def _own_node(entry):
    """Whether tf-keras counted a nested model's own creation as its node 0 (built on an Input);
    Keras 3 does not, so calls to it are numbered one lower there."""
    inner = (entry.get("config") or {}).get("layers") or []
    if entry.get("class_name") in ("Functional", "Model"):
        return True
    return entry.get("class_name") == "Sequential" and bool(inner) and inner[0].get("class_name") == "InputLayer"


def _shift_refs(value, shifted):
    """``[name, node, tensor(, kwargs)]`` references to the models in ``shifted``, one node lower."""
    if isinstance(value, list):
        if len(value) >= 3 and isinstance(value[0], str) and isinstance(value[1], int) and value[0] in shifted:
            return [value[0], value[1] - 1, *value[2:]]
        return [_shift_refs(v, shifted) for v in value]
    if isinstance(value, dict):
        return {k: _shift_refs(v, shifted) for k, v in value.items()}
    return value


def _renumber_nested(config):
    """A Functional config whose references to nested models use Keras 3's node numbers."""
    entries = config.get("layers") or []
    shifted = {e.get("name") or (e.get("config") or {}).get("name") for e in entries
               if isinstance(e, dict) and _own_node(e)}
    if not shifted or "input_layers" not in config:
        return config
    out = dict(config)
    out["layers"] = [{**e, "inbound_nodes": _shift_refs(e["inbound_nodes"], shifted)} if "inbound_nodes" in e else e
                     for e in entries]
    out["output_layers"] = _shift_refs(config.get("output_layers"), shifted)
    return out


def _sanitize(value, layers):
    """Drop tf-keras-only layer options (``time_major``, ``query_shape``...) Keras 3 refuses.

    Only built-in Keras 3 layer classes are looked up (by attribute, nothing is imported); the
    outputs are compared afterwards, so a dropped option that mattered is caught there.
    """
    if isinstance(value, list):
        return [_sanitize(v, layers) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: _sanitize(v, layers) for k, v in value.items()}
    if isinstance(out.get("config"), dict) and isinstance(out["config"].get("layers"), list):
        out["config"] = _renumber_nested(out["config"])
    if isinstance(out.get("inbound_nodes"), list):
        out["inbound_nodes"] = [_node(n) for n in out["inbound_nodes"]]
    cls = getattr(layers, str(value.get("class_name")), None)
    if isinstance(cls, type) and isinstance(out.get("config"), dict) and "layers" not in out["config"]:
        allowed = _accepted(cls)
        out["config"] = {k: v for k, v in out["config"].items() if k in allowed}
    return out


def _load_source(keras, path, folder):
    """The tf-keras .h5 as a Keras 3 model, its config translated where the dialects differ."""
    import shutil

    import h5py

    fixed = os.path.join(folder, "source_keras3.h5")
    shutil.copyfile(path, fixed)
    with h5py.File(fixed, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        f.attrs["model_config"] = json.dumps(_sanitize(config, keras.layers))
    return keras.saving.load_model(fixed, compile=False)


def _take(x, part):
    return {k: v[part] for k, v in x.items()} if isinstance(x, dict) else x[part]


def _outputs(pred, names):
    """Predictions as a list of arrays, one per output in the order of ``names``."""
    import numpy as np

    if isinstance(pred, dict):
        return [np.asarray(pred[n]) for n in names] if set(names) <= set(pred) else [np.asarray(v) for v in pred.values()]
    if isinstance(pred, (list, tuple)):
        return [np.asarray(v) for v in pred]
    return [np.asarray(pred)]


def _predict(model, x, names, batch=256):
    """Per output, the predictions on ``x`` (an array or a dict by input name), and the seconds."""
    import numpy as np

    n = len(next(iter(x.values()))) if isinstance(x, dict) else len(x)
    model(_take(x, slice(0, 1)), training=False)  # warm-up, as the app measures its models
    start = time.perf_counter()
    out = [_outputs(model(_take(x, slice(i, i + batch)), training=False), names) for i in range(0, n, batch)]
    return [np.concatenate(parts) for parts in zip(*out)], time.perf_counter() - start


def _inputs(path):
    import numpy as np

    if path.endswith(".npz"):
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    return np.load(path)


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def main(job_path):
    with open(job_path, encoding="utf-8") as f:
        job = json.load(f)
    import numpy as np

    results = {}
    errors = {}
    try:
        import keras

        x = _inputs(job["x"])
        model = _load_source(keras, job["source"], os.path.dirname(job["result"]))
        results["keras_version"] = np.array(keras.__version__)
    except Exception as exc:  # noqa: BLE001 - reported to the app as one sentence
        errors["all"] = f"Keras 3 cannot rebuild the model: {_first_line(exc)}"
        model = None
    for i, target in enumerate(job["targets"] if model is not None else []):
        try:
            model.save(target["path"])
            reloaded = keras.saving.load_model(target["path"], compile=False, safe_mode=True)
            preds, seconds = _predict(reloaded, x, job.get("outputs") or [])
            for k, pred in enumerate(preds):
                results[f"{i}/pred/{k}"] = pred
            results[f"{i}/seconds"] = np.array(seconds)
            for name, layer in _leaves(reloaded):
                for j, w in enumerate(layer.get_weights()):
                    results[f"{i}/w/{name}/{j}"] = w
        except Exception as exc:  # noqa: BLE001
            errors[str(i)] = f"Keras 3 could not save or reload it: {_first_line(exc)}"
    results["errors"] = np.array(json.dumps(errors))
    np.savez(job["result"], **results)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

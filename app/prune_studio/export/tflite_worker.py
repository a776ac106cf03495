"""Convert models to TFLite in a process of its own: ``python -m prune_studio.export.tflite_worker``.

``TFLiteConverter.convert`` is one C++ call that holds the GIL throughout (0.2-2.3 s per file
measured here), so in the window's process it froze the window however the work was
threaded. :mod:`prune_studio.export.tflite_process` starts this module once and sends it
requests; the parent keeps verification, reporting and progress.

Protocol: one JSON object per line on stdin, one reply per request on stdout, in order::

    {"id": 3, "source": {"graph": "g.pb", "inputs": ["xs_0:0"], "outputs": ["Identity:0"]}
                     or {"saved_model": "dir"},
     "kind": "int8", "sparse": false, "int8_io": "float", "integer_inputs": [false] or null,
     "calibration": "calibration.npy" or ".npz" (one array per input name) or null,
     "path": "where to write the .tflite"}
    -> {"id": 3, "error": ""}        (or the one-sentence reason the file was not made)

A frozen graph (the model traced once and its weights made constants by the parent) converts
exactly as :func:`prune_studio.export.tflite.convert` does in-process (same bytes); a SavedModel
is the route for recurrent models and models with several inputs or outputs, as in-process.
A kind's plain and sparse-encoded files come from one conversion: the child keeps the last one
in both encodings (:class:`prune_studio.export.tflite.LastConversion`), so the parent sends a
kind's two files to the same child, one after the other. The process ends when stdin closes. Whatever native code prints goes to stderr, never to the
replies.
"""

from __future__ import annotations

import json
import sys


def _source(spec: dict, cache: dict):
    """A converter for ``spec``; the last frozen graph is kept (several kinds convert from it)."""
    from prune_studio.compat import tf

    if "saved_model" in spec:
        return tf.lite.TFLiteConverter.from_saved_model(spec["saved_model"])
    key = spec["graph"]
    if cache.get("key") != key:
        graph_def = tf.compat.v1.GraphDef()
        with open(key, "rb") as f:
            graph_def.ParseFromString(f.read())
        wrapped = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
        graph = wrapped.graph
        for name in ("key", "function", "frozen"):  # the last conversion ("last") is keyed by its graph
            cache.pop(name, None)
        cache["key"] = key
        cache["function"] = wrapped.prune(feeds=[graph.get_tensor_by_name(n) for n in spec["inputs"]],
                                          fetches=[graph.get_tensor_by_name(n) for n in spec["outputs"]])
    from prune_studio.export.tflite import freeze_once

    converter = tf.lite.TFLiteConverter.from_concrete_functions([cache["function"]])
    converter.experimental_lower_to_saved_model = False  # a frozen graph: nothing to save
    cache["frozen"] = freeze_once(converter, cache.get("frozen"))  # once per graph, not per kind
    return converter


def _calibration(path: str | None):
    if not path:
        return None
    import numpy as np

    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    return np.load(path, allow_pickle=False)


def handle(request: dict, cache: dict) -> str:
    """Make one file; '' or the sentence saying why it was not made."""
    from prune_studio.export.settings import ExportError
    from prune_studio.export.tflite import LastConversion, configure

    kind = request["kind"]
    # The plain and sparse-encoded files of one kind come from one conversion (the parent sends
    # them to the same child, one after the other).
    same_file = json.dumps({k: v for k, v in request.items() if k not in ("id", "path", "sparse")}, sort_keys=True)
    last = cache.setdefault("last", LastConversion())

    def converter():
        try:
            made = _source(request["source"], cache)
        except Exception as exc:  # noqa: BLE001 - one sentence, never a traceback
            raise ExportError(f"TFLite conversion ({kind}) failed: the model handed over could not be read "
                              f"({_first(exc)}).") from exc
        configure(made, kind, False, _calibration(request.get("calibration")), request.get("int8_io", "float"),
                  request.get("integer_inputs"))
        return made

    try:
        content = last.file(same_file, bool(request.get("sparse", False)), kind, converter)
    except ExportError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - reading the calibration samples, say
        return f"TFLite conversion ({kind}) failed: {_first(exc)}"
    try:
        with open(request["path"], "wb") as f:
            f.write(content)
    except OSError as exc:
        return f"writing {request['path']} failed ({exc.strerror or exc})."
    return ""


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def main() -> int:
    from prune_studio.child_process import reply_channel

    replies = reply_channel()  # anything printed from here on (Python or C++) lands on stderr
    import prune_studio.compat  # noqa: F401 - TensorFlow loads before the first request comes

    replies.write(json.dumps({"id": None, "ready": True}) + "\n")
    replies.flush()
    cache: dict = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        replies.write(json.dumps({"id": request["id"], "error": handle(request, cache)}) + "\n")
        replies.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

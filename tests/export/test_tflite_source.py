"""One traced and frozen source serves every TFLite conversion of an export, changing no byte."""

import numpy as np

from prune_studio.compat import keras
from prune_studio.export import tflite


def _cnn():
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, name="conv"), keras.layers.BatchNormalization(name="bn"),
        keras.layers.ReLU(name="relu"), keras.layers.Flatten(name="flat"), keras.layers.Dense(3, name="out"),
    ])


def test_every_kind_converted_from_one_shared_source_equals_a_fresh_conversion():
    model = _cnn()
    x = np.random.default_rng(0).random((16, 8, 8, 1), dtype=np.float32)
    shared = tflite.make_source(model)
    kinds = [("float32", False), ("float32", True), ("dynamic", False), ("float16", False), ("int8", False),
             ("int8", True)]
    for kind, sparse in kinds:
        fresh = tflite.convert(model, kind, sparse, x, source=tflite.make_source(model))
        assert tflite.convert(model, kind, sparse, x, source=shared) == fresh, (kind, sparse)
    assert shared._frozen is not None  # frozen once, then reused


def _half_zeros(model):
    for w in model.weights:
        if len(w.shape) >= 2:
            a = w.numpy()
            a[np.abs(a) < np.median(np.abs(a))] = 0
            w.assign(a)
    return model


def test_the_sparse_twin_of_each_kind_equals_the_converters_own_sparse_file():
    """The sparse file is encoded from the plain conversion's model, not converted again: same bytes."""
    model = _half_zeros(_cnn())
    x = np.random.default_rng(0).random((16, 8, 8, 1), dtype=np.float32)
    source = tflite.make_source(model)
    for kind in ("float32", "dynamic", "float16", "int8"):
        both = tflite.Encodings(tflite.converter_for(model, kind, False, x, source=source), kind)
        assert both._optimized is not None, kind  # the twin comes from the kept model, not a conversion
        assert both.file(False) == tflite.convert(model, kind, False, x, source=source), kind
        sparse = both.file(True)
        assert sparse == tflite.convert(model, kind, True, x, source=source), kind
        assert len(sparse) < len(both.file(False)) or kind != "float32"


def test_without_the_kept_model_the_sparse_twin_is_converted_in_full():
    model = _half_zeros(_cnn())
    both = tflite.Encodings(tflite.converter_for(model, "dynamic"), "dynamic")
    both._optimized = None  # as with a TensorFlow whose converter has no such step
    assert both.file(True) == tflite.convert(model, "dynamic", True)


def test_the_converter_child_converts_a_kinds_plain_and_sparse_files_once(tmp_path):
    from prune_studio.export import tflite_worker
    from prune_studio.export.tflite_process import hand_over

    model = _half_zeros(_cnn())
    handoff = hand_over(model, tmp_path)
    cache: dict = {}
    assert tflite_worker.handle(dict(handoff.request("float16", tmp_path / "p.tflite"), id=1), cache) == ""
    kept = cache["last"]._encodings
    assert tflite_worker.handle(dict(handoff.request("float16", tmp_path / "s.tflite", sparse=True), id=2), cache) == ""
    assert cache["last"]._encodings is kept  # no second conversion
    assert (tmp_path / "p.tflite").read_bytes() == tflite.convert(model, "float16", False)
    assert (tmp_path / "s.tflite").read_bytes() == tflite.convert(model, "float16", True)
    assert tflite_worker.handle(dict(handoff.request("dynamic", tmp_path / "d.tflite", sparse=True), id=3), cache) == ""
    assert cache["last"]._encodings is not kept  # another kind: converted
    assert (tmp_path / "d.tflite").read_bytes() == tflite.convert(model, "dynamic", True)

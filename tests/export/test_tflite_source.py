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

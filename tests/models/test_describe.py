"""describe_model gives the layer tree, prunability with reasons, and totals, quickly."""

import json
import time

from prune_studio.compat import keras
from prune_studio.models import ModelDescription, describe_model, load_model


def test_demo_model_description(demo_model_file):
    loaded = load_model(demo_model_file)
    desc = describe_model(loaded.model, loaded.path)
    assert [i.name for i in desc.layers()] == ["conv1", "conv2", "pool", "flatten", "dense1", "dropout", "digits"]
    assert [i.name for i in desc.prunable_layers()] == ["conv1", "conv2", "dense1", "digits"]
    dense1 = desc.find("dense1")
    assert dense1.type == "Dense" and dense1.output_shape == [None, 256] and dense1.params == 1024 * 256 + 256
    assert [(w.shape, w.size) for w in dense1.weights] == [([1024, 256], 1024 * 256)]
    dropout = desc.find("dropout")
    assert not dropout.prunable and "training" in dropout.reason and dropout.weights == []
    assert desc.total_params == loaded.model.count_params()
    assert desc.prunable_params == sum(i.prunable_params for i in desc.prunable_layers())
    assert desc.file_bytes == demo_model_file.stat().st_size


def test_nested_models_become_children_and_round_trip():
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="a")], name="block")
    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(2, name="b")(inner(inp)))
    desc = describe_model(model)
    block = desc.find("block")
    assert not block.prunable and [c.path for c in block.children] == ["block/a"]
    assert desc.find("block/a").prunable and desc.find("a").path == "block/a"
    assert desc.file_bytes is None
    again = ModelDescription.from_dict(json.loads(json.dumps(desc.to_dict())))
    assert again == desc


def test_describing_300_layers_is_fast():
    inp = keras.Input((8,))
    x = inp
    for _ in range(150):
        x = keras.layers.Dense(4)(x)
        x = keras.layers.Dropout(0.1)(x)
    model = keras.Model(inp, x)
    start = time.perf_counter()
    desc = describe_model(model)
    seconds = time.perf_counter() - start
    print(f"described {len(desc.layers())} layers in {seconds * 1000:.0f} ms")
    assert len(desc.layers()) == 301
    assert seconds < 3.0  # measured ~0.05 s; generous for a loaded shared machine


def test_each_non_prunable_kind_has_its_own_true_reason():
    inp = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Rescaling(1 / 255, name="rescale")(inp)
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    y = keras.layers.Conv2D(4, 1, name="side")(x)
    x = keras.layers.Add(name="add")([x, y])
    x = keras.layers.ZeroPadding2D(name="pad")(x)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Dropout(0.2, name="drop")(x)
    x = keras.layers.Flatten(name="flat")(x)
    x = keras.layers.Reshape((-1, 5), name="reshape")(x)
    x = keras.layers.LayerNormalization(name="ln")(x)
    x = keras.layers.GlobalAveragePooling1D(name="gap")(x)
    x = keras.layers.PReLU(name="prelu")(x)
    out = keras.layers.Dense(3, name="head")(x * 2.0)
    desc = describe_model(keras.Model(inp, out))
    reasons = {info.name: info.reason for info in desc.layers() if not info.prunable}
    assert reasons["image"] == "The model's input; it has no weights."
    assert "Pooling" in reasons["pool"] and reasons["pool"] == reasons["gap"]
    assert "shape" in reasons["flat"] and reasons["flat"] == reasons["reshape"]
    assert "training" in reasons["drop"]
    assert "fixed function" in reasons["relu"]
    assert "scale and a shift" in reasons["bn"] and reasons["bn"] == reasons["ln"]
    assert "Combines" in reasons["add"]
    assert "pads" in reasons["pad"]
    assert "Prepares the input" in reasons["rescale"]
    assert "slope" in reasons["prelu"]
    op = next(name for name in reasons if name.startswith("tf.math.multiply"))
    assert "TensorFlow operation" in reasons[op]
    kinds = {"image", "pool", "flat", "drop", "relu", "bn", "add", "pad", "rescale", "prelu", op}
    assert len({reasons[k] for k in kinds}) == len(kinds)  # no kind borrows another's reason
    assert {"conv", "side", "head"} <= {info.name for info in desc.prunable_layers()}

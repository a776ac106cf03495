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
    assert not dropout.prunable and "Dropout" in dropout.reason and dropout.weights == []
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

"""Describing an opened file from its config gives what describing the built model gives.

``open_model(...).describe()`` reads no weight and builds no model; each case compares its
result, field by field, with ``describe_model`` of the model ``load_model`` builds from the same
file, for every format a case is saved in.
"""

import pytest
from small_models import bigru_model, two_by_two_model

from prune_studio.compat import keras, tf
from prune_studio.models import describe_model, load_model, open_model


def _sequential():
    return keras.Sequential([
        keras.layers.Conv1D(8, 3, input_shape=(16, 1), name="conv"), keras.layers.BatchNormalization(name="bn"),
        keras.layers.ReLU(name="relu"), keras.layers.MaxPooling1D(2, name="pool"), keras.layers.Flatten(name="flat"),
        keras.layers.Dropout(0.2, name="drop"), keras.layers.Dense(4, activation="softmax", name="out"),
    ], name="seq")


def _nested_twice():
    """A Functional model inside a Functional model, the inner one holding a Sequential."""
    block = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, name="block_dense")], name="block")
    inp = keras.Input((6,), name="inner_in")
    inner = keras.Model(inp, keras.layers.Dense(3, name="inner_out")(block(inp)), name="inner")
    x = keras.Input((6,), name="x")
    return keras.Model(x, keras.layers.Dense(2, name="head")(inner(x)), name="outer")


def _ops_and_attention():
    """TensorFlow ops on tensors (op layers with keyword operands), attention called with
    ``value=``, a Normalization layer (its build reads its own variables), an LSTM returning
    several outputs and a SeparableConv."""
    tokens = keras.Input((6,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(20, 8, name="emb")(tokens)
    x = keras.layers.Normalization(axis=-1, name="norm")(x)
    att = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(x, x)
    x = keras.layers.LayerNormalization(name="ln")(x + att)
    seq, h, c = keras.layers.LSTM(4, return_sequences=True, return_state=True, name="lstm")(x * 0.5)
    img = keras.layers.Reshape((6, 4, 1), name="as_image")(seq)
    img = keras.layers.SeparableConv2D(3, 3, padding="same", name="sep")(img)
    pooled = keras.layers.GlobalAveragePooling2D(name="gap")(img)
    joined = tf.concat([pooled, h, c], axis=-1)
    return keras.Model(tokens, keras.layers.Dense(3, activation="softmax", name="out")(joined), name="ops")


def _save(model, path, fmt):
    if fmt == "savedmodel":
        model.save(str(path), save_format="tf")
    else:
        model.save(path)
    return path


CASES = {"sequential": _sequential, "nested_twice": _nested_twice, "two_by_two": two_by_two_model,
         "bigru": bigru_model, "ops_and_attention": _ops_and_attention}
# every case as .keras; each format's reader on the cases whose configs differ most in it
FORMATS = [(case, "keras") for case in CASES] + [
    ("sequential", "h5"), ("two_by_two", "h5"), ("ops_and_attention", "h5"),
    ("sequential", "savedmodel"), ("nested_twice", "savedmodel"), ("two_by_two", "savedmodel"),
]


@pytest.mark.parametrize(("case", "fmt"), FORMATS, ids=[f"{c}-{f}" for c, f in FORMATS])
def test_description_from_the_config_equals_the_built_models(tmp_path, case, fmt):
    path = _save(CASES[case](), tmp_path / (f"{case}_sm" if fmt == "savedmodel" else f"{case}.{fmt}"), fmt)
    opened = open_model(path)
    quick = opened.describe()
    assert not opened.is_built  # described without building the model or reading a weight
    full = describe_model(load_model(path).model, path)
    assert quick.to_dict() == full.to_dict()
    assert quick.prunable_layers()  # the comparison covers prunable weights, not only names


def test_mobilenet_v2_is_described_without_building_it(tmp_path):
    model = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=10)
    path = _save(model, tmp_path / "mnv2.keras", "keras")
    opened = open_model(path)
    quick = opened.describe()
    assert not opened.is_built
    assert quick.to_dict() == describe_model(opened.model, path).to_dict()
    assert len(quick.layers()) == len(model.layers) and quick.total_params == model.count_params()


def test_a_config_the_walk_cannot_read_is_described_from_the_built_model(tmp_path):
    """A layer called with a constant first argument: the walk gives up, the build answers."""
    x = keras.Input((3,), name="x")
    model = keras.Model(x, keras.layers.Dense(2, name="d")(tf.maximum(0.0, x)), name="odd")
    path = _save(model, tmp_path / "odd.keras", "keras")
    opened = open_model(path)
    desc = opened.describe()
    assert opened.is_built and desc.find("d").prunable
    assert desc.to_dict() == describe_model(opened.model, path).to_dict()


def test_the_model_is_built_once_on_first_use_and_compiled(tmp_path):
    path = _save(_sequential(), tmp_path / "seq.keras", "keras")
    opened = open_model(path)
    assert not opened.is_built
    model = opened.model
    assert opened.is_built and opened.model is model and model.optimizer is not None
    assert opened.compile_settings.loss == "sparse_categorical_crossentropy"

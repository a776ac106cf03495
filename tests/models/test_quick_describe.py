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


def _every_kind():
    """Every layer kind ``layer_shapes`` works out by hand, with the options its rules read."""
    L = keras.layers
    img = keras.Input((16, 16, 3), name="img")
    x = L.Normalization(axis=-1, mean=[0.5, 0.4, 0.3], variance=[1.0, 2.0, 3.0], name="norm_const")(
        L.Rescaling(1 / 255, name="rescale")(img))
    x = L.Normalization(axis=(1, 3), name="norm_adapt")(x)
    x = L.ZeroPadding2D(((0, 1), (1, 0)), name="pad2")(x)
    x = L.ReLU(6.0, name="relu6")(L.BatchNormalization(name="bn")(L.Conv2D(8, 3, strides=2, name="conv2")(x)))
    y = L.DepthwiseConv2D(3, padding="same", name="dw2")(L.Conv2D(8, 3, padding="same", groups=2, use_bias=False,
                                                                   name="grouped")(x))
    merged = [L.Add(name="add")([x, y]), L.Subtract(name="sub")([x, y]), L.Multiply(name="mul")([x, y]),
              L.Average(name="avg")([x, y]), L.Maximum(name="max")([x, y]), L.Minimum(name="min")([x, y])]
    x = L.Concatenate(name="cat")(merged)
    x = L.Concatenate(axis=1, name="cat_rows")([x, L.BatchNormalization(axis=1, center=False, name="bn_rows")(x)])
    x = L.SeparableConv2D(8, 3, depth_multiplier=2, dilation_rate=2, name="sep2")(x)
    x = L.DepthwiseConv2D(3, strides=2, depth_multiplier=2, padding="same", use_bias=False, name="dw2_s2")(x)
    x = L.MaxPooling2D(name="maxpool2")(L.LeakyReLU(0.1, name="leaky")(x))
    x = L.AveragePooling2D(3, strides=1, padding="same", name="avgpool2")(L.ELU(name="elu")(x))
    x = L.GaussianDropout(0.1, name="gdrop")(L.GaussianNoise(0.1, name="noise")(L.SpatialDropout2D(0.1, name="sdrop2")(x)))
    image = [L.Flatten(name="flat_gap")(L.GlobalAveragePooling2D(keepdims=True, name="gap2")(x)),
             L.GlobalMaxPooling2D(name="gmp2")(L.Activation("relu", name="act")(x)),
             L.Reshape((-1,), name="unroll")(L.Reshape((2, -1), name="rows")(x))]

    tokens = keras.Input((10,), dtype="int32", name="tokens")
    s = L.LayerNormalization(axis=[1, 2], name="ln")(L.Embedding(20, 8, name="emb")(tokens))
    s = L.Conv1D(6, 3, padding="causal", dilation_rate=2, name="conv1")(s)
    s = L.SeparableConv1D(4, 3, name="sep1")(L.DepthwiseConv1D(3, depth_multiplier=2, name="dw1")(s))
    s = L.SpatialDropout1D(0.1, name="sdrop1")(L.ZeroPadding1D((1, 2), name="pad1")(s))
    s = L.AveragePooling1D(padding="same", name="avgpool1")(L.MaxPooling1D(2, strides=1, name="maxpool1")(s))
    s = L.Dense(5, name="dense_seq")(s)
    sequence = [L.GlobalAveragePooling1D(name="gap1")(s),
                L.Flatten(name="flat_gmp")(L.GlobalMaxPooling1D(keepdims=True, name="gmp1")(s))]

    volume = keras.Input((4, 4, 4, 1), name="volume")
    cube = [L.Flatten(name="flat3")(L.Conv3D(2, 2, strides=(1, 2, 2), name="conv3")(volume))]

    x = L.Dropout(0.2, name="drop")(L.Concatenate(name="features")(image + sequence + cube))
    out = L.Softmax(name="softmax")(L.Dense(3, name="logits")(x))
    return keras.Model([img, tokens, volume], out, name="every_kind")


def _save(model, path, fmt):
    if fmt == "savedmodel":
        model.save(str(path), save_format="tf")
    else:
        model.save(path)
    return path


CASES = {"sequential": _sequential, "nested_twice": _nested_twice, "two_by_two": two_by_two_model,
         "bigru": bigru_model, "ops_and_attention": _ops_and_attention, "every_kind": _every_kind}
# every case as .keras; each format's reader on the cases whose configs differ most in it
FORMATS = [(case, "keras") for case in CASES] + [
    ("sequential", "h5"), ("two_by_two", "h5"), ("ops_and_attention", "h5"),
    ("sequential", "savedmodel"), ("nested_twice", "savedmodel"), ("two_by_two", "savedmodel"),
    ("every_kind", "h5"), ("every_kind", "savedmodel"),
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


def test_every_kind_described_by_hand_matches_the_built_layer():
    """Each rule of ``layer_shapes`` gives the built layer's weights (names, shapes, order) and
    output shape, and the model above holds every kind the rules cover."""
    from prune_studio.models.layer_shapes import RULES

    model = _every_kind()
    assert set(RULES) <= {type(layer).__name__ for layer in model.layers}
    for layer in model.layers:
        kind = type(layer).__name__
        if kind not in RULES:
            continue
        inputs = layer.input_shape
        inputs = [list(s) for s in inputs] if isinstance(inputs, list) else list(inputs)
        weights, out = RULES[kind](layer.get_config(), inputs)
        assert weights == [(w.name.split("/")[-1][:-2], w.shape.as_list()) for w in layer.weights], layer.name
        assert out == list(layer.output_shape), layer.name

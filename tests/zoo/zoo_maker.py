"""Write the model zoo: small real architectures as users bring them, with data they can learn.

Run as a script in its own process, so each Keras flavour is imported cleanly:

    python zoo_maker.py tf_keras OUT_DIR KIND[:FORMATS] ...
    python zoo_maker.py keras3   OUT_DIR KIND[:FORMATS] ...

FORMATS is a comma list of ``keras``, ``h5`` and ``savedmodel`` (tf-keras only), default
``keras``. Each KIND writes ``KIND.<fmt>`` (``KIND_savedmodel/`` for SavedModel) and
``KIND.npz``, a train/test split of synthetic data the model can learn (class-dependent
patterns), keyed ``x_train``/``y_train``/... or, for several inputs or outputs,
``x_train/<input name>`` and ``y_train/<output name>``. ``--train-epochs N`` trains the model
first so that its accuracy is a real baseline (benchmarks), then settles its BatchNormalization
statistics (a running average over the training set, no weight update), as a model trained to the
end would have them; tests leave it untrained.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _set_flavour(flavour: str):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if flavour == "keras3":
        os.environ.pop("TF_USE_LEGACY_KERAS", None)
        os.environ["KERAS_BACKEND"] = "tensorflow"
        import keras

        return keras
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tf_keras

    return tf_keras


# ---------------------------------------------------------------- data the models can learn

#: How much data and how hard (``--samples``, ``--noise``): noise 1 is learnable to ~100%, which
#: tests want; a benchmark that judges accuracy drops wants a baseline below that and enough test
#: samples that one sample is well under a point.
DATA = {"n_train": 256, "n_test": 96, "noise": 1.0}


def _sizes(n_train, n_test):
    return n_train or DATA["n_train"], n_test or DATA["n_test"]


def image_data(rng, shape, classes=10, n_train=None, n_test=None):
    """Images of one smooth random pattern per class plus noise, values in [0, 1]."""
    import numpy as np

    h, w, c = shape
    n_train, n_test = _sizes(n_train, n_test)
    noise = min(0.95, 0.4 * DATA["noise"])
    coarse = rng.random((classes, 4, 4, c))
    protos = np.kron(coarse, np.ones((1, -(-h // 4), -(-w // 4), 1)))[:, :h, :w, :]

    def draw(n):
        y = rng.integers(0, classes, n)
        x = (1 - noise) * protos[y] + noise * rng.random((n, h, w, c))
        return x.astype("float32"), y.astype("int64")

    return draw(n_train), draw(n_test)


def signal_data(rng, length=64, classes=4, n_train=None, n_test=None):
    """1-D signals: a sine whose frequency depends on the class, with noise."""
    import numpy as np

    n_train, n_test = _sizes(n_train, n_test)
    noise = 0.3 * DATA["noise"]
    t = np.arange(length) / length

    def draw(n):
        y = rng.integers(0, classes, n)
        phase = rng.random((n, 1)) * 2 * np.pi
        x = np.sin(2 * np.pi * (2 + 3 * y[:, None]) * t + phase) + noise * rng.standard_normal((n, length))
        return x[..., None].astype("float32"), y.astype("int64")

    return draw(n_train), draw(n_test)


def text_data(rng, length=20, vocab=100, classes=4, n_train=None, n_test=None):
    """Token sequences: a class sprinkles tokens from its own id range among common ones."""
    import numpy as np

    n_train, n_test = _sizes(n_train, n_test)
    share = 0.3 / DATA["noise"]
    def draw(n):
        y = rng.integers(0, classes, n)
        x = rng.integers(50, vocab, (n, length))
        marks = rng.random((n, length)) < share
        own = 10 + 10 * y[:, None] + rng.integers(0, 10, (n, length))
        x = np.where(marks, own, x)
        return x.astype("int32"), y.astype("int64")

    return draw(n_train), draw(n_test)


def two_io_data(rng, n_train=None, n_test=None):
    """Two 8-feature inputs; a 3-class label and a yes/no flag computed from them."""
    import numpy as np

    n_train, n_test = _sizes(n_train, n_test)
    def draw(n):
        a = rng.standard_normal((n, 8)).astype("float32")
        b = rng.standard_normal((n, 8)).astype("float32")
        cls = np.argmax((a - b)[:, :3], axis=1).astype("int64")
        flag = ((a[:, 3] + b[:, 4]) > 0).astype("float32")[:, None]
        return {"a": a, "b": b}, {"cls": cls, "flag": flag}

    return draw(n_train), draw(n_test)


# ---------------------------------------------------------------- the architectures

def mobilenet_v2(K, size=32):
    return K.applications.MobileNetV2(input_shape=(size, size, 3), alpha=0.35, weights=None, classes=10)


def mobilenet_v3_small(K, size=32):
    return K.applications.MobileNetV3Small(input_shape=(size, size, 3), alpha=0.75, weights=None, classes=10,
                                           include_preprocessing=False)


def resnet50(K, size=32):
    return K.applications.ResNet50(input_shape=(size, size, 3), weights=None, classes=10)


def efficientnet_b0(K, size=32):
    return K.applications.EfficientNetB0(input_shape=(size, size, 3), weights=None, classes=10)


def densenet121(K, size=32):
    return K.applications.DenseNet121(input_shape=(size, size, 3), weights=None, classes=10)


def resnet_small(K, size=32):
    """A ResNet-style CNN: a stem, two residual stages with BatchNorm and Add, a small head."""
    L = K.layers
    inp = K.Input((size, size, 3), name="image")
    x = L.Conv2D(16, 3, padding="same", use_bias=False, name="stem_conv")(inp)
    x = L.BatchNormalization(name="stem_bn")(x)
    x = L.ReLU(name="stem_relu")(x)
    for stage, filters in enumerate((16, 32), start=1):
        stride = 1 if stage == 1 else 2
        y = L.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"s{stage}_conv1")(x)
        y = L.BatchNormalization(name=f"s{stage}_bn1")(y)
        y = L.ReLU(name=f"s{stage}_relu1")(y)
        y = L.Conv2D(filters, 3, padding="same", use_bias=False, name=f"s{stage}_conv2")(y)
        y = L.BatchNormalization(name=f"s{stage}_bn2")(y)
        if stride != 1 or x.shape[-1] != filters:
            x = L.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"s{stage}_short")(x)
            x = L.BatchNormalization(name=f"s{stage}_short_bn")(x)
        x = L.Add(name=f"s{stage}_add")([x, y])
        x = L.ReLU(name=f"s{stage}_out")(x)
    x = L.GlobalAveragePooling2D(name="pool")(x)
    return K.Model(inp, L.Dense(10, activation="softmax", name="predictions")(x), name="resnet_small")


def conv1d_bn(K):
    """An audio-style Conv1D classifier with BatchNorm."""
    L = K.layers
    return K.Sequential([
        K.Input((64, 1), name="signal"),
        L.Conv1D(16, 5, padding="same", name="conv1"), L.BatchNormalization(name="bn1"), L.ReLU(name="relu1"),
        L.MaxPooling1D(2, name="pool1"),
        L.Conv1D(32, 5, padding="same", name="conv2"), L.BatchNormalization(name="bn2"), L.ReLU(name="relu2"),
        L.GlobalAveragePooling1D(name="gap"),
        L.Dense(32, activation="relu", name="dense"),
        L.Dense(4, activation="softmax", name="out"),
    ], name="conv1d_bn")


def text_lstm(K):
    L = K.layers
    return K.Sequential([
        K.Input((20,), dtype="int32", name="tokens"),
        L.Embedding(100, 16, name="embed"), L.LSTM(16, name="lstm"),
        L.Dense(4, activation="softmax", name="out"),
    ], name="text_lstm")


def text_bigru(K):
    L = K.layers
    return K.Sequential([
        K.Input((20,), dtype="int32", name="tokens"),
        L.Embedding(100, 16, name="embed"), L.Bidirectional(L.GRU(8), name="bigru"),
        L.Dense(4, activation="softmax", name="out"),
    ], name="text_bigru")


def mha_encoder(K):
    """A one-block Transformer encoder over token ids."""
    L = K.layers
    inp = K.Input((20,), dtype="int32", name="tokens")
    x = L.Embedding(100, 16, name="embed")(inp)
    att = L.MultiHeadAttention(num_heads=2, key_dim=8, name="mha")(x, x)
    x = L.LayerNormalization(name="ln1")(L.Add(name="add1")([x, att]))
    ff = L.Dense(16, name="ff2")(L.Dense(32, activation="relu", name="ff1")(x))
    x = L.LayerNormalization(name="ln2")(L.Add(name="add2")([x, ff]))
    x = L.GlobalAveragePooling1D(name="gap")(x)
    return K.Model(inp, L.Dense(4, activation="softmax", name="out")(x), name="mha_encoder")


def two_io(K):
    """Two inputs, two outputs, a layer shared by both inputs and a nested Sequential."""
    L = K.layers
    a = K.Input((8,), name="a")
    b = K.Input((8,), name="b")
    shared = L.Dense(16, activation="relu", name="shared")
    trunk = K.Sequential([K.Input((32,)), L.Dense(16, activation="relu", name="trunk_dense1"),
                          L.Dense(16, activation="relu", name="trunk_dense2")], name="trunk")
    x = trunk(L.Concatenate(name="join")([shared(a), shared(b)]))
    cls = L.Dense(3, activation="softmax", name="cls")(x)
    flag = L.Dense(1, activation="sigmoid", name="flag")(x)
    return K.Model([a, b], [cls, flag], name="two_io")


def custom_layer(K):
    """A model with a user-defined layer (``zoo_custom.py``, loaded with --custom-objects)."""
    sys.path.insert(0, str(HERE))
    import zoo_custom

    zoo_custom.define(K)
    L = K.layers
    return K.Sequential([K.Input((8, 8, 3), name="image"), L.Conv2D(8, 3, padding="same", name="conv"),
                         zoo_custom.Scale(name="scale"), L.Flatten(name="flat"),
                         L.Dense(10, activation="softmax", name="out")], name="custom_layer")


def subclassed(K):
    """A subclassed ``Model`` (its class in ``zoo_custom.py``), built by calling it once."""
    sys.path.insert(0, str(HERE))
    import zoo_custom

    zoo_custom.define(K)
    model = zoo_custom.TinyNet(name="subclassed")
    model(K.ops.zeros((1, 8, 8, 3)) if hasattr(K, "ops") else __import__("tensorflow").zeros((1, 8, 8, 3)))
    return model


# kind -> (builder, data maker, loss per output)
KINDS = {
    "mobilenet_v2": (mobilenet_v2, lambda r: image_data(r, (32, 32, 3))),
    "mobilenet_v3_small": (mobilenet_v3_small, lambda r: image_data(r, (32, 32, 3))),
    "resnet50": (resnet50, lambda r: image_data(r, (32, 32, 3))),
    "efficientnet_b0": (efficientnet_b0, lambda r: image_data(r, (32, 32, 3))),
    "densenet121": (densenet121, lambda r: image_data(r, (32, 32, 3))),
    "resnet_small": (resnet_small, lambda r: image_data(r, (32, 32, 3))),
    "conv1d_bn": (conv1d_bn, signal_data),
    "text_lstm": (text_lstm, text_data),
    "text_bigru": (text_bigru, text_data),
    "mha_encoder": (mha_encoder, text_data),
    "two_io": (two_io, two_io_data),
    "custom_layer": (custom_layer, lambda r: image_data(r, (8, 8, 3))),
    "subclassed": (subclassed, lambda r: image_data(r, (8, 8, 3))),
}
# Bigger inputs for benchmarks (``--size``): the sizes the issue measured.
SIZED = {"mobilenet_v2", "mobilenet_v3_small", "resnet50", "efficientnet_b0", "densenet121", "resnet_small"}


def _compile(model, two_outputs: bool):
    if two_outputs:
        model.compile(optimizer="adam", loss={"cls": "sparse_categorical_crossentropy", "flag": "binary_crossentropy"},
                      metrics={"cls": ["accuracy"], "flag": ["accuracy"]})
    else:
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def _save_npz(path, train, test):
    import numpy as np

    arrays = {}
    for split, (x, y) in (("train", train), ("test", test)):
        for prefix, value in ((f"x_{split}", x), (f"y_{split}", y)):
            if isinstance(value, dict):
                arrays.update({f"{prefix}/{k}": v for k, v in value.items()})
            else:
                arrays[prefix] = value
    np.savez(path, **arrays)


def settle_batchnorm(K, model, x, batch_size: int = 64) -> int:
    """Set every BatchNormalization layer's moving statistics to their average over ``x``.

    A few epochs of training leave the moving averages (momentum 0.99) far from the statistics the
    final weights produce, so the saved model would evaluate near chance in inference mode and any
    fine-tune would look like a gain. Each forward pass in training mode moves the statistics by
    ``1 - momentum``; a momentum of ``i / (i + 1)`` at the i-th batch makes them the running mean.
    Weights do not change (no optimizer step).
    """
    layers = [layer for layer in _all_layers(model) if isinstance(layer, K.layers.BatchNormalization)]
    if not layers:
        return 0
    saved = [layer.momentum for layer in layers]
    n = len(next(iter(x.values())) if isinstance(x, dict) else x)
    try:
        for i, start in enumerate(range(0, n, batch_size)):
            for layer in layers:
                layer.momentum = i / (i + 1)
            batch = ({k: v[start:start + batch_size] for k, v in x.items()} if isinstance(x, dict)
                     else x[start:start + batch_size])
            model(batch, training=True)
    finally:
        for layer, momentum in zip(layers, saved):
            layer.momentum = momentum
    return len(layers)


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def make(K, flavour, out: Path, kind: str, formats, train_epochs: int, size: int | None, seed: int = 0):
    import numpy as np

    builder, data = KINDS[kind]
    rng = np.random.default_rng(seed)
    K.utils.set_random_seed(seed)
    if size and kind in SIZED:
        model = builder(K, size)
        train, test = image_data(rng, (size, size, 3))
    else:
        model = builder(K)
        train, test = data(rng)
    _compile(model, kind == "two_io")
    if train_epochs:
        model.fit(train[0], train[1], epochs=train_epochs, batch_size=32, verbose=0)
        settle_batchnorm(K, model, train[0])
    _save_npz(out / f"{kind}.npz", train, test)
    for fmt in formats:
        if fmt == "savedmodel":
            if flavour != "tf_keras":
                raise SystemExit("SavedModel files are written with tf-keras only")
            model.save(str(out / f"{kind}_savedmodel"), save_format="tf")
        else:
            model.save(str(out / f"{kind}.{fmt}"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("flavour", choices=["tf_keras", "keras3"])
    parser.add_argument("out")
    parser.add_argument("kinds", nargs="+", help="KIND or KIND:fmt,fmt")
    parser.add_argument("--train-epochs", type=int, default=0)
    parser.add_argument("--size", type=int, default=None, help="input side for the image architectures")
    parser.add_argument("--samples", default=None, help="TRAIN,TEST examples (default 256,96)")
    parser.add_argument("--noise", type=float, default=1.0, help="noise multiplier: above 1 makes the task harder")
    args = parser.parse_args(argv)
    if args.samples:
        DATA["n_train"], DATA["n_test"] = (int(v) for v in args.samples.split(","))
    DATA["noise"] = args.noise
    K = _set_flavour(args.flavour)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for item in args.kinds:
        kind, _, fmts = item.partition(":")
        make(K, args.flavour, out, kind, (fmts or "keras").split(","), args.train_epochs, args.size)


if __name__ == "__main__":
    main()

"""Write models with Keras 3 (run as a script in a subprocess, without TF_USE_LEGACY_KERAS).

Usage: python keras3_maker.py OUT_DIR KIND...  Each KIND writes KIND.keras, KIND.h5 and
KIND_io.npz (a random input and Keras 3's output for it).
"""

import os
import sys

os.environ.pop("TF_USE_LEGACY_KERAS", None)
os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402


def cnn():
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1"),
            layers.BatchNormalization(name="bn"),
            layers.MaxPooling2D(name="pool"),
            layers.Conv2D(6, 3, padding="same", activation="relu", name="conv2"),
            layers.Flatten(name="flat"),
            layers.Dense(16, activation="relu", name="dense1"),
            layers.Dropout(0.5, name="drop"),
            layers.Dense(10, activation="softmax", name="out"),
        ],
        name="k3_cnn",
    )


def branches():
    inp = keras.Input((8, 8, 1), name="img")
    x = layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    y = layers.Conv2D(4, 1)(x)
    x = layers.Add()([x, y])
    x = layers.Concatenate()([x, y])
    x = layers.GlobalAveragePooling2D()(x)
    inner = keras.Sequential([keras.Input((8,)), layers.Dense(8, activation="tanh"), layers.Dense(8)], name="inner")
    x = inner(x)
    x = layers.Dense(3, name="logits")(x)
    return keras.Model(inp, x, name="k3_branches")


def rnn():
    return keras.Sequential(
        [keras.Input((5,), dtype="int32"), layers.Embedding(20, 4), layers.LSTM(6), layers.Dense(2, activation="softmax")],
        name="k3_rnn",
    )


def wrappers():
    return keras.Sequential(
        [
            keras.Input((5, 3)),
            layers.Bidirectional(layers.LSTM(4, return_sequences=True), name="bi"),
            layers.TimeDistributed(layers.Dense(3), name="td"),
            layers.GRU(4, name="gru"),
            layers.LayerNormalization(name="ln"),
            layers.Dense(2, activation="softmax"),
        ],
        name="k3_wrappers",
    )


def two_inputs():
    a = keras.Input((4,), name="a")
    b = keras.Input((4,), name="b")
    sub_in = keras.Input((8,))
    sub = keras.Model(sub_in, layers.Dense(5, activation="relu", name="sub_dense")(sub_in), name="sub")
    shared = layers.Dense(4, name="shared")
    x = layers.Concatenate()([shared(a), shared(b)])
    x = sub(x)
    return keras.Model([a, b], layers.Dense(3, activation="softmax", name="out")(x), name="k3_two_inputs")


def lambda_model():
    return keras.Sequential(
        [keras.Input((4,)), layers.Lambda(lambda t: t * 2, name="double"), layers.Dense(2)], name="k3_lambda"
    )


def unsupported():
    return keras.Sequential(
        [keras.Input((4,)), layers.Dense(4, name="d"), layers.RMSNormalization(name="rms_norm"), layers.Dense(2)],
        name="k3_unsupported",
    )


def mobilenet_v2():
    """The benchmark's MobileNetV2 (alpha 0.35, 96x96, 10 classes, no pretrained weights)."""
    return keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10)


def resnet50():
    """The benchmark's ResNet50 (64x64, 10 classes, no pretrained weights)."""
    return keras.applications.ResNet50(input_shape=(64, 64, 3), weights=None, classes=10)


def main(out, kinds):
    rng = np.random.default_rng(0)
    for kind in kinds:
        model = globals()[kind]()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        shape = (3,) + tuple(model.inputs[0].shape[1:])
        if model.inputs[0].dtype == "int32":
            x = rng.integers(0, 20, shape).astype("int32")
        else:
            x = rng.random(shape, dtype=np.float32)
        feed = [x, x[::-1].copy()] if len(model.inputs) == 2 else x
        np.savez(os.path.join(out, f"{kind}_io.npz"), x=x, y=np.asarray(model(feed)))
        model.save(os.path.join(out, f"{kind}.keras"))
        model.save(os.path.join(out, f"{kind}.h5"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])

"""Small real models the tests train and prune: text classifiers and a two-input/two-output model.

Importable from any test (``tests/`` is on ``sys.path`` through its ``conftest.py``). Each builder
makes a fresh tf-keras model with a fixed seed; the data makers return numpy arrays.
"""

import numpy as np

from prune_studio.compat import keras

VOCAB, LENGTH, CLASSES = 40, 10, 3


def text_data(n_train=192, n_test=48, seed=0):
    """Token sequences whose class is which of three token ranges dominates them."""
    rng = np.random.default_rng(seed)

    def make(n):
        y = rng.integers(0, CLASSES, n)
        low = 1 + y * (VOCAB - 1) // CLASSES
        x = rng.integers(low[:, None], low[:, None] + (VOCAB - 1) // CLASSES, (n, LENGTH))
        noise = rng.random((n, LENGTH)) < 0.2
        x[noise] = rng.integers(1, VOCAB, int(noise.sum()))
        return x.astype(np.int64), y.astype(np.int64)

    (x_train, y_train), (x_test, y_test) = make(n_train), make(n_test)
    return x_train, y_train, x_test, y_test


def lstm_model(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.layers.Input((LENGTH,), dtype="int32"),
        keras.layers.Embedding(VOCAB, 8, name="emb"),
        keras.layers.LSTM(8, name="lstm"),
        keras.layers.Dense(CLASSES, activation="softmax", name="out"),
    ], name="lstm_classifier")


def bigru_model(seed=0):
    keras.utils.set_random_seed(seed)
    tokens = keras.Input((LENGTH,), dtype="int32", name="tokens")
    h = keras.layers.Embedding(VOCAB, 8, name="emb")(tokens)
    h = keras.layers.Bidirectional(keras.layers.GRU(6), name="bigru")(h)
    return keras.Model(tokens, keras.layers.Dense(CLASSES, activation="softmax", name="out")(h), name="bigru_classifier")


def trained(make, epochs=12):
    """A text classifier trained the ordinary way first, as users bring them."""
    model = make()
    x_train, y_train, _, _ = text_data()
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
    return model


def bag_model(seed=0):
    """Embedding + average pooling: the sparse Embedding gradient without a slow recurrent layer."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.layers.Input((LENGTH,), dtype="int32"),
        keras.layers.Embedding(VOCAB, 8, name="emb"),
        keras.layers.GlobalAveragePooling1D(),
        keras.layers.Dense(CLASSES, activation="softmax", name="out"),
    ], name="bag_classifier")


def two_by_two_data(n=480, seed=0):
    """Inputs ``left``/``right`` (8 features each, same shape on purpose) and labels ``first``
    (the largest of left's first three features) and ``second`` (the same for right). A model or
    file that mixes up the inputs or the outputs scores about 1/3 instead of near 1."""
    rng = np.random.default_rng(seed)
    left, right = rng.normal(size=(n, 8)).astype(np.float32), rng.normal(size=(n, 8)).astype(np.float32)
    return {"left": left, "right": right,
            "first": left[:, :3].argmax(1).astype(np.int64), "second": right[:, :3].argmax(1).astype(np.int64)}


def two_by_two_model(seed=0):
    """Two inputs, two outputs, one Dense layer shared by both inputs, and a nested Sequential head."""
    keras.utils.set_random_seed(seed)
    left, right = keras.Input((8,), name="left"), keras.Input((8,), name="right")
    shared = keras.layers.Dense(24, activation="relu", name="shared")
    h_left, h_right = shared(left), shared(right)
    head = keras.Sequential([keras.layers.Dense(16, activation="relu", name="head_hidden"),
                             keras.layers.Dense(3, activation="softmax", name="head_out")], name="first")
    first = head(keras.layers.Concatenate(name="join")([h_left, h_right]))
    second = keras.layers.Dense(3, activation="softmax", name="second")(h_right)
    return keras.Model({"left": left, "right": right}, {"first": first, "second": second}, name="two_by_two")


def trained_two_by_two(data, epochs=40, seed=0):
    """The two-input/two-output model, trained the ordinary way on ``data`` (compiled per output)."""
    model = two_by_two_model(seed)
    model.compile(keras.optimizers.Adam(1e-2),
                  loss={"first": "sparse_categorical_crossentropy", "second": "sparse_categorical_crossentropy"},
                  metrics={"first": ["accuracy"], "second": ["accuracy"]})
    model.fit({k: data[k] for k in ("left", "right")}, {k: data[k] for k in ("first", "second")},
              epochs=epochs, batch_size=64, verbose=0)
    return model


def two_by_two_npz(path, data, n_test=96):
    """Write ``data`` as ``x_train/<input>``, ``y_train/<output>``, ``x_test/...``, ``y_test/...``."""
    keys = {}
    for split, part in (("train", slice(n_test, None)), ("test", slice(0, n_test))):
        keys.update({f"x_{split}/{k}": data[k][part] for k in ("left", "right")})
        keys.update({f"y_{split}/{k}": data[k][part] for k in ("first", "second")})
    np.savez(path, **keys)
    return path

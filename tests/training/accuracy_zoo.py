"""Real small architectures with BatchNormalization, and synthetic data they can learn.

Used by the accuracy tests here and by ``tests/benchmarks/test_bench_accuracy.py``:
MobileNetV2 (``keras.applications``, alpha 0.35, ``weights=None``), a ResNet-style CNN with
BatchNormalization and residual adds, and a Conv1D+BN sequence classifier. Each is trained to
a baseline on data made here, whose classes differ by a fixed smooth pattern under noise, so a
model has to learn real features and a damaged model visibly loses accuracy.
"""

from __future__ import annotations

import numpy as np

from prune_studio.compat import keras, tf

CLASSES = 10


def image_data(size: int = 64, n_train: int = 1200, n_test: int = 400, noise: float = 1.0, seed: int = 0):
    """``(x_train, y_train, x_test, y_test)``: RGB images, one low-frequency template per class.

    Each image is its class's template, shifted by a few pixels, scaled by a random contrast,
    plus pixel noise; the templates are random 4x4x3 grids upsampled to ``size``.
    """
    rng = np.random.default_rng(seed)
    coarse = rng.normal(size=(CLASSES, 4, 4, 3)).astype("float32")
    templates = tf.image.resize(coarse, (size, size), method="bicubic").numpy()

    def make(n):
        y = rng.integers(0, CLASSES, n)
        shifts = rng.integers(-size // 8, size // 8 + 1, (n, 2))
        x = np.stack([np.roll(templates[c], tuple(s), axis=(0, 1)) for c, s in zip(y, shifts)])
        x *= rng.uniform(0.5, 1.5, (n, 1, 1, 1)).astype("float32")
        x += rng.normal(scale=noise, size=x.shape).astype("float32")
        return x.astype("float32"), y.astype("int64")

    return (*make(n_train), *make(n_test))


def sequence_data(length: int = 128, channels: int = 2, n_train: int = 1200, n_test: int = 400,
                  noise: float = 1.0, seed: int = 0):
    """``(x_train, y_train, x_test, y_test)``: signals made of a class's two tones, time-shifted, noisy."""
    rng = np.random.default_rng(seed)
    freqs = rng.uniform(1.0, 12.0, (CLASSES, 2, channels))
    t = np.arange(length) / length

    def make(n):
        y = rng.integers(0, CLASSES, n)
        phase = rng.uniform(0, 2 * np.pi, (n, 1, 1))
        f = freqs[y]  # (n, 2, channels)
        x = (np.sin(2 * np.pi * f[:, 0][:, None, :] * t[None, :, None] + phase)
             + 0.7 * np.sin(2 * np.pi * f[:, 1][:, None, :] * t[None, :, None] + 2 * phase))
        x += rng.normal(scale=noise, size=x.shape)
        return x.astype("float32"), y.astype("int64")

    return (*make(n_train), *make(n_test))


def mobilenet_v2(size: int = 64):
    """``keras.applications.MobileNetV2`` at width 0.35, random weights, 10 classes."""
    return keras.applications.MobileNetV2(input_shape=(size, size, 3), alpha=0.35, weights=None, classes=CLASSES)


def resnet_cnn(size: int = 32, width: int = 16, blocks: int = 3):
    """A small ResNet: conv-BN-ReLU stem, ``blocks`` residual blocks (two conv-BN, add), pool, dense."""
    inp = keras.Input((size, size, 3))
    h = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name="stem_conv")(inp)
    h = keras.layers.BatchNormalization(name="stem_bn")(h)
    h = keras.layers.ReLU(name="stem_relu")(h)
    for b in range(blocks):
        filters = width * 2 ** b
        stride = 1 if b == 0 else 2
        shortcut = h
        h = keras.layers.Conv2D(filters, 3, stride, padding="same", use_bias=False, name=f"block{b}_conv1")(h)
        h = keras.layers.BatchNormalization(name=f"block{b}_bn1")(h)
        h = keras.layers.ReLU(name=f"block{b}_relu1")(h)
        h = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"block{b}_conv2")(h)
        h = keras.layers.BatchNormalization(name=f"block{b}_bn2")(h)
        if stride != 1 or shortcut.shape[-1] != filters:
            shortcut = keras.layers.Conv2D(filters, 1, stride, use_bias=False, name=f"block{b}_proj")(shortcut)
            shortcut = keras.layers.BatchNormalization(name=f"block{b}_proj_bn")(shortcut)
        h = keras.layers.Add(name=f"block{b}_add")([h, shortcut])
        h = keras.layers.ReLU(name=f"block{b}_out")(h)
    h = keras.layers.GlobalAveragePooling2D(name="pool")(h)
    out = keras.layers.Dense(CLASSES, activation="softmax", name="head")(h)
    return keras.Model(inp, out, name="resnet_cnn")


def conv1d_bn(length: int = 128, channels: int = 2):
    """An audio-style classifier: three Conv1D-BN-ReLU-pool stages, a dense layer, a head."""
    inp = keras.Input((length, channels))
    h = inp
    for i, filters in enumerate((16, 32, 64)):
        h = keras.layers.Conv1D(filters, 5, padding="same", use_bias=False, name=f"conv{i}")(h)
        h = keras.layers.BatchNormalization(name=f"bn{i}")(h)
        h = keras.layers.ReLU(name=f"relu{i}")(h)
        h = keras.layers.MaxPooling1D(2, name=f"pool{i}")(h)
    h = keras.layers.GlobalAveragePooling1D(name="gap")(h)
    h = keras.layers.Dense(64, activation="relu", name="fc")(h)
    out = keras.layers.Dense(CLASSES, activation="softmax", name="head")(h)
    return keras.Model(inp, out, name="conv1d_bn")


#: name -> (model builder, data builder, epochs to reach the baseline)
ZOO = {
    "mobilenet_v2": (lambda: mobilenet_v2(64), lambda: image_data(64, noise=1.5), 12),
    "resnet_cnn": (lambda: resnet_cnn(32), lambda: image_data(32, noise=3.0), 10),
    "conv1d_bn": (lambda: conv1d_bn(), lambda: sequence_data(noise=1.5), 10),
}


def trained(name: str, seed: int = 0):
    """``(model, arrays)``: the architecture trained from scratch to its baseline.

    Trained with Adam 1e-3 (from-scratch settings); the BatchNormalization statistics are then
    measured precisely over the training data, as a converged model's would be, so the baseline
    is not flattered or harmed by moving averages that had too few steps to settle.
    """
    from prune_studio.training.batchnorm import reestimate_batchnorm

    build, data, epochs = ZOO[name]
    keras.utils.set_random_seed(seed)
    arrays = data()
    model = build()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(arrays[0], arrays[1], batch_size=32, epochs=epochs, verbose=0)
    reestimate_batchnorm(model, arrays[0], num_samples=len(arrays[0]))
    return model, arrays


def dataset_from(arrays, path):
    """Save ``arrays`` as an npz file and load it as the app does."""
    from prune_studio.data import DataSpec, load_data

    np.savez(path, x_train=arrays[0], y_train=arrays[1], x_test=arrays[2], y_test=arrays[3])
    return load_data(DataSpec(kind="npz", path=str(path)))

"""Train the demo model shipped as resources/samples/digits_demo.keras.

A small CNN on the 8x8 digits sample with a wide dense layer, so pruning visibly shrinks
it (about 280k weights, most of them in one Dense kernel). Deterministic seeds; about
10 s on 2 CPU cores. Run: ``python scripts/make_demo_model.py``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))

import numpy as np  # noqa: E402

from prune_studio.compat import keras, tf  # noqa: E402
from prune_studio.resources import demo_model_path, digits_path  # noqa: E402


def build() -> "keras.Model":
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input((8, 8, 1), name="image"),
            layers.Conv2D(32, 3, padding="same", activation="relu", name="conv1"),
            layers.Conv2D(64, 3, padding="same", activation="relu", name="conv2"),
            layers.MaxPooling2D(name="pool"),
            layers.Flatten(name="flatten"),
            layers.Dense(256, activation="relu", name="dense1"),
            layers.Dropout(0.2, name="dropout"),
            layers.Dense(10, activation="softmax", name="digits"),
        ],
        name="digits_cnn",
    )


def main() -> None:
    keras.utils.set_random_seed(0)
    tf.config.experimental.enable_op_determinism()
    data = np.load(digits_path())
    model = build()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(data["x_train"], data["y_train"], epochs=15, batch_size=32, verbose=0)
    loss, acc = model.evaluate(data["x_test"], data["y_test"], verbose=0)
    print(f"test accuracy {acc:.4f}, loss {loss:.4f}, params {model.count_params()}")
    if acc < 0.95:
        raise SystemExit("demo model is below 95% test accuracy")
    # A fresh, unbuilt optimizer keeps the compile settings in the file but not Adam's
    # slot variables, which would triple its size.
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.save(demo_model_path())
    print(f"wrote {demo_model_path()}")


if __name__ == "__main__":
    main()

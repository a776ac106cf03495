"""Fixtures for the export tests: the digits data set, a tiny model, a pruned demo model."""

import pytest

from prune_studio.compat import keras


@pytest.fixture(scope="session")
def tiny_model(digits_dataset):
    """A small trained dense classifier on the digits (fast to save and convert)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.layers.Input((8, 8, 1)),
        keras.layers.Flatten(),
        keras.layers.Dense(32, activation="relu", name="hidden"),
        keras.layers.Dense(10, activation="softmax", name="out"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(digits_dataset.x_train, digits_dataset.y_train, epochs=3, batch_size=64, verbose=0)
    return model


@pytest.fixture(scope="session")
def pruned_demo(demo_model_file, digits_dataset):
    """The demo model wrapped for pruning at 80% and fine-tuned for a few steps."""
    from prune_studio.pruning import ConstantSparsity, UpdatePruningStep, prune_low_magnitude

    keras.utils.set_random_seed(0)
    original = keras.models.load_model(demo_model_file)
    wrapped = prune_low_magnitude(
        keras.models.load_model(demo_model_file),
        pruning_schedule=ConstantSparsity(0.8, begin_step=0, frequency=1),
    )
    wrapped.compile(keras.optimizers.Adam(5e-4), "sparse_categorical_crossentropy", metrics=["accuracy"])
    ds = digits_dataset
    wrapped.fit(ds.x_train[:640], ds.y_train[:640], batch_size=64, epochs=2, verbose=0,
                callbacks=[UpdatePruningStep()])
    return original, wrapped


"""Tiny real models and data for fine-tune tests."""

import pytest

from prune_studio.compat import keras



@pytest.fixture
def tiny_dataset(tiny_npz):
    from prune_studio.data import DataSpec, load_data

    return load_data(DataSpec(kind="npz", path=str(tiny_npz)))


def make_mlp(seed: int = 0):
    """8x8 digits -> Flatten -> Dense(32) -> Dense(10): 2,410 weights, trains in milliseconds."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.layers.Input((8, 8, 1)),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(32, activation="relu", name="hidden"),
        keras.layers.Dense(10, activation="softmax", name="out"),
    ])


@pytest.fixture
def mlp():
    return make_mlp()


@pytest.fixture
def compile_settings():
    from prune_studio.models import CompileSettings

    return CompileSettings("sparse_categorical_crossentropy", ["accuracy"])

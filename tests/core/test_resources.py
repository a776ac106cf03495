import numpy as np

from prune_studio.resources import demo_model_path, digits_path, resource_path


def test_digits_sample_has_fixed_split(digits):
    assert digits["x_train"].shape == (1437, 8, 8, 1)
    assert digits["x_test"].shape == (360, 8, 8, 1)
    assert digits["x_train"].dtype == np.float32
    assert 0.0 <= digits["x_train"].min() and digits["x_train"].max() <= 1.0
    assert set(np.unique(digits["y_test"])) == set(range(10))


def test_demo_model_reaches_95_percent(digits):
    from prune_studio.compat import keras

    model = keras.models.load_model(demo_model_path())
    _, acc = model.evaluate(digits["x_test"], digits["y_test"], verbose=0)
    assert acc >= 0.95
    assert model.count_params() > 200_000


def test_resources_found():
    assert digits_path().is_file()
    assert resource_path("style").is_dir()
    assert resource_path("icons").is_dir()

"""check_data catches each mismatch with a clear message; apply_fix repairs the obvious ones."""

import dataclasses

import numpy as np
import pytest

from prune_studio.compat import keras
from prune_studio.data import DataError, DataSpec, apply_fix, check_data, load_data


@pytest.fixture(scope="module")
def model():
    return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])


@pytest.fixture(scope="module")
def digits_ds():
    return load_data(DataSpec("digits"))


def test_matching_data_has_no_issues(digits_ds, model):
    assert check_data(digits_ds, model) == []


def test_missing_channel_and_0_255_are_fixed(digits_ds, model):
    raw = dataclasses.replace(
        digits_ds, x_train=digits_ds.x_train[..., 0] * 255, x_test=digits_ds.x_test[..., 0] * 255, input_shape=(8, 8)
    )
    issues = check_data(raw, model)
    assert [i.fix_id for i in issues] == ["add_channel_axis", "rescale_255"]
    assert "(8, 8)" in issues[0].message and "(8, 8, 1)" in issues[0].message
    fixed = raw
    for issue in issues:
        fixed = apply_fix(fixed, issue.fix_id)
    assert check_data(fixed, model) == []
    np.testing.assert_allclose(fixed.x_train, digits_ds.x_train, atol=1e-6)
    assert model.predict(fixed.test_ds(64), verbose=0).shape == (fixed.num_test, 10)


def test_unfixable_shape_mismatch(digits_ds):
    other = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    (issue,) = check_data(digits_ds, other)
    assert issue.fix_id is None and "(28, 28, 1)" in issue.message


def test_labels_out_of_range(digits_ds):
    five = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(5)])
    (issue,) = check_data(digits_ds, five)
    assert "from 0 to 9" in issue.message and "5 output units" in issue.message and issue.fix_id is None


def test_one_hot_width_mismatch(digits_ds, model):
    onehot = dataclasses.replace(digits_ds, y_train=np.eye(3)[digits_ds.y_train % 3], y_test=np.eye(3)[digits_ds.y_test % 3])
    (issue,) = check_data(onehot, model)
    assert "one-hot with 3 classes" in issue.message


def test_empty_data(digits_ds, model):
    empty = dataclasses.replace(digits_ds, x_train=digits_ds.x_train[:0], y_train=digits_ds.y_train[:0])
    (issue,) = check_data(empty, model)
    assert "no training examples" in issue.message


def test_nan_inputs_and_labels(digits_ds, model):
    x = digits_ds.x_train.copy()
    x[3, 0, 0, 0] = np.nan
    y = digits_ds.y_test.astype(np.float32)
    y[0] = np.nan
    issues = check_data(dataclasses.replace(digits_ds, x_train=x, y_test=y), model)
    messages = " ".join(i.message for i in issues)
    assert "training inputs" in messages and "NaN" in messages and "test labels" in messages


def test_rescaling_layer_means_no_rescale_offer(digits_ds):
    scaled = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Rescaling(1 / 255), keras.layers.Flatten(), keras.layers.Dense(10)])
    raw = dataclasses.replace(digits_ds, x_train=digits_ds.x_train * 255, x_test=digits_ds.x_test * 255)
    assert check_data(raw, scaled) == []


def test_unknown_fix(digits_ds):
    with pytest.raises(DataError, match="'flip' is not valid"):
        apply_fix(digits_ds, "flip")


def test_image_folder_fix_applies_to_stream(tmp_path, model):
    from prune_studio.compat import tf

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i in range(2):
            pixels = np.full((8, 8, 1), 200, np.uint8)
            (tmp_path / name / f"{i}.png").write_bytes(tf.io.encode_png(pixels).numpy())
    ds = load_data(DataSpec("folder", str(tmp_path), {"rescale": False, "test_fraction": 0.5}), input_shape=(8, 8, 1))
    (issue,) = check_data(ds, model)
    assert issue.fix_id == "rescale_255"
    fixed = apply_fix(ds, issue.fix_id)
    x, _ = fixed.sample(2)
    assert np.allclose(x, 200 / 255) and check_data(fixed, model) == []


@pytest.mark.parametrize("dtype", ["int32", "float32"])
def test_token_ids_fed_to_an_embedding_are_not_offered_a_rescale(dtype):
    """Token ids 0-39 look like pixel values; dividing them by 255 sent every id to 0 (chance accuracy)."""
    from small_models import LENGTH, VOCAB, text_data

    from prune_studio.data.sources import _arrays_dataset

    keras.utils.set_random_seed(0)
    text = keras.Sequential([keras.Input((LENGTH,), dtype=dtype), keras.layers.Embedding(VOCAB, 4),
                             keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(3, activation="softmax")])
    x_train, y_train, x_test, y_test = text_data()
    assert x_train.max() > 1.5  # in the range the pixel check looks for
    assert check_data(_arrays_dataset("tokens", x_train, y_train, x_test, y_test), text) == []


def test_the_same_values_into_a_dense_layer_are_still_offered_a_rescale():
    from small_models import LENGTH, text_data

    from prune_studio.data.sources import _arrays_dataset

    dense = keras.Sequential([keras.Input((LENGTH,)), keras.layers.Dense(3, activation="softmax")])
    x_train, y_train, x_test, y_test = text_data()
    issues = check_data(_arrays_dataset("values", x_train, y_train, x_test, y_test), dense)
    assert [i.fix_id for i in issues] == ["rescale_255"]

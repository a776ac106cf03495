"""Data for models with several inputs and outputs: npz layouts by name, missing keys, checks, fixes."""

import numpy as np
import pytest

from prune_studio.compat import keras
from prune_studio.data import DataError, DataSpec, apply_fix, check_data, load_data


def two_by_two():
    """Inputs 'image' (8, 8, 1) and 'meta' (4,); outputs 'digit' (10 classes) and 'odd' (sigmoid)."""
    image, meta = keras.Input((8, 8, 1), name="image"), keras.Input((4,), name="meta")
    h = keras.layers.Concatenate()([keras.layers.Flatten()(image), meta])
    h = keras.layers.Dense(8, activation="relu", name="hidden")(h)
    digit = keras.layers.Dense(10, activation="softmax", name="digit")(h)
    odd = keras.layers.Dense(1, activation="sigmoid", name="odd")(h)
    return keras.Model([image, meta], [digit, odd])


@pytest.fixture(scope="module")
def model():
    return two_by_two()


def _arrays(n, seed=0):
    rng = np.random.default_rng(seed)
    digit = rng.integers(0, 10, n)
    return {"image": rng.random((n, 8, 8, 1)).astype(np.float32), "meta": rng.random((n, 4)).astype(np.float32),
            "digit": digit, "odd": digit % 2}


def _save(tmp_path, **arrays):
    path = tmp_path / "multi.npz"
    np.savez(path, **arrays)
    return path


def _full(train, test, drop=()):
    keys = {f"x_train/{k}": train[k] for k in ("image", "meta")} | {f"y_train/{k}": train[k] for k in ("digit", "odd")}
    keys |= {f"x_test/{k}": test[k] for k in ("image", "meta")} | {f"y_test/{k}": test[k] for k in ("digit", "odd")}
    return {k: v for k, v in keys.items() if k not in drop}


def test_train_test_keys_by_name(tmp_path, model):
    train, test = _arrays(40), _arrays(10, seed=1)
    dataset = load_data(DataSpec("npz", str(_save(tmp_path, **_full(train, test)))), model=model)
    assert dataset.input_names == ["image", "meta"] and dataset.output_names == ["digit", "odd"]
    assert dataset.num_train == 40 and dataset.num_test == 10
    assert dataset.input_shape == {"image": (8, 8, 1), "meta": (4,)}
    assert dataset.num_classes == {"digit": 10, "odd": 2}
    np.testing.assert_array_equal(dataset.x_test["meta"], test["meta"])
    np.testing.assert_array_equal(dataset.y_train["odd"], train["odd"])
    assert check_data(dataset, model) == []
    x, y = dataset.sample(5, "train")
    assert x["image"].shape == (5, 8, 8, 1) and y["digit"].shape == (5,)
    batch_x, batch_y = next(iter(dataset.train_ds(8)))
    assert set(batch_x) == {"image", "meta"} and set(batch_y) == {"digit", "odd"}


def test_one_array_per_name_is_split(tmp_path, model):
    arrays = _arrays(50)
    dataset = load_data(DataSpec("npz", str(_save(tmp_path, **arrays)), {"test_fraction": 0.2}), model=model)
    assert (dataset.num_train, dataset.num_test) == (40, 10)
    # the split keeps each sample's inputs and labels together
    rows = {tuple(m): d for m, d in zip(arrays["meta"].round(6), arrays["digit"])}
    assert all(rows[tuple(m)] == d for m, d in zip(dataset.x_test["meta"].round(6), dataset.y_test["digit"]))


def test_x_and_y_by_name_are_split(tmp_path, model):
    arrays = _arrays(30)
    keys = {f"x/{k}": arrays[k] for k in ("image", "meta")} | {f"y/{k}": arrays[k] for k in ("digit", "odd")}
    dataset = load_data(DataSpec("npz", str(_save(tmp_path, **keys))), model=model)
    assert dataset.num_train + dataset.num_test == 30 and dataset.output_names == ["digit", "odd"]


def test_missing_keys_are_named(tmp_path, model):
    path = _save(tmp_path, **_full(_arrays(20), _arrays(5), drop=("x_test/meta", "y_train/odd")))
    with pytest.raises(DataError) as info:
        load_data(DataSpec("npz", str(path)), model=model)
    message = str(info.value)
    assert "missing y_train/odd, x_test/meta" in message
    assert "inputs are image, meta and its outputs digit, odd" in message
    assert "x_train/image, x_train/meta" in message and "\n" not in message


def test_plain_arrays_for_a_two_input_model_are_refused_by_name(tmp_path, model):
    arrays = _arrays(20)
    path = _save(tmp_path, x_train=arrays["meta"], y_train=arrays["digit"], x_test=arrays["meta"], y_test=arrays["digit"])
    with pytest.raises(DataError, match="needs x_train/image, x_train/meta, x_test/image"):
        load_data(DataSpec("npz", str(path)), model=model)


def test_lengths_must_agree_within_a_split(tmp_path, model):
    train, test = _arrays(20), _arrays(5)
    train["meta"] = train["meta"][:19]
    with pytest.raises(DataError, match="x_train/meta has 19"):
        load_data(DataSpec("npz", str(_save(tmp_path, **_full(train, test)))), model=model)


def test_without_the_model_the_names_come_from_the_file_and_checks_name_the_gap(tmp_path, model):
    """As the window loads data: no model at hand, so the names are the file's; the check names the gap."""
    train, test = _arrays(20), _arrays(5)
    keys = _full(train, test)
    keys = {k.replace("/meta", "/metadata"): v for k, v in keys.items()}
    dataset = load_data(DataSpec("npz", str(_save(tmp_path, **keys))))
    assert dataset.input_names == ["image", "metadata"]
    issues = check_data(dataset, model)
    assert len(issues) == 1 and issues[0].fix_id is None
    assert "no inputs for meta (it has image, metadata)" in issues[0].message
    assert "x_train/image, x_train/meta" in issues[0].message


def test_checks_each_input_and_output(tmp_path, model):
    train, test = _arrays(20), _arrays(5)
    train["image"] = (train["image"] * 255).round()
    test["image"] = (test["image"] * 255).round()
    train["digit"] = train["digit"] + 5  # labels up to 14 for 10 units
    dataset = load_data(DataSpec("npz", str(_save(tmp_path, **_full(train, test)))), model=model)
    issues = check_data(dataset, model)
    messages = [i.message for i in issues]
    assert any("input 'image'" in m and "0 to 255" in m for m in messages), messages
    assert any(m.startswith("Output 'digit': the labels range from") for m in messages), messages
    assert not any("'meta'" in m for m in messages)
    fix = next(i.fix_id for i in issues if i.fix_id)
    assert fix == "rescale_255:image"
    fixed = apply_fix(dataset, fix)
    assert float(fixed.x_train["image"].max()) <= 1.0
    np.testing.assert_array_equal(fixed.x_train["meta"], dataset.x_train["meta"])
    assert not any(i.fix_id for i in check_data(fixed, model))


def test_channel_axis_fix_for_one_input(tmp_path, model):
    train, test = _arrays(20), _arrays(5)
    train["image"], test["image"] = train["image"][..., 0], test["image"][..., 0]
    dataset = load_data(DataSpec("npz", str(_save(tmp_path, **_full(train, test)))), model=model)
    issue = next(i for i in check_data(dataset, model) if i.fix_id)
    assert issue.fix_id == "add_channel_axis:image" and "input 'image' shape (8, 8)" in issue.message
    fixed = apply_fix(dataset, issue.fix_id)
    assert fixed.input_shape == {"image": (8, 8, 1), "meta": (4,)}
    assert check_data(fixed, model) == []

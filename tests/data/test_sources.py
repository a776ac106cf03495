"""Each data source loads into a Dataset with the same interface."""

import collections
import gzip
import json
import pickle

import numpy as np
import pytest

from prune_studio.compat import tf
from prune_studio.data import DataError, DataSpec, load_data


def _check_common(ds, n_classes, shape):
    assert ds.num_classes == n_classes and tuple(ds.input_shape) == shape
    x, y = ds.sample(5, "train")
    assert x.shape == (min(5, ds.num_train), *shape) and len(y) == len(x)
    xb, yb = next(iter(ds.test_ds(4)))
    assert tuple(xb.shape[1:]) == shape and len(yb) == len(xb)
    total = sum(len(b[1]) for b in ds.train_ds(16))
    assert total == ds.num_train


def test_digits_sample():
    ds = load_data(DataSpec("digits"))
    assert (ds.num_train, ds.num_test) == (1437, 360)
    _check_common(ds, 10, (8, 8, 1))


def test_npz_with_splits(tmp_path, digits):
    np.savez(tmp_path / "d.npz", **digits)
    ds = load_data(DataSpec("npz", str(tmp_path / "d.npz")))
    assert ds.num_train == 1437 and ds.name == "d.npz"


def test_npz_x_y_split_by_fraction(tmp_path):
    x = np.arange(100 * 3, dtype=np.float32).reshape(100, 3)
    np.savez(tmp_path / "xy.npz", x=x, y=np.arange(100) % 4)
    ds = load_data(DataSpec("npz", str(tmp_path / "xy.npz"), {"test_fraction": 0.25}))
    assert (ds.num_train, ds.num_test) == (75, 25)
    assert sorted(np.concatenate([ds.x_train[:, 0], ds.x_test[:, 0]])) == list(x[:, 0])
    _check_common(ds, 4, (3,))


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "bad.npz", a=np.zeros(3))
    with pytest.raises(DataError, match="bad.npz.*needs x_train"):
        load_data(DataSpec("npz", str(tmp_path / "bad.npz")))
    with pytest.raises(DataError, match="does not exist"):
        load_data(DataSpec("npz", str(tmp_path / "none.npz")))
    np.savez(tmp_path / "xy.npz", x=np.zeros((4, 2)), y=np.zeros(4))
    with pytest.raises(DataError, match="test_fraction 2"):
        load_data(DataSpec("npz", str(tmp_path / "xy.npz"), {"test_fraction": 2}))


def test_csv_label_column_by_name_or_last(tmp_path):
    rows = ["a,species,b"] + [f"{i},{['cat', 'dog', 'eel'][i % 3]},{i * 2}" for i in range(30)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    ds = load_data(DataSpec("csv", str(tmp_path / "t.csv"), {"label_column": "species"}))
    _check_common(ds, 3, (2,))
    x = np.concatenate([ds.x_train, ds.x_test])
    y = np.concatenate([ds.y_train, ds.y_test])
    assert all(y[x[:, 0] == i][0] == i % 3 for i in range(30))  # cat=0, dog=1, eel=2
    (tmp_path / "n.csv").write_text("f1,f2,label\n" + "".join(f"{i},{-i},{i % 2}\n" for i in range(10)))
    last = load_data(DataSpec("csv", str(tmp_path / "n.csv")))  # the last column by default
    assert last.num_classes == 2 and np.all(last.y_train == last.x_train[:, 0] % 2)
    with pytest.raises(DataError, match="non-numeric"):
        load_data(DataSpec("csv", str(tmp_path / "t.csv"), {"label_column": "b"}))
    with pytest.raises(DataError, match="'nope' is not in 't.csv'"):
        load_data(DataSpec("csv", str(tmp_path / "t.csv"), {"label_column": "nope"}))


def _write_images(root, classes=("ants", "bees"), per_class=3, size=(10, 12)):
    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            (root / name / f"{i}.png").write_bytes(tf.io.encode_png(pixels).numpy())


def test_image_folder_streams_resized_to_model_input(tmp_path):
    _write_images(tmp_path / "imgs")
    ds = load_data(DataSpec("folder", str(tmp_path / "imgs"), {"test_fraction": 0.34}), input_shape=(6, 6, 1))
    assert ds.x_train is None and (ds.num_train, ds.num_test) == (4, 2)
    _check_common(ds, 2, (6, 6, 1))
    x, _ = ds.sample(10, "train")
    assert 0.0 <= x.min() and x.max() <= 1.0  # rescaled to 0-1


def test_image_folder_errors(tmp_path):
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(DataError, match="no images in class sub-folders"):
        load_data(DataSpec("folder", str(tmp_path / "empty")))
    with pytest.raises(DataError, match="does not exist"):
        load_data(DataSpec("folder", str(tmp_path / "absent")))


def _idx_gz(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_keras_datasets_from_cache(tmp_path):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    lab = np.arange(6, dtype=np.uint8) % 10
    np.savez(tmp_path / "mnist.npz", x_train=img, y_train=lab, x_test=img[:2], y_test=lab[:2])
    (tmp_path / "fashion-mnist").mkdir()
    for name, arr in [("train-images-idx3-ubyte", img), ("train-labels-idx1-ubyte", lab),
                      ("t10k-images-idx3-ubyte", img[:2]), ("t10k-labels-idx1-ubyte", lab[:2])]:
        _idx_gz(tmp_path / "fashion-mnist" / f"{name}.gz", arr)
    (tmp_path / "cifar-10-batches-py").mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8), b"labels": [1, 9]}
        (tmp_path / "cifar-10-batches-py" / name).write_bytes(pickle.dumps(batch))
    for name, shape, n_train in [("mnist", (28, 28, 1), 6), ("fashion_mnist", (28, 28, 1), 6), ("cifar10", (32, 32, 3), 10)]:
        ds = load_data(DataSpec("keras", options={"name": name, "cache_dir": str(tmp_path)}))
        assert ds.input_shape == shape and ds.num_train == n_train
        assert ds.x_train.dtype == np.float32 and ds.x_train.max() <= 1.0


def test_keras_dataset_not_cached_says_it_cannot_download(tmp_path):
    with pytest.raises(DataError, match="CIFAR-10 is not in the Keras cache.*cannot be downloaded here"):
        load_data(DataSpec("keras", options={"name": "cifar10", "cache_dir": str(tmp_path)}))
    with pytest.raises(DataError, match="'imagenet' is not available"):
        load_data(DataSpec("keras", options={"name": "imagenet", "cache_dir": str(tmp_path)}))


def test_cifar_cache_refuses_pickled_code(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(pickle.dumps(collections.OrderedDict(data=1)))
    with pytest.raises(DataError, match="damaged.*not allowed"):
        load_data(DataSpec("keras", options={"name": "cifar10", "cache_dir": str(tmp_path)}))


def test_spec_round_trip_and_bad_kind():
    spec = DataSpec("csv", "t.csv", {"label_column": "y"})
    assert DataSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    with pytest.raises(DataError, match="'parquet' is not valid"):
        load_data(DataSpec("parquet"))


def test_image_folder_with_train_and_test_subfolders(tmp_path):
    _write_images(tmp_path / "set" / "train", per_class=2)
    _write_images(tmp_path / "set" / "test", per_class=1)
    ds = load_data(DataSpec("folder", str(tmp_path / "set")))  # no model: 64x64 RGB
    assert (ds.num_train, ds.num_test, ds.num_classes) == (4, 2, 2)
    _check_common(ds, 2, (64, 64, 3))

"""Read each kind of data source into a ``Dataset``.

Kinds: the built-in ``digits`` sample, ``npz`` files, ``csv`` tables, image ``folder``s with
one sub-folder per class, and ``keras`` data sets (MNIST, Fashion-MNIST, CIFAR-10) from the
local Keras cache. Nothing is downloaded: without a cached copy the error says so.

Example::

    ds = load_data(DataSpec("npz", "data.npz", {"test_fraction": 0.25}))
"""

from __future__ import annotations

import csv
import gzip
import os
import pickle
from pathlib import Path

import numpy as np

from prune_studio.data import arrays as named
from prune_studio.data.dataset import DATA_KINDS, DataError, DataSpec, Dataset, ImageFiles

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}
KERAS_SETS = {
    "mnist": "MNIST",
    "fashion_mnist": "Fashion-MNIST",
    "cifar10": "CIFAR-10",
}


def num_classes_of(y: np.ndarray) -> int:
    """Classes implied by labels: one-hot width, or largest integer label + 1, else 0."""
    y = np.asarray(y)
    if y.size == 0:
        return 0
    if y.ndim == 2 and y.shape[1] > 1:
        return int(y.shape[1])
    if np.issubdtype(y.dtype, np.floating) and not np.all(np.isfinite(y)):
        return 0
    if np.issubdtype(y.dtype, np.integer) or np.all(np.equal(np.mod(y, 1), 0)):
        return int(np.max(y)) + 1 if np.min(y) >= 0 else 0
    return 0


def _fraction(spec: DataSpec) -> float:
    value = spec.options.get("test_fraction", 0.2)
    if not isinstance(value, (int, float)) or not 0 < value < 1:
        raise DataError(f"test_fraction {value!r} is not valid; use a number between 0 and 1, e.g. 0.2.")
    return float(value)


def _split_indices(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    n_test = min(max(1, int(round(n * fraction))), max(n - 1, 0)) if n > 1 else 0
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def _float_inputs(x_train, x_test):
    x_train, x_test = np.asarray(x_train), np.asarray(x_test)
    if x_train.dtype.kind in "iub":
        x_train, x_test = x_train.astype(np.float32), x_test.astype(np.float32)
    return x_train, x_test


def _arrays_dataset(name, x_train, y_train, x_test, y_test) -> Dataset:
    """A Dataset from arrays, or from dicts of arrays by input (``x_*``) / output (``y_*``) name."""
    if named.is_named(x_train):
        pairs = {k: _float_inputs(x_train[k], x_test[k]) for k in x_train}
        x_train, x_test = {k: p[0] for k, p in pairs.items()}, {k: p[1] for k, p in pairs.items()}
    else:
        x_train, x_test = _float_inputs(x_train, x_test)
    y_train, y_test = named.apply(np.asarray, y_train), named.apply(np.asarray, y_test)

    def classes(train, test):
        return max(num_classes_of(train), num_classes_of(test)) if len(train) else 0

    if named.is_named(y_train):
        num_classes = {k: classes(y_train[k], y_test[k]) for k in y_train}
    else:
        num_classes = classes(y_train, y_test)
    return Dataset(name, x_train, y_train, x_test, y_test, num_classes, named.shapes(x_train))


def _load_digits(spec: DataSpec) -> Dataset:
    from prune_studio.resources import digits_path

    with np.load(digits_path()) as d:
        return _arrays_dataset("digits", d["x_train"], d["y_train"], d["x_test"], d["y_test"])


def _require_file(spec: DataSpec, suffixes: tuple[str, ...]) -> Path:
    if not spec.path:
        raise DataError(f"A {spec.kind} data source needs a file path; choose a {'/'.join(suffixes)} file.")
    path = Path(spec.path)
    if not path.is_file():
        raise DataError(f"Data file '{path}' does not exist; choose an existing {'/'.join(suffixes)} file.")
    return path


def _side(arrays: dict, prefix: str, names: list[str] | None) -> tuple:
    """The inputs or labels stored under ``prefix`` (``"x_train"``): ``(value or None, missing keys)``.

    ``prefix`` holds one plain array, or one array per name as ``prefix/<name>`` keys. With
    several ``names`` (the model's inputs or outputs) every ``prefix/<name>`` must be there.
    """
    found = {k[len(prefix) + 1:]: v for k, v in arrays.items() if k.startswith(prefix + "/")}
    if names and len(names) > 1:
        missing = [f"{prefix}/{n}" for n in names if n not in found]
        return (None if missing else {n: found[n] for n in names}), missing
    if prefix in arrays:
        return arrays[prefix], []
    if names:
        return (found[names[0]], []) if names[0] in found else (None, [f"{prefix}/{names[0]}"])
    if found:
        return (found if len(found) > 1 else next(iter(found.values()))), []
    return None, [prefix]


def _by_name(arrays: dict, names: list[str]) -> tuple:
    """One array per model input/output name, stored under the plain name: ``(value, missing)``."""
    if len(names) == 1 and names[0] not in arrays:
        return None, list(names)
    if len(names) == 1:
        return arrays[names[0]], []
    missing = [n for n in names if n not in arrays]
    return (None if missing else {n: arrays[n] for n in names}), missing


def _check_lengths(file: str, parts: dict[str, object]) -> None:
    """Every array of a split (``x_train``/``y_train``..., or ``x``/``y``) holds as many samples."""
    groups: dict[str, dict[str, int]] = {}
    for key, value in parts.items():
        group = key.partition("_")[2] or "all"
        for name, array in named.items(value):
            groups.setdefault(group, {})[f"{key}/{name}" if name else key] = len(array)
    for sizes in groups.values():
        if len(set(sizes.values())) > 1:
            detail = ", ".join(f"{k} has {n}" for k, n in sizes.items())
            raise DataError(f"Data file '{file}' has arrays of different lengths ({detail}); "
                            "every input and label array of a split must hold the same samples.")


def _needed_count(inputs: list[str] | None, outputs: list[str] | None) -> int:
    """How many arrays the train/test layout needs for these inputs and outputs."""
    return 2 * (len(inputs or [None]) + len(outputs or [None]))


def _expected_keys(inputs: list[str] | None, outputs: list[str] | None) -> str:
    multi = (inputs and len(inputs) > 1) or (outputs and len(outputs) > 1)
    if not multi:
        return "it needs x_train, y_train, x_test and y_test, or x and y."

    def keys(prefix, names):
        return [f"{prefix}/{n}" for n in names] if len(names) > 1 else [prefix]

    full = [k for p in ("x_train", "x_test") for k in keys(p, inputs or ["x"])]
    full += [k for p in ("y_train", "y_test") for k in keys(p, outputs or ["y"])]
    return (
        f"the model's inputs are {', '.join(inputs or ['(one)'])} and its outputs {', '.join(outputs or ['(one)'])}, "
        f"so it needs {', '.join(full)} (or the same under x/ and y/, split by test_fraction, or one "
        "array named after each input and output)."
    )


def _load_npz(spec: DataSpec, inputs: list[str] | None = None, outputs: list[str] | None = None) -> Dataset:
    path = _require_file(spec, (".npz",))
    try:
        with np.load(path, allow_pickle=False) as d:
            arrays = {k: d[k] for k in d.files}
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"Data file '{path.name}' is not a readable .npz file ({exc}).") from None
    multi = bool(inputs and outputs and (len(inputs) > 1 or len(outputs) > 1))
    layouts = [
        ("full", {p: _side(arrays, p, inputs if p[0] == "x" else outputs) for p in ("x_train", "y_train", "x_test", "y_test")}),
        ("split", {p: _side(arrays, p, inputs if p == "x" else outputs) for p in ("x", "y")}),
    ]
    if multi:
        layouts.append(("names", {"x": _by_name(arrays, inputs), "y": _by_name(arrays, outputs)}))
    for kind, parts in layouts:
        if any(missing for _, missing in parts.values()):
            continue
        values = {k: v for k, (v, _) in parts.items()}
        if kind == "full":
            _check_lengths(path.name, values)
            return _arrays_dataset(path.name, *(values[k] for k in ("x_train", "y_train", "x_test", "y_test")))
        x, y = values["x"], values["y"]
        if not multi and named.count(x) != named.count(y):
            raise DataError(f"Data file '{path.name}' has {named.count(x)} inputs in 'x' but {named.count(y)} "
                            "labels in 'y'; they must match.")
        _check_lengths(path.name, values)
        train, test = _split_indices(named.count(x), _fraction(spec), int(spec.options.get("seed", 0)))
        return _arrays_dataset(path.name, named.take(x, train), named.take(y, train),
                               named.take(x, test), named.take(y, test))
    # name what is missing from the layout the file comes closest to
    def used(kind: str, parts: dict) -> bool:
        """Whether the file holds anything under this layout's keys."""
        if kind == "names":
            return any(n in arrays for n in (inputs or []) + (outputs or []))
        return any(k == p or k.startswith(p + "/") for k in arrays for p in parts)

    gaps = [[k for _, missing in parts.values() for k in missing] for kind, parts in layouts if used(kind, parts)]
    closest = min(gaps, key=len) if gaps else []
    lacks = f" (missing {', '.join(closest)})" if multi and gaps and len(closest) < _needed_count(inputs, outputs) else ""
    raise DataError(f"Data file '{path.name}' has arrays {sorted(arrays)}{lacks}; {_expected_keys(inputs, outputs)}")


def _load_csv(spec: DataSpec) -> Dataset:
    path = _require_file(spec, (".csv",))
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [row for row in csv.reader(f, delimiter=spec.options.get("delimiter", ",")) if row]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"Data file '{path.name}' is not a readable CSV file ({exc}).") from None
    if len(rows) < 2:
        raise DataError(f"Data file '{path.name}' needs a header row and at least one data row.")
    header, body = [h.strip() for h in rows[0]], rows[1:]
    label = spec.options.get("label_column") or header[-1]
    if label not in header:
        raise DataError(f"Label column {label!r} is not in '{path.name}'; its columns are {header}.")
    col = header.index(label)
    if any(len(r) != len(header) for r in body):
        bad = next(i for i, r in enumerate(body, start=2) if len(r) != len(header))
        raise DataError(f"Data file '{path.name}' row {bad} does not have {len(header)} columns like its header.")
    features = [[v for j, v in enumerate(r) if j != col] for r in body]
    try:
        x = np.array(features, dtype=np.float32)
    except ValueError:
        raise DataError(
            f"Data file '{path.name}' has non-numeric values in its feature columns; "
            f"only the label column {label!r} may hold text."
        ) from None
    raw = [r[col].strip() for r in body]
    try:
        y = np.array(raw, dtype=np.float64)
        if np.all(np.mod(y, 1) == 0):
            y = y.astype(np.int64)
    except ValueError:  # text labels: number the classes in sorted order
        names = sorted(set(raw))
        y = np.array([names.index(v) for v in raw], dtype=np.int64)
    train, test = _split_indices(len(x), _fraction(spec), int(spec.options.get("seed", 0)))
    return _arrays_dataset(path.name, x[train], y[train], x[test], y[test])


def _class_files(root: Path) -> tuple[list[str], np.ndarray, list[str]]:
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    files, labels = [], []
    for index, name in enumerate(classes):
        for f in sorted((root / name).rglob("*")):
            if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file():
                files.append(str(f))
                labels.append(index)
    return files, np.array(labels, dtype=np.int64), classes


def _load_folder(spec: DataSpec, input_shape) -> Dataset:
    if not spec.path or not Path(spec.path).is_dir():
        raise DataError(f"Image folder '{spec.path}' does not exist; choose a folder with one sub-folder per class.")
    root = Path(spec.path)
    if (root / "train").is_dir() and (root / "test").is_dir():
        train_files, train_labels, classes = _class_files(root / "train")
        test_files, test_labels, _ = _class_files(root / "test")
    else:
        files, labels, classes = _class_files(root)
        train, test = _split_indices(len(files), _fraction(spec), int(spec.options.get("seed", 0)))
        train_files, train_labels = [files[i] for i in train], labels[train]
        test_files, test_labels = [files[i] for i in test], labels[test]
    if not classes or not train_files:
        raise DataError(
            f"Image folder '{root.name}' has no images in class sub-folders; put each class's "
            f"images ({', '.join(sorted(IMAGE_SUFFIXES))}) in a sub-folder named after it."
        )
    if input_shape is not None and len(input_shape) == 3 and all(input_shape):
        height, width, channels = (int(d) for d in input_shape)
    else:
        height, width = spec.options.get("image_size", (64, 64))
        channels = int(spec.options.get("channels", 3))
    images = ImageFiles(train_files, train_labels, test_files, test_labels, (height, width), channels)
    fixes = ("rescale_255",) if spec.options.get("rescale", True) else ()
    return Dataset(root.name, None, None, None, None, len(classes), (height, width, channels), images, fixes)


def _keras_cache(spec: DataSpec) -> Path:
    if spec.options.get("cache_dir"):
        return Path(spec.options["cache_dir"])
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles CIFAR batches (dicts of numpy arrays) and refuses any other class."""

    def find_class(self, module, name):
        if module.split(".")[0] == "numpy":
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"class {module}.{name} is not allowed in a data set file")


def _idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, "rb") as f:
        d = _NumpyOnlyUnpickler(f, encoding="bytes").load()
    x = np.asarray(d[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return x, np.asarray(d[b"labels"], np.int64)


def _load_keras(spec: DataSpec) -> Dataset:
    name = spec.options.get("name", "mnist")
    if name not in KERAS_SETS:
        raise DataError(f"Keras data set {name!r} is not available; choose one of {sorted(KERAS_SETS)}.")
    cache = _keras_cache(spec)
    try:
        if name == "mnist":
            with np.load(cache / "mnist.npz", allow_pickle=False) as d:
                parts = [d["x_train"], d["y_train"], d["x_test"], d["y_test"]]
        elif name == "fashion_mnist":
            folder = cache / "fashion-mnist"
            parts = [
                _idx(folder / f)
                for f in (
                    "train-images-idx3-ubyte.gz",
                    "train-labels-idx1-ubyte.gz",
                    "t10k-images-idx3-ubyte.gz",
                    "t10k-labels-idx1-ubyte.gz",
                )
            ]
        else:
            folder = cache / "cifar-10-batches-py"
            batches = [_cifar_batch(folder / f"data_batch_{i}") for i in range(1, 6)]
            x_test, y_test = _cifar_batch(folder / "test_batch")
            parts = [np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches]), x_test, y_test]
    except FileNotFoundError:
        raise DataError(
            f"{KERAS_SETS[name]} is not in the Keras cache ({cache}) and cannot be downloaded here; "
            "download it on a connected machine with keras.datasets and copy the cache folder."
        ) from None
    except (OSError, ValueError, KeyError, pickle.UnpicklingError, EOFError) as exc:
        raise DataError(f"The cached {KERAS_SETS[name]} files in {cache} are damaged ({exc}).") from None
    x_train, y_train, x_test, y_test = parts
    if x_train.ndim == 3:  # grayscale: add the channel axis the models expect
        x_train, x_test = x_train[..., None], x_test[..., None]
    return _arrays_dataset(
        KERAS_SETS[name],
        x_train.astype(np.float32) / 255.0,
        y_train.reshape(-1).astype(np.int64),
        x_test.astype(np.float32) / 255.0,
        y_test.reshape(-1).astype(np.int64),
    )


def model_io(model) -> tuple[list[str], list[str], tuple | None]:
    """``(input names, output names, input shape)`` of a Keras model (shape: single input only)."""
    inputs = [str(n) for n in (getattr(model, "input_names", None) or [])]
    outputs = [str(n) for n in (getattr(model, "output_names", None) or [])]
    shape = None
    if len(getattr(model, "inputs", None) or []) == 1:
        shape = tuple(None if d is None else int(d) for d in model.inputs[0].shape[1:])
    return inputs, outputs, shape


def load_data(spec: DataSpec, input_shape=None, model=None, names=None) -> Dataset:
    """Read a data source.

    Args:
        spec: What to read.
        input_shape: The model's input shape without the batch axis (``(28, 28, 1)``);
            image folders are resized and decoded to it.
        model: The model the data is for (optional). An ``.npz`` file for a model with several
            inputs or outputs is read by the model's input and output names
            (``x_train/<input name>``, ``y_train/<output name>``...), and the error names the
            keys it lacks; its single input's shape is used when ``input_shape`` is None.
        names: ``(input names, output names)`` to read by when there is no Keras model (a
            TFLite file's signature).

    Returns:
        A Dataset.

    Raises:
        DataError: The source is missing, unreadable, or not in a known layout.
    """
    if spec.kind not in DATA_KINDS:
        raise DataError(f"Data kind {spec.kind!r} is not valid; use one of {', '.join(DATA_KINDS)}.")
    if spec.kind == "digits":
        return _load_digits(spec)
    inputs, outputs = (list(names[0]), list(names[1])) if names else (None, None)
    if model is not None:
        inputs, outputs, shape = model_io(model)
        input_shape = input_shape if input_shape is not None else shape
    if spec.kind == "npz":
        return _load_npz(spec, inputs, outputs)
    if spec.kind == "csv":
        return _load_csv(spec)
    if spec.kind == "folder":
        return _load_folder(spec, input_shape)
    return _load_keras(spec)

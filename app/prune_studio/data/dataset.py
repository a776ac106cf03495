"""The data set every part of the app trains and evaluates on, whatever its source.

In-memory sources (digits, npz, CSV, keras.datasets) hold numpy arrays; image folders hold
file lists and stream through ``tf.data``. Both offer the same ``train_ds`` / ``test_ds`` /
``sample`` so training, scanning and export need not care which it is. Fixes offered by
``check_data`` (add a channel axis, rescale 0-255 to 0-1) are applied eagerly to arrays and
as ``tf.data`` maps to streamed data.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from prune_studio.data import arrays
from prune_studio.errors import PruneStudioError

DATA_KINDS = ("digits", "npz", "folder", "csv", "keras")


class DataError(PruneStudioError):
    """A data source cannot be read or does not fit the model; the message says why."""


@dataclass
class DataSpec:
    """Where the data comes from.

    Attributes:
        kind: One of ``digits``, ``npz``, ``folder``, ``csv``, ``keras``.
        path: The file or folder (not used by ``digits`` and ``keras``).
        options: Source-specific settings, e.g. ``{"test_fraction": 0.2}`` (npz ``x``/``y``,
            CSV, folders), ``{"label_column": "species"}`` (CSV), ``{"name": "mnist",
            "cache_dir": ...}`` (keras), ``{"seed": 0}``.
    """

    kind: str
    path: str | None = None
    options: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "path": self.path, "options": dict(self.options)}

    @classmethod
    def from_dict(cls, d: dict) -> "DataSpec":
        return cls(kind=d["kind"], path=d.get("path"), options=dict(d.get("options") or {}))


def split_fix(fix_id: str) -> tuple[str, str | None]:
    """``"rescale_255:image"`` -> ``("rescale_255", "image")``: a fix for one named input only."""
    fix, _, name = fix_id.partition(":")
    return fix, name or None


def transform_batch(x, fix_id: str):
    """Apply one fix to a batch (numpy array or tensor) of inputs."""
    if fix_id == "add_channel_axis":
        return x[..., None]
    if fix_id == "rescale_255":
        return x / 255.0
    raise ValueError(f"unknown fix {fix_id!r}")


@dataclass
class ImageFiles:
    """Image files of a folder data set, decoded and resized on the fly."""

    train_files: list[str]
    train_labels: np.ndarray
    test_files: list[str]
    test_labels: np.ndarray
    image_size: tuple[int, int]
    channels: int

    def stream(self, split: str, batch: int, shuffle: bool, fixes: tuple[str, ...]):
        from prune_studio.compat import tf

        files = self.train_files if split == "train" else self.test_files
        labels = self.train_labels if split == "train" else self.test_labels
        size, channels = self.image_size, self.channels

        def decode(path, label):
            image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
            image = tf.image.resize(image, size)  # float32, values still 0-255
            for fix in fixes:
                image = transform_batch(image, fix)
            return image, label

        ds = tf.data.Dataset.from_tensor_slices((files, labels))
        if shuffle:
            ds = ds.shuffle(len(files), seed=0, reshuffle_each_iteration=True)
        return ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE).batch(batch).prefetch(2)


@dataclass
class Dataset:
    """Train and test splits plus what the rest of the app needs to know about them.

    Attributes:
        name: A short label for the UI, e.g. ``"digits"`` or ``"flowers/"``.
        x_train, y_train, x_test, y_test: Numpy arrays; None for streamed image folders. For a
            model with several inputs (outputs) ``x_*`` (``y_*``) is a dict of arrays by the
            model's input (output) names.
        num_classes: Number of classes (0 for regression targets); a dict by output name when
            the labels are.
        input_shape: Shape of one input sample, without the batch axis; a dict by input name
            when the inputs are.
        images: The file lists when the data streams from an image folder.
        fixes: Fix ids applied so far (``apply_fix``), in order.
    """

    name: str
    x_train: np.ndarray | None
    y_train: np.ndarray | None
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    num_classes: int | dict
    input_shape: tuple | dict
    images: ImageFiles | None = None
    fixes: tuple[str, ...] = ()

    @property
    def num_train(self) -> int:
        return len(self.images.train_files) if self.images else arrays.count(self.x_train)

    @property
    def num_test(self) -> int:
        return len(self.images.test_files) if self.images else arrays.count(self.x_test)

    @property
    def input_names(self) -> list[str]:
        """The input names the arrays are keyed by; empty for plain arrays."""
        return list(self.x_train) if arrays.is_named(self.x_train) else []

    @property
    def output_names(self) -> list[str]:
        """The output names the labels are keyed by; empty for plain arrays."""
        return list(self.y_train) if arrays.is_named(self.y_train) else []

    def _ds(self, split: str, batch: int, shuffle: bool):
        if self.images is not None:
            return self.images.stream(split, batch, shuffle, self.fixes)
        from prune_studio.compat import tf

        x, y = (self.x_train, self.y_train) if split == "train" else (self.x_test, self.y_test)
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        if shuffle:
            ds = ds.shuffle(arrays.count(x), seed=0, reshuffle_each_iteration=True)
        return ds.batch(batch).prefetch(2)

    def train_ds(self, batch: int = 32, shuffle: bool = True):
        """The training split as a batched ``tf.data.Dataset`` of ``(x, y)``."""
        return self._ds("train", batch, shuffle)

    def test_ds(self, batch: int = 32):
        """The test split as a batched ``tf.data.Dataset`` of ``(x, y)``, in order."""
        return self._ds("test", batch, False)

    def sample(self, n: int, split: str = "test") -> tuple:
        """Up to ``n`` examples of a split as numpy arrays (dicts of them for named inputs/outputs)."""
        if split not in ("train", "test"):
            raise DataError(f"split {split!r} is not valid; use 'train' or 'test'.")
        if self.images is None:
            x, y = (self.x_train, self.y_train) if split == "train" else (self.x_test, self.y_test)
            return arrays.take(x, n), arrays.take(y, n)
        xs, ys = [], []
        for xb, yb in self._ds(split, min(max(n, 1), 64), False):
            xs.append(xb.numpy())
            ys.append(yb.numpy())
            if sum(len(b) for b in xs) >= n:
                break
        if not xs:
            return np.zeros((0, *self.input_shape), np.float32), np.zeros((0,), np.int64)
        return np.concatenate(xs)[:n], np.concatenate(ys)[:n]

    def with_fix(self, fix_id: str) -> "Dataset":
        """A copy with one more fix applied (eagerly for arrays, lazily for streams).

        ``fix_id`` may name one input (``"rescale_255:image"``); then only that input changes.
        """
        fixes = self.fixes + (fix_id,)
        fix, only = split_fix(fix_id)

        def fixed(array):
            return transform_batch(np.asarray(array, np.float32), fix).astype(np.float32)

        if self.images is not None:
            shape = tuple(transform_batch(np.zeros((1, *self.input_shape), np.float32), fix).shape[1:])
            return replace(self, fixes=fixes, input_shape=shape)
        new = {}
        for key in ("x_train", "x_test"):
            x = getattr(self, key)
            if arrays.is_named(x):
                new[key] = {name: fixed(a) if only in (None, name) else a for name, a in x.items()}
            else:
                new[key] = fixed(x)
        return replace(self, fixes=fixes, input_shape=arrays.shapes(new["x_train"]), **new)

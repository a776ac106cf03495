"""Check that a data set fits a model before any training starts, and offer obvious fixes.

Each problem is one sentence a non-programmer can act on. Where the fix is clear (images
without a channel axis, pixel values 0-255 where the model expects 0-1) the issue carries a
``fix_id`` that ``apply_fix`` applies.

Example::

    for issue in check_data(dataset, model):
        if issue.fix_id:
            dataset = apply_fix(dataset, issue.fix_id)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prune_studio.data.dataset import DataError, Dataset

FIXES = {
    "add_channel_axis": "Add a channel axis to the images",
    "rescale_255": "Rescale pixel values from 0-255 to 0-1",
}
_SAMPLE = 512
_SCALING_LAYERS = {"Rescaling", "Normalization"}


@dataclass
class DataIssue:
    """One problem found by ``check_data``; ``fix_id`` names a fix when one is obvious."""

    message: str
    fix_id: str | None = None

    def to_dict(self) -> dict:
        return {"message": self.message, "fix_id": self.fix_id}

    @classmethod
    def from_dict(cls, d: dict) -> "DataIssue":
        return cls(d["message"], d.get("fix_id"))


def _model_input_shape(model) -> tuple:
    shape = model.inputs[0].shape
    return tuple(None if d is None else int(d) for d in shape[1:])


def _shapes_match(data_shape: tuple, model_shape: tuple) -> bool:
    return len(data_shape) == len(model_shape) and all(
        m is None or d == m for d, m in zip(data_shape, model_shape)
    )


def _output_units(model) -> int:
    last = model.outputs[0].shape[-1]
    return int(last) if last is not None else 0


def _has_scaling_layer(model) -> bool:
    from prune_studio.compat import keras

    def walk(m):
        for layer in m.layers:
            if type(layer).__name__ in _SCALING_LAYERS:
                return True
            if isinstance(layer, keras.Model) and walk(layer):
                return True
        return False

    return walk(model)


def _shape_issue(dataset: Dataset, model) -> DataIssue | None:
    want = _model_input_shape(model)
    have = tuple(dataset.input_shape)
    if _shapes_match(have, want):
        return None
    text = f"The data's input shape {have} does not match the model's input shape {want}"
    if _shapes_match(have + (1,), want):
        return DataIssue(text + "; adding a channel axis would fix it.", "add_channel_axis")
    return DataIssue(text + "; choose data made for this model.")


def _label_issue(y: np.ndarray, units: int) -> DataIssue | None:
    if y.size == 0 or units == 0:
        return None
    if y.ndim == 2 and y.shape[1] > 1:
        if y.shape[1] != units:
            return DataIssue(
                f"The labels are one-hot with {y.shape[1]} classes but the model has {units} "
                "output units; choose data with as many classes as the model's outputs."
            )
        return None
    if units == 1:
        return None  # regression or binary: any numeric label can be valid
    if not np.all(np.mod(y, 1) == 0):
        return DataIssue(
            f"The labels are not whole numbers but the model classifies into {units} classes; "
            f"labels must be class numbers from 0 to {units - 1}."
        )
    low, high = int(np.min(y)), int(np.max(y))
    if low < 0 or high >= units:
        return DataIssue(
            f"The labels range from {low} to {high} but the model has {units} output units, "
            f"so labels must be from 0 to {units - 1}; choose data with {units} classes or fewer."
        )
    return None


def check_data(dataset: Dataset, model) -> list[DataIssue]:
    """Find what would stop ``dataset`` from training ``model``.

    Checks: empty splits, NaN or infinite values, input shape against the model's input
    (offering a channel axis), pixel values 0-255 where the model has no scaling layer
    (offering a rescale to 0-1), and label range against the output units.

    Returns:
        The issues found, empty when the data fits.
    """
    issues: list[DataIssue] = []
    if dataset.num_train == 0 or dataset.num_test == 0:
        split = "training" if dataset.num_train == 0 else "test"
        return [DataIssue(f"Data set '{dataset.name}' has no {split} examples; choose a data set with examples.")]
    shape_issue = _shape_issue(dataset, model)
    if shape_issue:
        issues.append(shape_issue)
    x_train, y_train = dataset.sample(_SAMPLE, "train")
    x_test, y_test = dataset.sample(_SAMPLE, "test")
    for split, x, y in (("training", x_train, y_train), ("test", x_test, y_test)):
        x = np.asarray(x)
        if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
            issues.append(DataIssue(f"The {split} inputs of '{dataset.name}' contain NaN or infinite values; clean the data first."))
        if np.asarray(y).dtype.kind == "f" and not np.all(np.isfinite(y)):
            issues.append(DataIssue(f"The {split} labels of '{dataset.name}' contain NaN or infinite values; clean the data first."))
    finite = x_train[np.isfinite(x_train)] if x_train.dtype.kind == "f" else x_train
    if (
        finite.size
        and not _has_scaling_layer(model)
        and float(np.max(finite)) > 1.5
        and float(np.min(finite)) >= 0
        and float(np.max(finite)) <= 255
        and "rescale_255" not in dataset.fixes
    ):
        issues.append(
            DataIssue(
                f"The inputs of '{dataset.name}' range from 0 to {float(np.max(finite)):g}, like "
                "pixel values, but the model has no rescaling layer; rescaling to 0-1 is usually right.",
                "rescale_255",
            )
        )
    units = _output_units(model)
    if dataset.images is None:
        labels = (dataset.y_train, dataset.y_test)
    else:
        labels = (dataset.images.train_labels, dataset.images.test_labels)
    for y in map(np.asarray, labels):
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            continue  # already reported as NaN
        issue = _label_issue(y, units)
        if issue:
            issues.append(issue)
            break
    return issues


def apply_fix(dataset: Dataset, fix_id: str) -> Dataset:
    """A copy of ``dataset`` with the fix ``fix_id`` (from a DataIssue) applied.

    Raises:
        DataError: ``fix_id`` is not one of ``FIXES``.
    """
    if fix_id not in FIXES:
        raise DataError(f"Fix {fix_id!r} is not valid; use one of {', '.join(FIXES)}.")
    return dataset.with_fix(fix_id)

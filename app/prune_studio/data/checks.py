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

from prune_studio.data.dataset import DataError, Dataset, split_fix

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


def _model_inputs(model) -> dict[str, tuple]:
    """``{input name: shape without the batch axis}`` in the model's order."""
    names = list(getattr(model, "input_names", None) or [f"input_{i}" for i in range(len(model.inputs))])
    return {name: tuple(None if d is None else int(d) for d in t.shape[1:]) for name, t in zip(names, model.inputs)}


def _model_outputs(model) -> dict[str, int]:
    """``{output name: units of its last axis}`` (0 when unknown)."""
    names = list(getattr(model, "output_names", None) or [f"output_{i}" for i in range(len(model.outputs))])
    return {name: int(t.shape[-1]) if t.shape.rank and t.shape[-1] is not None else 0
            for name, t in zip(names, model.outputs)}


def _index_inputs(model) -> set[str]:
    """Names of the inputs the model reads as indices (:func:`~prune_studio.models.index_inputs.index_inputs`)."""
    from prune_studio.models.index_inputs import index_inputs

    return {name for name, index in zip(_model_inputs(model), index_inputs(model)) if index}


def _shapes_match(data_shape: tuple, model_shape: tuple) -> bool:
    return len(data_shape) == len(model_shape) and all(
        m is None or d == m for d, m in zip(data_shape, model_shape)
    )


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


def _shape_issue(have: tuple, want: tuple, name: str | None = None) -> DataIssue | None:
    if _shapes_match(have, want):
        return None
    what = f"input '{name}'" if name else "input"
    text = f"The data's {what} shape {have} does not match the model's {what} shape {want}"
    if _shapes_match(have + (1,), want):
        return DataIssue(text + "; adding a channel axis would fix it.", _fix("add_channel_axis", name))
    return DataIssue(text + "; choose data made for this model.")


def _fix(fix_id: str, name: str | None) -> str:
    return f"{fix_id}:{name}" if name else fix_id


def _keyed(value, names: list[str], side: str, split: str) -> tuple[dict | None, str]:
    """``value`` (array or dict) as ``{model name: array}``, or ``(None, what is missing)``."""
    if isinstance(value, dict):
        if len(names) == 1 and len(value) == 1:
            return {names[0]: next(iter(value.values()))}, ""
        missing = [n for n in names if n not in value]
        if missing:
            given = ", ".join(sorted(value)) or "none"
            return None, (f"The data has no {side} for {', '.join(missing)} (it has {given}); the model's "
                          f"{side} are {', '.join(names)}, so give {', '.join(f'{split}/{n}' for n in names)} arrays "
                          "(an .npz file keyed by those names).")
        return {n: value[n] for n in names}, ""
    if len(names) > 1:
        return None, (f"The data has one {side[:-1]} array but the model has {len(names)} {side} "
                      f"({', '.join(names)}); give {', '.join(f'{split}/{n}' for n in names)} arrays "
                      "(an .npz file keyed by those names).")
    return {names[0]: value}, ""


def _label_issue(y: np.ndarray, units: int, output: str | None = None) -> DataIssue | None:
    issue = _label_problem(y, units)
    if issue and output:
        issue.message = f"Output '{output}': {issue.message[0].lower()}{issue.message[1:]}"
    return issue


def _label_problem(y: np.ndarray, units: int) -> DataIssue | None:
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

    Checks: empty splits, one array per model input and output (by name, when the model has
    several), NaN or infinite values, each input's shape against the model's (offering a
    channel axis), pixel values 0-255 where the model has no scaling layer (offering a rescale
    to 0-1), and each output's label range against its units. Fixes for one named input of a
    model with several carry that name (``"rescale_255:image"``).

    Returns:
        The issues found, empty when the data fits.
    """
    if dataset.num_train == 0 or dataset.num_test == 0:
        split = "training" if dataset.num_train == 0 else "test"
        return [DataIssue(f"Data set '{dataset.name}' has no {split} examples; choose a data set with examples.")]
    inputs, outputs = _model_inputs(model), _model_outputs(model)
    several = len(inputs) > 1
    x_train, y_train = dataset.sample(_SAMPLE, "train")
    x_test, y_test = dataset.sample(_SAMPLE, "test")
    xs, problem = _keyed(x_train, list(inputs), "inputs", "x_train")
    if problem:
        return [DataIssue(problem)]
    if dataset.images is None:
        labels = (dataset.y_train, dataset.y_test)
    else:
        labels = (dataset.images.train_labels, dataset.images.test_labels)
    ys, problem = _keyed(labels[0], list(outputs), "outputs", "y_train")
    if problem:
        return [DataIssue(problem)]
    x_tests, _ = _keyed(x_test, list(inputs), "inputs", "x_test")
    y_tests, problem = _keyed(labels[1], list(outputs), "outputs", "y_test")
    if problem or x_tests is None:
        return [DataIssue(problem or "The test inputs are not keyed like the training inputs; give the same names for both.")]
    issues: list[DataIssue] = []
    for name, want in inputs.items():
        shape_issue = _shape_issue(tuple(np.shape(xs[name])[1:]), want, name if several else None)
        if shape_issue:
            issues.append(shape_issue)
    scaled = _has_scaling_layer(model)
    indices = _index_inputs(model)
    for name in inputs:
        what = f"input '{name}'" if several else "inputs"
        for split, x in (("training", xs[name]), ("test", x_tests[name])):
            x = np.asarray(x)
            if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
                issues.append(DataIssue(f"The {split} {what} of '{dataset.name}' contain NaN or infinite values; clean the data first."))
        x = np.asarray(xs[name])
        finite = x[np.isfinite(x)] if x.dtype.kind == "f" else x
        fix = _fix("rescale_255", name if several else None)
        if (
            finite.size
            and not scaled
            and name not in indices
            and float(np.max(finite)) > 1.5
            and float(np.min(finite)) >= 0
            and float(np.max(finite)) <= 255
            and fix not in dataset.fixes
            and "rescale_255" not in dataset.fixes
        ):
            issues.append(
                DataIssue(
                    f"The {what} of '{dataset.name}' range from 0 to {float(np.max(finite)):g}, like "
                    "pixel values, but the model has no rescaling layer; rescaling to 0-1 is usually right.",
                    fix,
                )
            )
    for name, units in outputs.items():
        for split, y in (("training", ys[name]), ("test", y_tests[name])):
            y = np.asarray(y)
            if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
                what = f"labels of output '{name}'" if len(outputs) > 1 else "labels"
                issues.append(DataIssue(f"The {split} {what} of '{dataset.name}' contain NaN or infinite values; clean the data first."))
                break
            issue = _label_issue(y, units, name if len(outputs) > 1 else None)
            if issue:
                issues.append(issue)
                break
    return issues


def apply_fix(dataset: Dataset, fix_id: str) -> Dataset:
    """A copy of ``dataset`` with the fix ``fix_id`` (from a DataIssue) applied.

    ``fix_id`` is one of ``FIXES``, or ``"<fix>:<input name>"`` for one input of a model with
    several.

    Raises:
        DataError: ``fix_id`` is not one of ``FIXES``.
    """
    if split_fix(fix_id)[0] not in FIXES:
        raise DataError(f"Fix {fix_id!r} is not valid; use one of {', '.join(FIXES)}.")
    return dataset.with_fix(fix_id)

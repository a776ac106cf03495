"""Sensitivity scan: how much each layer can be pruned before the model gets worse.

For every prunable layer (or the chosen ones), only that layer is pruned, by magnitude, to
each sparsity in turn, without any fine-tuning, and the model is measured on a bounded sample
of the test data. Pruning is simulated by writing the masked kernel straight into the layer
and restoring it afterwards, which is far faster than wrapping the model; the masks follow the
engine's rule, so a point here is what the engine would produce at that sparsity.

A model with BatchNormalization layers has their moving statistics re-estimated on training
examples at every point (and restored afterwards), as the fine-tune does before it evaluates
or exports: without it a pruned layer reads as far more fragile than it is once exported, and
the baseline of a model whose statistics never settled reads far too low.

Example::

    result = sensitivity_scan(model, dataset, sparsities=(0, 0.5, 0.9))
    result.curves["dense1"]   # [(0.0, 0.989), (0.5, 0.989), (0.9, 0.975)]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from prune_studio.compat import keras, tf
from prune_studio.data import arrays
from prune_studio.errors import PruneStudioError
from prune_studio.pruning import masks, registry
from prune_studio.pruning.plan import prunable_layers_by_name
from prune_studio.scan import cache
from prune_studio.scan.result import DEFAULT_SPARSITIES, ScanResult
from prune_studio.training import batchnorm

_BATCH = 128
#: Training examples each BatchNorm re-estimation of the scan looks at.
BATCHNORM_SAMPLES = 256

Progress = Callable[[float, str], None]


class ScanError(PruneStudioError):
    """The scan cannot run with these arguments (unknown layer, bad sparsity, odd model)."""


def prunable_layers(model: keras.Model) -> dict[str, keras.layers.Layer]:
    """The layers the engine can prune, by name in model order, nested models included."""
    return {name: layer for name, layer in prunable_layers_by_name(model).items() if registry.prunable_weights(layer)}


def sensitivity_scan(
    model: keras.Model,
    dataset: Any,
    layers: Sequence[str] | None = None,
    sparsities: Sequence[float] = DEFAULT_SPARSITIES,
    max_samples: int = 512,
    progress: Progress | None = None,
    control: Any = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    split: str = "test",
    reestimate_batchnorm: bool = True,
) -> ScanResult:
    """Measure the model with one layer at a time pruned to each sparsity.

    Args:
        model: A built tf-keras model. Its weights are changed while a point is measured and
            restored right after (also on errors and when stopped), so nothing else may use
            the model during the scan.
        dataset: A :class:`prune_studio.data.Dataset` (anything with ``sample(n, split)``).
        layers: Names of the layers to scan; all prunable layers when None.
        sparsities: Fractions of zeros to try, each in [0, 1); 0 is always included.
        max_samples: How many test examples each point is measured on.
        progress: ``progress(fraction, text)``, called after each measurement.
        control: An object whose ``stopped`` attribute is checked between measurements (a
            :class:`prune_studio.training.RunControl`); when set, the layers measured so far
            are returned with ``stopped=True``.
        cache_dir: Where results are remembered; :func:`cache.default_cache_dir` when None.
        use_cache: False to neither read nor write the cache.
        split: The part of the data to measure on, ``"test"`` or ``"train"`` (to keep the
            test part unseen when the plan is judged on it later).
        reestimate_batchnorm: Re-estimate BatchNormalization statistics at every point (on
            by default; the fine-tune does the same before it evaluates).

    Returns:
        The :class:`ScanResult`; its curves hold the requested layers only.

    Raises:
        ScanError: A layer name, sparsity or ``max_samples`` is not valid, or the model's
            output cannot be scored.
    """
    grid = _check_sparsities(sparsities)
    if int(max_samples) < 1:
        raise ScanError(f"max_samples must be at least 1, not {max_samples}.")
    by_name = prunable_layers(model)
    if not by_name:
        raise ScanError(f"The model '{model.name}' has no layer that can be pruned, so there is nothing to scan.")
    names = _check_layers(layers, by_name)
    x, y = dataset.sample(int(max_samples), split=split)
    if arrays.count(x) == 0:
        raise ScanError("The data has no test examples to measure the model on; give data with a test part.")
    metric_name, higher_is_better, score = _metric_for(model, y)

    cache_path = Path(cache_dir) if cache_dir is not None else cache.default_cache_dir()
    key = cache.scan_key(model.get_weights(), x, y, grid, _mode(reestimate_batchnorm))
    known = cache.load(cache_path, key) if use_cache else None
    report = progress or (lambda fraction, text: None)
    measure = point_measure(model, dataset, x, y, score, reestimate_batchnorm)

    params = {name: int(sum(int(np.prod(w.shape)) for w in registry.prunable_weights(layer)))
              for name, layer in by_name.items()}
    if known is None:
        baseline = measure()
        known = ScanResult(metric_name, baseline, {}, params, higher_is_better, arrays.count(x))
    result = ScanResult(metric_name, known.baseline, {}, params, higher_is_better, arrays.count(x))
    todo = [name for name in names if name not in known.curves]
    steps = max(1, len(todo) * (len(grid) - 1))
    done = 0
    report(0.0 if todo else 1.0, f"Original model: {_describe(metric_name, known.baseline)}")
    for name in names:
        if name in known.curves:
            result.curves[name] = list(known.curves[name])
            continue
        curve = [(0.0, known.baseline)]
        result.curves[name] = curve
        weights = registry.prunable_weights(by_name[name])
        originals = [w.numpy() for w in weights]
        try:
            for sparsity in grid[1:]:
                if control is not None and control.stopped:
                    result.stopped = True
                    return result
                for variable, original in zip(weights, originals):
                    variable.assign(_masked(original, sparsity))
                value = measure()
                curve.append((sparsity, value))
                done += 1
                report(done / steps, f"Layer {name} with {sparsity:.0%} zeros: {_describe(metric_name, value)}")
        finally:
            for variable, original in zip(weights, originals):
                variable.assign(original)
        known.curves[name] = curve
        if use_cache:
            cache.save(cache_path, key, known)
    return result


def point_measure(model: keras.Model, dataset: Any, x: np.ndarray, y: np.ndarray, score: Callable,
                  reestimate_batchnorm: bool = True) -> Callable[[], float]:
    """A function scoring ``model`` on ``(x, y)`` as it is now, after fresh BatchNorm statistics.

    The statistics are put back after each measurement, so the model is left as found. ``x``
    and ``y`` may be dicts by input and output name (a model with several inputs or outputs).
    """
    predict = tf.function(lambda batch: model(batch, training=False), reduce_retracing=True)
    names = list(getattr(model, "output_names", None) or [])
    total = arrays.count(x)
    estimator = batchnorm.BatchNormEstimator(model) if reestimate_batchnorm else None
    sample = (batchnorm.training_sample(dataset, BATCHNORM_SAMPLES)
              if estimator is not None and estimator.layers else None)

    def measure() -> float:
        saved = batchnorm.save_statistics(model) if sample is not None else None
        try:
            if sample is not None:
                estimator(sample)
            outputs = [_by_output(predict(tf.nest.map_structure(tf.constant, arrays.take(x, slice(i, i + _BATCH)))),
                                  names)
                       for i in range(0, total, _BATCH)]
        finally:
            if saved is not None:
                batchnorm.restore_statistics(model, saved)
        return score(arrays.concat(outputs), y)

    return measure


def cached_scan(model: keras.Model, dataset: Any, layers: Sequence[str] | None = None,
                sparsities: Sequence[float] = DEFAULT_SPARSITIES, max_samples: int = 512,
                cache_dir: str | Path | None = None, split: str = "test",
                reestimate_batchnorm: bool = True) -> ScanResult | None:
    """The remembered result for these arguments, or None; never measures anything.

    Lets the window show an earlier scan as soon as a model is opened.
    """
    grid = _check_sparsities(sparsities)
    by_name = prunable_layers(model)
    names = _check_layers(layers, by_name)
    x, y = dataset.sample(int(max_samples), split=split)
    cache_path = Path(cache_dir) if cache_dir is not None else cache.default_cache_dir()
    known = cache.load(cache_path, cache.scan_key(model.get_weights(), x, y, grid,
                                                  _mode(reestimate_batchnorm)))
    if known is None or not names or any(name not in known.curves for name in names):
        return None
    known.curves = {name: known.curves[name] for name in names}
    return known


def _mode(reestimate_batchnorm: bool) -> str:
    return "" if reestimate_batchnorm else "/batchnorm-as-is"


def _masked(weights: np.ndarray, sparsity: float) -> tf.Tensor:
    """``weights`` with the smallest magnitudes zeroed, by the engine's own mask rule."""
    weights = tf.constant(weights)
    _, mask = masks.magnitude_mask(weights, sparsity)
    return weights * mask


def _check_sparsities(sparsities: Sequence[float]) -> list[float]:
    grid = sorted({0.0, *(round(float(s), 6) for s in sparsities)})
    bad = [s for s in grid if not 0.0 <= s < 1.0]
    if bad:
        raise ScanError(f"sparsities must be fractions from 0 up to (not including) 1, not {bad[0]:g}.")
    if len(grid) < 2:
        raise ScanError("sparsities must hold at least one value above 0, e.g. 0.5.")
    return grid


def _check_layers(layers: Sequence[str] | None, by_name: dict[str, Any]) -> list[str]:
    if layers is None:
        return list(by_name)
    unknown = [name for name in layers if name not in by_name]
    if unknown:
        raise ScanError(f"layers: '{unknown[0]}' is not a prunable layer of this model; "
                        f"valid names are {', '.join(by_name)}.")
    return list(dict.fromkeys(layers))


def _by_output(outputs, names: list[str]):
    """Predictions as one array, or a dict by output name for a model with several outputs."""
    if isinstance(outputs, dict):
        return {name: np.asarray(value) for name, value in outputs.items()}
    if isinstance(outputs, (list, tuple)):
        if len(outputs) == 1:
            return np.asarray(outputs[0])
        return {name: np.asarray(value) for name, value in zip(names, outputs)}
    return np.asarray(outputs)


def _metric_for(model: keras.Model, y: Any) -> tuple[str, bool, Callable[[Any, Any], float]]:
    """Choose accuracy for classifiers and mean squared error otherwise.

    With several outputs (labels by output name) the score is the mean accuracy of the outputs
    that classify, as the fine-tune's headline accuracy; when none does, the mean of the
    outputs' mean squared errors.
    """
    names = list(getattr(model, "output_names", None) or [])
    if len(names) > 1 or arrays.is_named(y):
        return _multi_output_metric(model, y, names)
    shape = model.output_shape[0] if isinstance(model.output_shape, list) else model.output_shape
    return _single_metric(shape[-1], y)


def _multi_output_metric(model: keras.Model, y: Any, names: list[str]):
    shapes = model.output_shape
    shapes = dict(zip(names, shapes)) if isinstance(shapes, (list, tuple)) else dict(shapes)
    missing = [name for name in names if not arrays.is_named(y) or name not in y]
    if missing:
        raise ScanError(f"The model '{model.name}' has the outputs {', '.join(names)}, but the data has no labels "
                        f"for {', '.join(missing)}; give labels by output name (y_test/<output name>).")
    each = {name: _single_metric(shapes[name][-1], y[name]) for name in names}
    accurate = [name for name, (metric, _, _) in each.items() if metric == "accuracy"]
    if accurate:
        return "accuracy", True, lambda p, t: float(np.mean([each[n][2](p[n], t[n]) for n in accurate]))
    return "mean squared error", False, lambda p, t: float(np.mean([each[n][2](p[n], t[n]) for n in names]))


def _single_metric(units, y) -> tuple[str, bool, Callable[[np.ndarray, np.ndarray], float]]:
    labels = np.asarray(y)
    integer_labels = labels.size and np.all(np.mod(labels, 1) == 0)
    if units and units > 1 and (labels.ndim == 1 or labels.shape[-1] == 1) and integer_labels:
        return "accuracy", True, lambda p, t: float(np.mean(np.argmax(p, -1) == np.ravel(t)))
    if units and units > 1 and labels.ndim >= 2 and labels.shape[-1] == units:
        return "accuracy", True, lambda p, t: float(np.mean(np.argmax(p, -1) == np.argmax(t, -1)))
    if units == 1 and integer_labels and set(np.unique(labels)) <= {0, 1}:
        return "accuracy", True, lambda p, t: float(np.mean((np.ravel(p) > 0.5) == (np.ravel(t) > 0.5)))
    return "mean squared error", False, lambda p, t: float(np.mean((p.reshape(len(p), -1) - t.reshape(len(t), -1)) ** 2))


def _describe(metric_name: str, value: float) -> str:
    return f"{metric_name} {value:.1%}" if metric_name == "accuracy" else f"{metric_name} {value:.4g}"

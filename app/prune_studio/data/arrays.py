"""Inputs and labels as one array, or one array per model input/output name.

A model with one input and one output takes plain numpy arrays. A model with several takes a
dict ``{input name: array}`` (and ``{output name: array}`` for labels), which Keras ``fit``,
``evaluate`` and ``tf.data`` accept as they are. These helpers let the rest of the app slice,
count and check either form without caring which it holds. No TensorFlow here.

Example::

    x = {"image": np.zeros((10, 8, 8, 1)), "meta": np.zeros((10, 4))}
    count(x)          # 10
    take(x, 3)        # the first three samples of each array
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np



def is_named(x: Any) -> bool:
    """Whether ``x`` holds one array per name (a dict)."""
    return isinstance(x, dict)


def count(x: Any) -> int:
    """Number of samples (the length of the first array)."""
    if is_named(x):
        return len(next(iter(x.values()))) if x else 0
    return len(x)


def take(x: Any, index: Any) -> Any:
    """``x[index]`` for every array (a slice, an index array or a count ``n`` for the first n)."""
    if isinstance(index, (int, np.integer)):
        index = slice(0, int(index))
    if is_named(x):
        return {name: array[index] for name, array in x.items()}
    return x[index]


def apply(fn: Callable[[np.ndarray], np.ndarray], x: Any) -> Any:
    """``fn`` applied to every array."""
    return {name: fn(array) for name, array in x.items()} if is_named(x) else fn(x)


def items(x: Any, default_name: str = "") -> Iterator[tuple[str, np.ndarray]]:
    """``(name, array)`` pairs; a plain array comes back once, named ``default_name``."""
    if is_named(x):
        yield from x.items()
    else:
        yield default_name, x


def concat(parts: list[Any]) -> Any:
    """Join batches (arrays, or dicts of arrays with the same names) along the sample axis."""
    if parts and is_named(parts[0]):
        return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    return np.concatenate(parts)


def as_list(x: Any, names: list[str]) -> Any:
    """The arrays of ``x`` in the order of ``names`` (a plain array is returned unchanged)."""
    if not is_named(x):
        return x
    return [x[name] for name in names]


def shapes(x: Any) -> Any:
    """The shape of one sample: a tuple, or ``{name: tuple}``."""
    if is_named(x):
        return {name: tuple(array.shape[1:]) for name, array in x.items()}
    return tuple(np.shape(x)[1:])

"""One headline accuracy for models with several outputs.

Keras names a multi-output model's metrics after each output (``cls_accuracy``,
``flag_binary_accuracy``) and reports no plain ``accuracy``. The window's charts, the CLI
summary and the report read ``accuracy``, so :func:`with_headline` adds it: the mean of the
per-output accuracies (outputs without an accuracy metric, such as a regression head, do not
count). The per-output values stay in the dict.

Example::

    with_headline({"cls_accuracy": 0.9, "flag_binary_accuracy": 0.7}, ["cls", "flag"])
    # -> {..., "accuracy": 0.8}
"""

from __future__ import annotations

from typing import Sequence

ACCURACY_METRICS = ("accuracy", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy")


def per_output_accuracy(logs: dict[str, float], output_names: Sequence[str], prefix: str = "") -> dict[str, float]:
    """``{output name: accuracy}`` for the outputs that have an accuracy metric in ``logs``."""
    found = {}
    for name in output_names:
        for metric in ACCURACY_METRICS:
            key = f"{prefix}{name}_{metric}"
            if key in logs:
                found[name] = float(logs[key])
                break
    return found


def with_headline(logs: dict[str, float], output_names: Sequence[str]) -> dict[str, float]:
    """``logs`` plus ``accuracy`` (and ``val_accuracy``) averaged over outputs, when it has several."""
    if len(output_names) < 2:
        return logs
    out = dict(logs)
    for prefix in ("", "val_"):
        if f"{prefix}accuracy" in out:
            continue
        found = per_output_accuracy(out, output_names, prefix)
        if found:
            out[f"{prefix}accuracy"] = sum(found.values()) / len(found)
    return out


class OutputNames:
    """Translates a wrapped model's metric names back to the model's own output names.

    Pruning wrappers rename an output layer ``out`` to ``prune_low_magnitude_out``, so Keras
    logs ``prune_low_magnitude_out_accuracy``; :meth:`logs` gives ``out_accuracy`` (and the
    headline ``accuracy`` for several outputs).
    """

    def __init__(self, original: Sequence[str], wrapped: Sequence[str]):
        self.original = list(original)
        self._renames = [(w, o) for o, w in zip(original, wrapped) if o != w]
        self._renames.sort(key=lambda pair: -len(pair[0]))  # longest first: no prefix clashes

    def rename(self, key: str) -> str:
        prefix = "val_" if key.startswith("val_") else ""
        bare = key[len(prefix):]
        for wrapped, original in self._renames:
            if bare.startswith(wrapped + "_"):
                return prefix + original + bare[len(wrapped):]
        return key

    def logs(self, logs: dict[str, float]) -> dict[str, float]:
        return with_headline({self.rename(k): v for k, v in logs.items()}, self.original)

"""The error a fine-tune run raises when it cannot finish, and how TensorFlow's errors become one.

TensorFlow reports a failure inside a traced step as a wall of text: "in user code:" and a
stack of file lines, or "Graph execution error:" and node names, with the actual reason near
the end. :func:`translate` digs that reason out and says, in one sentence, what failed and
what to do; reasons we recognise (memory, labels out of range, inputs that do not fit, an
optimizer that cannot keep pruned weights at zero) get their own advice.
"""

from __future__ import annotations

import contextlib
import re

from prune_studio.errors import PruneStudioError


class TrainingError(PruneStudioError):
    """A run failed in a way the user can act on: NaN loss, out of memory, bad data, bad settings.

    Attributes:
        field: the settings field at fault (e.g. ``"learning_rate"``), or ``None``.
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


_ERROR_LINE = re.compile(r"^(?:[\w.]+\.)?(\w+(?:Error|Exception)): (.+)$")
_NOISE_LINE = re.compile(r"^(File \"|Detected at node|Graph execution error|in user code)|most recent call last\):$")
_TAILS = re.compile(r"\s*(\[\[\{\{node.*|\[Op:.*|Label values:.*|Inputs received:.*|Received: grad=.*|"
                    r"Call arguments received.*)$")
_LABEL = re.compile(r"label value of (-?\d+) which is outside the valid range of \[0, (\d+)\)")
_INPUTS = re.compile(r"expects (\d+) input\(s\), but it received (\d+) input")
_SPARSE_LAYER = re.compile(r"prune_low_magnitude_([\w.-]+?)/")


def tf_reason(exc: BaseException, limit: int = 240) -> str:
    """The reason inside a TensorFlow/Keras error message, without traceback lines or node names.

    For "in user code:" errors that is the last ``SomethingError: text`` line; otherwise the last
    line that is not part of a traceback. Shortened to ``limit`` characters, no final full stop.
    """
    text = getattr(exc, "message", None) or str(exc)
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    found = [m.group(2) for m in map(_ERROR_LINE.match, lines) if m]
    if found:
        reason = found[-1]
    else:
        kept = [ln for ln in lines if not _NOISE_LINE.search(ln)]
        reason = kept[-1] if kept else type(exc).__name__
    reason = " ".join(_TAILS.sub("", reason).split()).rstrip(". ") or type(exc).__name__
    return reason if len(reason) <= limit else reason[: limit - 1] + "…"


def translate(exc: BaseException, doing: str, batch_size: int) -> TrainingError:
    """One readable :class:`TrainingError` for ``exc``, raised while ``doing`` (e.g. "Fine-tuning").

    Args:
        exc: what TensorFlow, Keras or numpy raised.
        doing: the activity, capitalised, for the sentence ("Fine-tuning", "Evaluating").
        batch_size: the batch size in use (named in the out-of-memory advice).
    """
    from prune_studio.compat import tf

    if isinstance(exc, (tf.errors.ResourceExhaustedError, MemoryError)):
        return TrainingError(f"{doing} ran out of memory with batch size {batch_size}; try a smaller batch size.")
    raw = str(getattr(exc, "message", None) or exc)
    reason = tf_reason(exc)
    if "Cannot use a constraint function on a sparse variable" in raw:
        layer = _SPARSE_LAYER.search(raw)
        where = f"layer '{layer.group(1)}'" if layer else "an Embedding layer"
        return TrainingError(
            f"{doing} failed: the optimizer cannot keep the pruned weights of {where} at zero because its "
            "updates are sparse; compile with a current optimizer (e.g. keras.optimizers.Adam, not "
            "keras.optimizers.legacy) or leave that layer out of the plan."
        )
    label = _LABEL.search(raw)
    if label:
        value, classes = int(label.group(1)), int(label.group(2))
        return TrainingError(
            f"{doing} failed: a label is {value} but the model has {classes} output classes, so labels must "
            f"be from 0 to {classes - 1}; choose data with {classes} classes or fewer, or a model with more outputs."
        )
    inputs = _INPUTS.search(raw)
    if inputs:
        want, got = int(inputs.group(1)), int(inputs.group(2))
        return TrainingError(
            f"{doing} failed: the model takes {want} inputs but the data gives {got}; give one array per "
            "model input (an .npz file with x_train/<input name> and x_test/<input name> arrays)."
        )
    if isinstance(exc, (tf.errors.InvalidArgumentError, ValueError, TypeError)) and _about_data(raw):
        return TrainingError(f"{doing} failed because the data does not fit the model: {reason}; "
                             "choose data shaped like the model's inputs and outputs.")
    return TrainingError(
        f"{doing} failed inside TensorFlow ({type(exc).__name__}: {reason}); check that the model and data "
        "belong together, or set PRUNE_STUDIO_DEBUG=1 to see TensorFlow's full report."
    )


def _about_data(text: str) -> bool:
    """Whether Keras rejected the inputs or labels (rather than failing for another reason)."""
    text = text.lower()
    return any(word in text for word in ("shape", "incompatible", "input", "label", "dtype"))


@contextlib.contextmanager
def translated_errors(batch_size: int, doing: str = "Fine-tuning"):
    """Turn anything TensorFlow raises inside the block into one readable :class:`TrainingError`.

    Our own errors (already readable) and interrupts pass through unchanged.
    """
    try:
        yield
    except (PruneStudioError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - every failure inside a fit/evaluate gets a sentence
        raise translate(exc, doing, batch_size) from exc

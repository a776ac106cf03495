"""Pruning schedules: when to update masks and to what sparsity.

Same semantics as ``tfmot.sparsity.keras`` schedules: calling a schedule with a step returns
``(should_prune, sparsity)`` as tensors, so it runs inside a compiled training step. Pure-Python
twins (:meth:`PruningSchedule.value_at`) serve previews such as :func:`sparsity_curve` without
touching TensorFlow's graph machinery.
"""

import abc

import numpy as np

from prune_studio.compat import tf


class PruningSchedule(abc.ABC):
    """Base class: a function from the training step to ``(should_prune, sparsity)``.

    Subclasses implement ``__call__(step)`` with TensorFlow ops and ``get_config()``.
    """

    @staticmethod
    def _should_prune_in_step(step, begin_step, end_step, frequency):
        """True when ``step`` is in ``[begin_step, end_step]`` (end -1: no end) and on the beat."""
        step = tf.cast(step, tf.int64)
        in_range = tf.logical_and(
            tf.greater_equal(step, begin_step),
            tf.logical_or(tf.less_equal(step, end_step), tf.less(tf.constant(end_step, tf.int64), 0)),
        )
        on_beat = tf.equal(tf.math.floormod(step - begin_step, frequency), 0)
        return tf.logical_and(in_range, on_beat)

    @staticmethod
    def _validate_step(begin_step, end_step, frequency, allow_negative_1):
        if begin_step < 0:
            raise ValueError(f"begin_step should be >= 0, got begin_step={begin_step}.")
        if not allow_negative_1 and end_step == -1:
            raise ValueError("end_step cannot be -1 for this schedule; give the step pruning ends.")
        if end_step != -1:
            if end_step < 0:
                raise ValueError(f"end_step can be -1 or >= 0, got end_step={end_step}.")
            if end_step < begin_step:
                raise ValueError(
                    f"begin_step should be <= end_step if end_step != -1, got "
                    f"begin_step={begin_step} and end_step={end_step}."
                )
        if frequency <= 0:
            raise ValueError(f"frequency should be > 0, got frequency={frequency}.")

    @staticmethod
    def _validate_sparsity(sparsity, variable_name):
        if not 0.0 <= sparsity < 1.0:
            raise ValueError(f"{variable_name} must be in range [0,1), got {variable_name}={sparsity}.")

    @abc.abstractmethod
    def __call__(self, step):
        """Return ``(should_prune, sparsity)`` tensors for ``step``."""

    @abc.abstractmethod
    def get_config(self):
        """Return ``{"class_name": ..., "config": {...}}`` as tfmot does."""

    @classmethod
    def from_config(cls, config):
        """Build a schedule from the inner ``config`` dict (or the full get_config() output)."""
        if "class_name" in config and "config" in config:
            config = config["config"]
        return cls(**config)

    def value_at(self, step):
        """``(should_prune, sparsity)`` as Python values; evaluates ``__call__`` eagerly by default."""
        should, sparsity = self(tf.constant(step, tf.int64))
        return bool(should), float(sparsity)

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config()["config"].items())
        return f"{type(self).__name__}({args})"


#: The step the first training batch of a fresh model runs at (the reference counts from 1).
FIRST_STEP = 1


def _py_should_prune(step, begin_step, end_step, frequency):
    return begin_step <= step and (end_step < 0 or step <= end_step) and (step - begin_step) % frequency == 0


class ConstantSparsity(PruningSchedule):
    """Prune to ``target_sparsity`` every ``frequency`` steps from ``begin_step`` to ``end_step``.

    Example:
        >>> schedule = ConstantSparsity(0.5, begin_step=0, frequency=100)
    """

    def __init__(self, target_sparsity, begin_step, end_step=-1, frequency=100):
        self.target_sparsity = target_sparsity
        self.begin_step = begin_step
        self.end_step = end_step
        self.frequency = frequency
        self._validate_step(begin_step, end_step, frequency, True)
        self._validate_sparsity(target_sparsity, "target_sparsity")

    def __call__(self, step):
        should = self._should_prune_in_step(step, self.begin_step, self.end_step, self.frequency)
        return should, tf.constant(self.target_sparsity, dtype=tf.float32)

    def value_at(self, step):
        should = _py_should_prune(step, self.begin_step, self.end_step, self.frequency)
        return should, float(np.float32(self.target_sparsity))

    def get_config(self):
        return {
            "class_name": type(self).__name__,
            "config": {
                "target_sparsity": self.target_sparsity,
                "begin_step": self.begin_step,
                "end_step": self.end_step,
                "frequency": self.frequency,
            },
        }


class PolynomialDecay(PruningSchedule):
    """Sparsity rises from ``initial_sparsity`` to ``final_sparsity`` along a polynomial.

    ``p = clip((step - begin_step) / (end_step - begin_step), 0, 1)`` and
    ``sparsity = final + (initial - final) * (1 - p) ** power``.

    Example:
        >>> schedule = PolynomialDecay(0.5, 0.8, begin_step=0, end_step=1000)
    """

    def __init__(self, initial_sparsity, final_sparsity, begin_step, end_step, power=3, frequency=100):
        self.initial_sparsity = initial_sparsity
        self.final_sparsity = final_sparsity
        self.power = power
        self.begin_step = begin_step
        self.end_step = end_step
        self.frequency = frequency
        self._validate_step(begin_step, end_step, frequency, False)
        self._validate_sparsity(initial_sparsity, "initial_sparsity")
        self._validate_sparsity(final_sparsity, "final_sparsity")

    def __call__(self, step):
        p = tf.math.divide(
            tf.cast(tf.cast(step, tf.int64) - self.begin_step, tf.float32),
            tf.constant(self.end_step - self.begin_step, dtype=tf.float32),
        )
        p = tf.minimum(1.0, tf.maximum(0.0, p))
        sparsity = tf.add(
            tf.multiply(
                tf.constant(self.initial_sparsity - self.final_sparsity, tf.float32),
                tf.pow(1.0 - p, tf.cast(self.power, tf.float32)),
            ),
            tf.constant(self.final_sparsity, tf.float32),
        )
        should = self._should_prune_in_step(step, self.begin_step, self.end_step, self.frequency)
        return should, sparsity

    def value_at(self, step):
        span = np.float32(self.end_step - self.begin_step)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.float32(step - self.begin_step) / span
        p = np.minimum(np.float32(1.0), np.maximum(np.float32(0.0), p))
        diff = np.float32(self.initial_sparsity - self.final_sparsity)
        sparsity = diff * np.power(np.float32(1.0) - p, np.float32(self.power)) + np.float32(
            self.final_sparsity
        )
        should = _py_should_prune(step, self.begin_step, self.end_step, self.frequency)
        return should, float(np.float32(sparsity))

    def get_config(self):
        return {
            "class_name": type(self).__name__,
            "config": {
                "initial_sparsity": self.initial_sparsity,
                "final_sparsity": self.final_sparsity,
                "power": self.power,
                "begin_step": self.begin_step,
                "end_step": self.end_step,
                "frequency": self.frequency,
            },
        }


_BUILTIN = {"ConstantSparsity": ConstantSparsity, "PolynomialDecay": PolynomialDecay}


def deserialize(config, custom_objects=None):
    """Rebuild a schedule from ``{"class_name", "config"}``; custom classes via ``custom_objects``."""
    if isinstance(config, PruningSchedule):
        return config
    from prune_studio.compat import keras

    classes = dict(_BUILTIN)
    classes.update(keras.utils.get_custom_objects())
    classes.update(custom_objects or {})
    name = config.get("class_name") if isinstance(config, dict) else None
    if name not in classes:
        raise ValueError(
            f"Unknown pruning schedule class_name={name!r}; expected one of {sorted(classes)} "
            "or a class passed in custom_objects."
        )
    return classes[name].from_config(config["config"])


def reached_sparsity(schedule, step):
    """The sparsity set at the last pruning step at or before ``step`` (0 before the first).

    Steps are numbered as the reference numbers them: the first training batch of a fresh
    model runs at step 1, so ``step`` is also the number of batches trained, and step 0 (no
    batch yet) never prunes. Built-in schedules are answered in closed form; other schedules by
    their value at ``step``.
    """
    step = int(step)
    if step < FIRST_STEP:
        return 0.0
    if not is_closed_form(schedule):
        return schedule.value_at(step)[1]
    begin, end, freq = schedule.begin_step, schedule.end_step, schedule.frequency
    first = next_pruning_step(schedule, FIRST_STEP)
    last = step if end < 0 or step <= end else end
    if first is None or last < first:
        return 0.0
    return schedule.value_at(begin + (last - begin) // freq * freq)[1]


def is_closed_form(schedule):
    """True when ``schedule`` prunes on the reference's beat (begin, end, frequency known)."""
    return isinstance(schedule, (ConstantSparsity, PolynomialDecay))


def next_pruning_step(schedule, step):
    """The first step >= ``step`` at which ``schedule`` prunes, or None if it never will.

    Built-in schedules are answered in closed form; for other schedules every step is a
    candidate, so ``step`` is returned.
    """
    if not is_closed_form(schedule):
        return step
    begin, end, freq = schedule.begin_step, schedule.end_step, schedule.frequency
    candidate = begin if step <= begin else begin + -(-(step - begin) // freq) * freq
    return None if 0 <= end < candidate else candidate


def sparsity_curve(schedule, total_steps, num=200):
    """Target sparsity the schedule has reached at each step, for previews.

    Args:
        schedule: a :class:`PruningSchedule`.
        total_steps: the last step shown (inclusive).
        num: how many points at most.

    Returns:
        ``(steps, sparsity)`` numpy arrays (int64 and float64): step ``s`` is the state after
        ``s`` training batches (step 0: before training); see :func:`reached_sparsity`.
    """
    total_steps = int(total_steps)
    if total_steps < 0:
        raise ValueError(f"total_steps must be >= 0, got total_steps={total_steps}.")
    steps = np.unique(np.linspace(0, total_steps, num=max(2, int(num))).round().astype(np.int64))
    return steps, np.array([reached_sparsity(schedule, s) for s in steps], dtype=np.float64)

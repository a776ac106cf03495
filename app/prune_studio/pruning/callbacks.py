"""Keras callbacks: ``UpdatePruningStep`` and ``PruningSummaries``.

``UpdatePruningStep`` drives the masks: before a training step at which a wrapper's schedule
prunes, it runs that wrapper's compiled mask update (outside the training graph). Between
pruning steps its per-batch work is one integer comparison in Python; the step counter itself
advances inside the training graph, so checkpoints hold the right step.
"""

import numpy as np

from prune_studio.compat import keras, tf
from prune_studio.pruning.prune import wrappers_of
from prune_studio.pruning.schedules import is_closed_form, next_pruning_step


def start_pruning_steps(model):
    """Mark the wrappers of ``model`` as driven and return them with their current steps.

    Wrappers never trained (step -1) start at 0; restored models keep their step.
    """
    started = []
    for wrapper in wrappers_of(model):
        if not wrapper.built:
            continue
        step = int(wrapper.pruning_step.read_value())
        if step < 0:
            wrapper.pruning_step.assign(0)
            step = 0
        wrapper.started = True
        started.append((wrapper, step))
    return started


def apply_all_masks(model):
    """``weights *= mask`` for every wrapper of ``model``."""
    for wrapper in wrappers_of(model):
        if wrapper.built:
            wrapper.apply_masks()


class UpdatePruningStep(keras.callbacks.Callback):
    """Keras callback required (as in tfmot) when fitting a model being pruned.

    In a custom training loop call ``set_model(model)`` and ``on_train_begin()`` once, then
    ``on_train_batch_begin(batch=-1)`` before each step (as with tfmot).

    Example:
        >>> model.fit(x, y, callbacks=[UpdatePruningStep()])
    """

    def __init__(self):
        super().__init__()
        self._supports_tf_logs = True
        self._batches = 0
        self._entries = []  # [wrapper, step at train begin, next pruning step or None]
        self._next = None
        self._compiled = {}

    def on_train_begin(self, logs=None):
        self._batches = 0
        self._entries = []
        if self.model is None:
            return
        for wrapper, step in start_pruning_steps(self.model):
            if wrapper.pruning_vars:
                self._entries.append([wrapper, step, next_pruning_step(wrapper.pruning_schedule, step)])
        wrapper_ids = {id(entry[0]) for entry in self._entries}
        if any(not set(key) <= wrapper_ids for key in self._compiled):
            self._compiled = {}  # another model: drop functions that hold the old wrappers
        self._schedule_next()

    def _schedule_next(self):
        """Batch count (since train begin) at which the next wrapper is due, or None."""
        due = [nxt - base for _, base, nxt in self._entries if nxt is not None]
        self._next = min(due) if due else None

    def on_train_batch_begin(self, batch, logs=None):
        if self._next is not None and self._batches >= self._next:
            due = []
            for entry in self._entries:
                wrapper, base, nxt = entry
                step = base + self._batches
                if nxt is not None and nxt <= step:
                    due.append((wrapper, step))
                    entry[2] = next_pruning_step(wrapper.pruning_schedule, step + 1)
            self._run(due)
            self._schedule_next()
        self._batches += 1

    def _run(self, due):
        """Update the masks of the wrappers due, in one compiled call per set of wrappers.

        The call goes to the traced concrete function with one int64 vector of steps: the
        polymorphic ``tf.function`` dispatch on a list of tensors would cost more than a
        small model's whole mask update.
        """
        wrappers = tuple(wrapper for wrapper, _ in due)
        key = tuple(id(wrapper) for wrapper in wrappers)
        fn = self._compiled.get(key)
        if fn is None:

            def step_all(steps):
                return [
                    wrapper.mask_step_ops(steps[i], due=is_closed_form(wrapper.pruning_schedule))
                    for i, wrapper in enumerate(wrappers)
                ]

            spec = tf.TensorSpec([len(wrappers)], tf.int64)
            fn = tf.function(step_all, autograph=False).get_concrete_function(spec)
            self._compiled[key] = fn
        fn(tf.constant([step for _, step in due], tf.int64))

    def on_epoch_end(self, batch, logs=None):
        if self.model is not None:
            apply_all_masks(self.model)

    def on_train_end(self, logs=None):
        if self.model is not None:
            apply_all_masks(self.model)


class PruningSummaries(keras.callbacks.TensorBoard):
    """TensorBoard callback that also writes each pruned weight's sparsity and threshold.

    Scalars are named ``<layer>/<weight>_mask/sparsity`` and ``.../threshold``, logged at the
    optimizer's iteration every epoch (and every ``update_freq`` batches when it is an int).

    Args:
        log_dir: where TensorBoard event files go.
        update_freq: ``'epoch'`` (default) or a number of batches.
        **kwargs: other ``keras.callbacks.TensorBoard`` arguments.
    """

    def __init__(self, log_dir, update_freq="epoch", **kwargs):
        super().__init__(log_dir=log_dir, update_freq=update_freq, **kwargs)
        self._pruning_writer = None

    def _pruning_scalars(self):
        scalars = {}
        for wrapper in wrappers_of(self.model):
            for _, mask, threshold in wrapper.pruning_vars:
                name = mask.name.split(":")[0]
                scalars[f"{name}/sparsity"] = 1.0 - float(np.mean(mask.numpy()))
                scalars[f"{threshold.name.split(':')[0]}/threshold"] = float(threshold.numpy())
        return scalars

    def _write_pruning(self):
        if self._pruning_writer is None:
            self._pruning_writer = tf.summary.create_file_writer(self.log_dir + "/pruning")
        step = int(self.model.optimizer.iterations.numpy()) if self.model.optimizer else 0
        with self._pruning_writer.as_default():
            for name, value in self._pruning_scalars().items():
                tf.summary.scalar(name, value, step=step)
        self._pruning_writer.flush()

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        if isinstance(self.update_freq, int) and self.update_freq > 0 and (batch + 1) % self.update_freq == 0:
            self._write_pruning()

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        self._write_pruning()

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        if self._pruning_writer is not None:
            self._pruning_writer.close()
            self._pruning_writer = None

"""Keras callbacks: ``UpdatePruningStep`` and ``PruningSummaries``.

``UpdatePruningStep`` drives the masks: before a training step at which a wrapper's schedule
prunes, the masks are recomputed. It also keeps every wrapper's ``pruning_step`` (the number
of batches trained), from Python, so the training graph carries no step counter.

Under ``fit`` it does that without Keras' per-batch hooks, whose dispatch alone costs a small
model a few per cent per step: at train begin it puts a :class:`_StepDriver` in place of
``model.train_function`` (which ``fit`` calls once per batch). Between pruning steps the driver
compares two integers and calls the real train function; on a pruning step it calls a second
traced function that recomputes the masks and then runs the same training step, in one graph.
The step variables are written only when something can read them: before a mask update,
after the last batch of each epoch (before any callback's ``on_epoch_end`` can save a
checkpoint), after every batch when another callback has batch hooks, and at train end. With
``steps_per_execution`` above 1 the graph counts the steps itself.

For optimizers where that is exact (:mod:`gradient_masks`), ``fit`` keeps the pruned weights at
zero by masking their gradients instead of re-zeroing them after every update.

In a custom loop, ``on_train_batch_begin`` does the work instead, with a separate compiled
mask update.
"""

import weakref

import numpy as np

from prune_studio.compat import keras, tf
from prune_studio.pruning import gradient_masks
from prune_studio.pruning.prune import wrappers_of
from prune_studio.pruning.schedules import is_closed_form, next_pruning_step
from prune_studio.pruning.wrapper import update_masks_together

#: Where :meth:`UpdatePruningStep._fused_function` keeps its traced function on the train function.
_FUSED_ATTRIBUTE = "_prune_studio_fused_step"
#: Where :meth:`UpdatePruningStep._due_function` keeps its traced functions on the train function.
_DUE_ATTRIBUTE = "_prune_studio_due_steps"
#: How many sets of wrappers due together get a training step of their own.
_MAX_DUE_SETS = 8


def start_pruning_steps(model):
    """Mark the wrappers of ``model`` as driven and return them with their current steps.

    Wrappers never trained (step -1) start at 0; restored models keep their step. The step
    is the number of batches trained, so the next batch runs at step + 1 (tfmot's numbering:
    the first batch of a fresh model is step 1).
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


class _StepDriver:
    """Stands in for ``model.train_function`` while ``fit`` runs with an :class:`UpdatePruningStep`.

    Once ``model.train_function`` has run on an iterator, the driver calls the concrete function
    it traced for that iterator directly: the traced function's per-call dispatch (hashing the
    iterator's type to find that function again) cost a small model's step about a tenth of
    its time here, more than the mask updates. The first call for each iterator goes through
    the traced function as ``fit`` would, so nothing is traced that ``fit`` would not trace.
    """

    def __init__(self, callback, inner):
        self.callback = callback
        self.inner = inner
        self._iterator = None  # weak reference to the iterator self._concrete is for
        self._concrete = {}  # id(traced function) -> its concrete function for that iterator

    def train_step(self, iterator):
        """``self.inner(iterator)``, through its concrete function once that is known."""
        return self.call(self.inner, iterator)

    def call(self, function, iterator, *args):
        """``function(iterator, *args)``, through its concrete function once that is known.

        ``function`` is ``self.inner`` or a traced function kept for as long as ``self.inner``
        (the mask-update steps), so its id stays its own while it is cached here.
        """
        known = self._iterator() if self._iterator is not None else None
        if known is not iterator:
            self._concrete.clear()
            try:
                self._iterator = weakref.ref(iterator)
            except TypeError:  # not weakly referable: keep the traced functions' own dispatch
                self._iterator = None
        concrete = self._concrete.get(id(function))
        if concrete is not None:
            return concrete(iterator, *args)
        logs = function(iterator, *args)
        if self._iterator is not None and isinstance(function, tf.types.experimental.PolymorphicFunction):
            self._concrete[id(function)] = function.get_concrete_function(iterator, *args)
        return logs

    def __call__(self, iterator):
        callback = self.callback
        try:
            if callback._quiet > 0:  # no schedule due at this step: just count it
                callback._quiet -= 1
                callback._batches += 1
                return self.train_step(iterator)
            return callback._drive(self, iterator)
        except BaseException:  # Ctrl+C, say: fit ends without train end, so write the steps now
            callback._sync_steps()
            raise


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
        self._driven = False  # fit calls the driver: the batch hook has nothing to do
        self._hook_began_step = False
        self._quiet = 0  # steps the driver may pass through before it must look again
        self._counted = []  # [(wrapper, step at train begin)] for every started wrapper
        self._sync_fns = {}
        self._batch_hooks = False  # Keras calls batch hooks (another callback needs them)
        self._epoch_first = 0  # the batch count when this epoch began
        self._gradient_masked = []  # wrappers whose gradients keep the masks during this fit
        self._in_graph = False  # the training graph counts steps and updates masks (see train begin)
        self._due_fns = {}  # ids of the wrappers due together -> (function, groups) or None, this fit

    def _implements_train_batch_hooks(self):
        # Under fit the driver in model.train_function does the per-batch work; saying so keeps
        # Keras from dispatching batch hooks (unless another callback needs them).
        return False

    def on_train_begin(self, logs=None):
        self._batches = 0
        self._entries = []
        self._driven = False
        self._hook_began_step = False
        self._quiet = 0
        self._batch_hooks = False
        self._epoch_first = 0
        self._gradient_masked = []
        self._due_fns = {}
        if self.model is None:
            return
        self._counted = start_pruning_steps(self.model)
        for wrapper, step in self._counted:
            if wrapper.pruning_vars:
                self._entries.append([wrapper, step, next_pruning_step(wrapper.pruning_schedule, step + 1)])
        wrapper_ids = {id(entry[0]) for entry in self._entries}
        if any(not {i for i, _ in key} <= wrapper_ids for key in self._compiled):
            self._compiled = {}  # another model: drop functions that hold the old wrappers
        self._schedule_next()
        # With several steps per call of the train function, Python sees calls, not steps:
        # the graph counts the steps and updates the masks itself, as the reference does.
        self._in_graph = getattr(self.model, "train_function", None) is not None and self._steps_per_execution() > 1
        for wrapper, _ in self._counted:
            wrapper.step_in_graph = self._in_graph
        if not self._in_graph:
            self._install_driver()

    def _steps_per_execution(self):
        value = getattr(self.model, "_steps_per_execution", None)
        return 1 if value is None else int(value.numpy() if hasattr(value, "numpy") else value)

    def _mask_gradients(self):
        """Let the optimizer keep the masks through the gradients when that is exact.

        Done at fit's first training step, before the training step is traced.
        """
        optimizer = getattr(self.model, "optimizer", None)
        wrappers = [entry[0] for entry in self._entries]
        if not wrappers or not gradient_masks.can_mask_gradients(optimizer, self.model):
            return
        # Built now (as the first training step would) so its slots exist when the mask
        # update that zeroes them is traced.
        optimizer.build(self.model.trainable_variables)
        for wrapper in wrappers:
            wrapper.mask_gradients(optimizer)
        self._gradient_masked = wrappers

    def _sync_steps(self):
        """Write every wrapper's ``pruning_step``: its step at train begin + the steps trained since.

        Under fit the steps trained are the model's own training-step counter (which fit
        zeroes before train begin and the training graph advances, so it is exact whatever
        happened in Python); in a custom loop, the batches this callback has begun.
        """
        if not self._counted or self._counted[0][0].step_in_graph:
            return
        counter = getattr(self.model, "_train_counter", None) if self._driven else None
        # The step variables themselves, which the traced function holds (so their ids stay theirs).
        key = (tuple(id(wrapper.pruning_step) for wrapper, _ in self._counted), counter is None)
        fn = self._sync_fns.get(key)
        if fn is None:
            variables = [wrapper.pruning_step for wrapper, _ in self._counted]

            def assign_all(offsets):
                trained = tf.zeros([], tf.int64) if counter is None else tf.cast(counter, tf.int64)
                for i, variable in enumerate(variables):
                    variable.assign(offsets[i] + trained)

            spec = tf.TensorSpec([len(variables)], tf.int64)
            fn = tf.function(assign_all, autograph=False).get_concrete_function(spec)
            self._sync_fns[key] = fn  # kept across fits of the same model
        offsets = np.fromiter((base for _, base in self._counted), np.int64, len(self._counted))
        fn(tf.constant(offsets if counter is not None else offsets + self._batches))

    def _install_driver(self):
        """Put a :class:`_StepDriver` in ``model.train_function`` (fit builds it before train begin)."""
        inner = getattr(self.model, "train_function", None)
        if inner is None:
            return
        if isinstance(inner, _StepDriver):
            if inner.callback is self:
                return
            inner = inner.inner  # left behind by another callback whose fit was interrupted
        self.model.train_function = _StepDriver(self, inner)

    def _remove_driver(self):
        driver = getattr(self.model, "train_function", None)
        if isinstance(driver, _StepDriver) and driver.callback is self:
            self.model.train_function = driver.inner

    def _schedule_next(self):
        """Batch count (since train begin) at which the next wrapper is due, or None.

        The batch counted as ``b`` (0 for the first of this fit) runs at step ``base + b + 1``.
        """
        due = [nxt - base - 1 for _, base, nxt in self._entries if nxt is not None]
        self._next = min(due) if due else None

    def _begin_step(self):
        """Count one step; return ``[(wrapper, step), ...]`` for the wrappers due at it."""
        due = []
        if self._next is not None and self._batches >= self._next:
            for entry in self._entries:
                wrapper, base, nxt = entry
                step = base + self._batches + 1
                if nxt is not None and nxt <= step:
                    due.append((wrapper, step))
                    entry[2] = next_pruning_step(wrapper.pruning_schedule, step + 1)
            self._schedule_next()
        self._batches += 1
        return due

    def on_train_batch_begin(self, batch, logs=None):
        self._batch_hooks = True
        if self._driven or self._in_graph:
            return
        due = self._begin_step()
        if due:
            self._run(due)
        self._sync_steps()  # a custom loop: the step about to run counts as trained
        self._hook_began_step = True

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_first = self._batches

    def _drive(self, driver, iterator):
        """One call of ``model.train_function`` under fit (the driver's slow path)."""
        if not self._driven:  # the first: this is fit (a custom loop never calls the driver)
            self._driven = True
            self._mask_gradients()
        if self._hook_began_step:  # Keras ran the batch hook, which began this step (the first)
            self._hook_began_step = False
            due = []
        else:
            due = self._begin_step()
        self._quiet = self._quiet_steps()
        if not due:
            logs = driver.train_step(iterator)
        else:
            stepped = self._due_function(driver.inner, due)
            if stepped is not None:
                function, groups = stepped
                logs = driver.call(function, iterator, tf.constant([due[i][1] for i in groups], tf.int64))
            else:
                fused = self._fused_function(driver.inner)
                if fused is None:
                    self._run(due)
                    logs = driver.train_step(iterator)
                else:
                    self._sync_steps()  # the fused update reads the steps trained before this one
                    logs = driver.call(fused, iterator)
        last = self._epoch_last_batch()
        if self._batch_hooks or last is None or self._batches > last:
            self._sync_steps()
        return logs

    def _epoch_last_batch(self):
        """The batch count at which this epoch's last batch begins, or None when unknown."""
        steps = (self.params or {}).get("steps")
        return None if not steps else self._epoch_first + int(steps) - 1

    def _quiet_steps(self):
        """How many of the coming steps the driver may pass through without looking.

        Up to the next step a schedule is due at and to the epoch's last batch (after which the
        steps are written); none when they must be written after every batch.
        """
        last = self._epoch_last_batch()
        if self._batch_hooks or last is None:
            return 0
        stop = last if self._next is None else min(self._next, last)
        return max(0, stop - self._batches)

    def _due_function(self, inner, due):
        """The training step after the mask updates of exactly the wrappers ``due``, or None.

        For wrappers whose schedules prune on a beat known in Python (:func:`is_closed_form`),
        Python already knows which wrappers prune at this step and at which step, so the traced
        update needs neither the schedule's "should prune" test nor a conditional, and wrappers
        with equal schedules and equal steps share one evaluation of the schedule. The call
        takes those steps (one per group) and returns ``(function, groups)``: ``groups`` lists,
        per step the function takes, the index in ``due`` of a wrapper of that group.

        One function is traced per set of wrappers due together (kept on ``inner`` across fits,
        like :meth:`_fused_function`); a model whose wrappers fall due in more than
        :data:`_MAX_DUE_SETS` different sets uses the general fused step for the rest. None
        for other schedules, or when ``inner`` is not a traced function.
        """
        key = tuple(id(wrapper) for wrapper, _ in due)
        found = self._due_fns.get(key)
        if found is not None or key in self._due_fns:
            return found
        found = None
        wrappers = tuple(wrapper for wrapper, _ in due)
        if isinstance(inner, tf.types.experimental.PolymorphicFunction) and all(
            is_closed_form(wrapper.pruning_schedule) for wrapper in wrappers
        ):
            cache = getattr(inner, _DUE_ATTRIBUTE, None)
            if cache is None:
                cache = {}
                setattr(inner, _DUE_ATTRIBUTE, cache)
            # Checked once per fit: the same wrappers with the same schedule objects and slots,
            # and the same differences between their steps (which decide the groups).
            first = due[0][1]
            check = tuple((wrapper, wrapper.pruning_schedule, wrapper.slot_key(), step - first) for wrapper, step in due)
            cached = cache.get(key)
            if cached is not None and len(cached[0]) == len(check) and all(
                a[0] is b[0] and a[1] is b[1] and a[2:] == b[2:] for a, b in zip(cached[0], check)
            ):
                found = cached[1]
            elif len(cache) < _MAX_DUE_SETS or key in cache:
                found = self._trace_due(inner, due)
                cache[key] = (check, found)
        self._due_fns[key] = found
        return found

    def _trace_due(self, inner, due):
        """Trace :meth:`_due_function`'s function for the wrappers ``due``."""
        groups, members = [], []
        for i, (wrapper, step) in enumerate(due):
            for g, first in enumerate(groups):
                other, other_step = due[first]
                # Due together now at the same step, so at the same steps always.
                if other_step == step and other.pruning_schedule == wrapper.pruning_schedule:
                    members[g].append(wrapper)
                    break
            else:
                groups.append(i)
                members.append([wrapper])
        schedules = [due[i][0].pruning_schedule for i in groups]

        def update(steps):
            updates = []
            for g, schedule in enumerate(schedules):
                _, sparsity = schedule(steps[g])
                updates.extend((wrapper, sparsity) for wrapper in members[g])
            update_masks_together(updates)
            return tf.constant(True)

        # Its own function call, not inlined (see _fused_function).
        update_masks = tf.function(update, autograph=False, experimental_attributes={"_noinline": True})

        def step_after_update(iterator, steps):
            with tf.control_dependencies([update_masks(steps)]):
                return inner(iterator)

        return tf.function(step_after_update, reduce_retracing=True), groups

    def _fused_function(self, inner):
        """The training step with every wrapper's mask update before it, traced once per model.

        Each wrapper reads its step from its own ``pruning_step`` (which the training steps
        advance) and updates only when its schedule prunes at that step, so one trace serves
        every combination of wrappers due and the call takes no argument of ours. None when
        ``inner`` is not a traced function (``run_eagerly``, parameter-server training).

        The traced function is kept on ``inner`` itself, so later ``fit`` calls with a new
        callback (one per epoch, say) do not trace the training step again. It is traced anew
        when a wrapper has been given another schedule since.
        """
        wrappers = tuple(entry[0] for entry in self._entries)
        key = tuple((wrapper, wrapper.pruning_schedule, wrapper.slot_key()) for wrapper in wrappers)
        cached = getattr(inner, _FUSED_ATTRIBUTE, None)
        if cached is not None and cached[0] == key:
            return cached[1]
        if not isinstance(inner, tf.types.experimental.PolymorphicFunction):
            return None

        def update_all():
            # The update runs before the step's own increment: this batch is step + 1.
            return [wrapper.mask_step_ops(wrapper.pruning_step.read_value() + 1) for wrapper in wrappers]

        # A function call of its own, not inlined: its conditionals would otherwise make the
        # executor run the whole training step in its slower control-flow mode.
        update_masks = tf.function(update_all, autograph=False, experimental_attributes={"_noinline": True})

        def step_after_update(iterator):
            # ``inner`` itself rather than its Python function, which was slower to trace here;
            # the instruction benchmark counts the same cost per step either way.
            with tf.control_dependencies(update_masks()):
                return inner(iterator)

        fused = tf.function(step_after_update, reduce_retracing=True)
        setattr(inner, _FUSED_ATTRIBUTE, (key, fused))
        return fused

    def _run(self, due):
        """Update the masks of the wrappers due, in one compiled call per set of wrappers.

        The call goes to the traced concrete function with one int64 vector of steps: the
        polymorphic ``tf.function`` dispatch on a list of tensors would cost more than a
        small model's whole mask update.
        """
        wrappers = tuple(wrapper for wrapper, _ in due)
        key = tuple((id(wrapper), wrapper.slot_key()) for wrapper in wrappers)
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
            self._sync_steps()
            apply_all_masks(self.model)

    def on_train_end(self, logs=None):
        if self.model is not None:
            self._remove_driver()
            self._sync_steps()
            for wrapper in self._gradient_masked:
                wrapper.mask_by_constraint()
            self._gradient_masked = []
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
        if not isinstance(log_dir, str) or not log_dir:
            raise ValueError(
                "PruningSummaries needs log_dir, the folder TensorBoard logs go to, as a non-empty "
                f"string, got log_dir={log_dir!r}."
            )
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
        optimizer = getattr(self.model, "optimizer", None)
        step = int(optimizer.iterations.numpy()) if optimizer is not None else 0
        with self._pruning_writer.as_default():
            for name, value in self._pruning_scalars().items():
                tf.summary.scalar(name, value, step=step)
        self._pruning_writer.flush()

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        if isinstance(self.update_freq, int) and self.update_freq > 0 and (batch + 1) % self.update_freq == 0:
            self._write_pruning()

    def on_epoch_begin(self, epoch, logs=None):
        # As tfmot's, this also logs at epoch begin, and works outside fit (custom loops call it
        # with only set_model and the model's optimizer set).
        if logs is not None:
            super().on_epoch_begin(epoch, logs)
        self._write_pruning()

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        self._write_pruning()

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        if self._pruning_writer is not None:
            self._pruning_writer.close()
            self._pruning_writer = None

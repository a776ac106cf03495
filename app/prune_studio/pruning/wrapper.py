"""The layer wrapper that prunes the layer inside it: ``PruneLowMagnitude``.

Compatible with the reference wrapper (same name, arguments, config and ``pruning_step``), but
built for speed and exactness:

* the training graph gains almost nothing: ``pruning_step`` is written by
  :class:`UpdatePruningStep` from Python (from the model's own step counter under ``fit``, so it
  is exact), not counted in the graph; masks are recomputed only on the steps the schedule
  prunes, by a second traced training step that :class:`UpdatePruningStep` calls instead of the
  plain one under ``fit`` (or by a small compiled function in custom loops);
* masks are applied through the weight variables' constraints, which every tf-keras optimizer
  applies right after its update, so the weights that training, checkpoints and stripping see
  are exactly sparse after every step, without re-assigning them in the forward pass; under
  ``fit``, with the optimizers where it gives the same weights, the gradients are masked
  instead, which is cheaper still (:mod:`gradient_masks`);
* mask and step variables are ``ON_READ`` (one copy per replica); masks are computed in
  cross-replica context from the mirrored weights and written to every replica, so all replicas
  hold identical masks under ``tf.distribute.MirroredStrategy``.
"""

import inspect
import weakref

from tensorflow.python.saved_model import save_context

from prune_studio.compat import keras, tf
from prune_studio.pruning import gradient_masks, masks, registry
from prune_studio.pruning.schedules import ConstantSparsity, PruningSchedule, deserialize

_NO_CALLBACK = (
    "this layer is being pruned, so training needs the UpdatePruningStep callback: "
    "model.fit(..., callbacks=[UpdatePruningStep()]) (in a custom loop, call its "
    "on_train_begin() once and on_train_batch_begin() before each step)."
)

_ON_READ = dict(
    trainable=False,
    synchronization=tf.VariableSynchronization.ON_READ,
    aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
)


def validate_block_size(block_size):
    """Return ``block_size`` as a tuple of two positive ints or raise ValueError."""
    try:
        size = tuple(int(v) for v in block_size)
        ok = len(size) == 2 and all(v >= 1 for v in size) and all(int(v) == v for v in block_size)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"block_size must be two positive integers such as (1, 4), got block_size={block_size!r}.")
    return size


def validate_pooling(block_pooling_type):
    """Return the pooling type upper-cased or raise ValueError unless it is AVG or MAX."""
    kind = str(block_pooling_type).upper() if isinstance(block_pooling_type, str) else None
    if kind not in ("AVG", "MAX"):
        raise ValueError(f"block_pooling_type must be 'AVG' or 'MAX', got block_pooling_type={block_pooling_type!r}.")
    return kind


def validate_m_by_n(sparsity_m_by_n):
    """Return ``(m, n)`` (m zeros in every n weights, 0 < m < n) or None; raise ValueError otherwise."""
    if sparsity_m_by_n is None:
        return None
    try:
        m, n = sparsity_m_by_n
        ok = all(isinstance(v, int) and not isinstance(v, bool) for v in (m, n)) and 0 < m < n
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(
            "sparsity_m_by_n must be two integers (m, n) with 0 < m < n, such as (2, 4), "
            f"got sparsity_m_by_n={sparsity_m_by_n!r}."
        )
    return (m, n)


def check_arguments(pruning_schedule, block_size, block_pooling_type, sparsity_m_by_n):
    """Validate the pruning arguments together; returns them normalised.

    Raises:
        ValueError: naming the argument and its value.
    """
    if not isinstance(pruning_schedule, PruningSchedule):
        raise ValueError(
            "pruning_schedule must be a PruningSchedule such as ConstantSparsity(0.5, 0), "
            f"got pruning_schedule={pruning_schedule!r}."
        )
    size = validate_block_size(block_size)
    pooling = validate_pooling(block_pooling_type)
    m_by_n = validate_m_by_n(sparsity_m_by_n)
    if m_by_n and size != (1, 1):
        raise ValueError(
            f"sparsity_m_by_n={sparsity_m_by_n!r} cannot be combined with block_size={block_size!r}; "
            "use one or the other."
        )
    return pruning_schedule, size, pooling, m_by_n


# The mask rules as traced functions that every wrapper shares: a model's weights of one shape
# and dtype trace a rule once instead of once each. Tracing the rules (their conditionals
# above all) took 4.6 of the 11 s of a 22-layer MLP's first pruned fit.
_magnitude_mask = tf.function(masks.magnitude_mask, autograph=False)
_block_mask = tf.function(masks.block_mask, autograph=False)
_m_by_n_mask = tf.function(masks.m_by_n_mask, autograph=False)


class _MaskConstraint:
    """Variable constraint ``w -> inner(w) * mask``, applied by the optimizer after each update."""

    def __init__(self, mask, inner):
        self.mask = mask
        self.inner = inner

    def __call__(self, w):
        if self.inner is not None:
            w = self.inner(w)
        return w * tf.cast(self.mask, w.dtype)


class _Untracked:
    """Holds ``(weight, mask, threshold)`` triples out of Keras' automatic tracking.

    A tracked list would make Keras count the inner layer's weights as the wrapper's own and
    break loading ``.keras`` files. ``constraints`` holds each weight's mask constraint and
    ``slots`` the optimizer slots zeroed with the weights a mask update prunes (see
    :meth:`PruneLowMagnitude.mask_gradients`).
    """

    def __init__(self):
        self.items = []
        self.constraints = []
        self.slots = []


def _set_constraint(variable, constraint):
    for component in getattr(variable, "values", None) or (variable,):
        component._constraint = constraint


def _store_mask(weight, value, mask, threshold, slots, new_mask, new_threshold):
    """Write a mask update: the mask, its threshold, ``weight = value * mask`` and its slots."""
    mask.assign(new_mask)
    threshold.assign(new_threshold)
    weight.assign(value * new_mask)
    for slot in slots:
        slot.assign(slot * tf.cast(new_mask, slot.dtype))


def update_masks_together(updates):
    """``wrapper.update_masks(sparsity)`` for each ``(wrapper, sparsity)``, in one batch where possible.

    The thresholds of every weight pruned by magnitude alone are found together
    (:func:`masks.kth_largest_each`), so the ops of a mask update do not grow with the number of
    layers; the masks are the same as each wrapper's own update would make.
    """
    items, sparsities = [], []
    for wrapper, sparsity in updates:
        if not wrapper.by_magnitude_alone():
            wrapper.update_masks(sparsity)
            continue
        for triple, slots in zip(wrapper.pruning_vars, wrapper._vars.slots):
            items.append((triple, slots))
            sparsities.append(tf.cast(sparsity, tf.float32))
    if not items:
        return
    values = [weight.read_value() for (weight, _, _), _ in items]
    magnitudes = [tf.abs(value) for value in values]
    sizes = tf.constant([int(value.shape.num_elements()) for value in values], tf.int32)
    keep = masks.keep_count(sizes, tf.stack(sparsities))
    thresholds = masks.kth_largest_each([tf.reshape(m, [-1]) for m in magnitudes], keep)
    for i, (((weight, mask, threshold), slots), value, magnitude) in enumerate(zip(items, values, magnitudes)):
        new_mask = tf.cast(magnitude >= thresholds[i], weight.dtype)
        _store_mask(weight, value, mask, threshold, slots, new_mask, thresholds[i])


class PruneLowMagnitude(keras.layers.Wrapper):
    """Wraps a layer and prunes its weights by magnitude during training.

    Args:
        layer: the Keras layer to prune (see :func:`registry.prunability`).
        pruning_schedule: a :class:`PruningSchedule`; default ``ConstantSparsity(0.5, 0)``.
        block_size: ``(rows, cols)`` blocks pruned together (rank-2 weights only).
        block_pooling_type: ``'AVG'`` or ``'MAX'``, how a block's magnitude is scored.
        sparsity_m_by_n: ``(m, n)``: m zeros in every n weights along the input channels.
        **kwargs: Keras layer arguments (``name`` defaults to ``prune_low_magnitude_<layer>``).
    """

    def __init__(
        self,
        layer,
        pruning_schedule=ConstantSparsity(0.5, 0),
        block_size=(1, 1),
        block_pooling_type="AVG",
        sparsity_m_by_n=None,
        **kwargs,
    ):
        if not isinstance(layer, keras.layers.Layer):
            raise ValueError(
                f"Please initialize `Prune` layer with a `Layer` instance. You passed: {layer!r}"
            )
        checked = check_arguments(pruning_schedule, block_size, block_pooling_type, sparsity_m_by_n)
        kind = registry.wrap_kind(layer)
        if kind not in ("prune", "no-op"):
            _, reason = registry.prunability(layer)
            raise ValueError(
                f"Layer {layer.name!r} ({type(layer).__name__}) cannot be wrapped for pruning: "
                f"{reason or 'it is not a layer type the pruning engine supports.'}"
            )
        registry.make_prunable(layer)  # layer.get_prunable_weights(), as tfmot's registry gives it
        kwargs.setdefault("name", f"prune_low_magnitude_{layer.name}")
        super().__init__(layer, **kwargs)
        self.pruning_schedule, self.block_size, self.block_pooling_type, self.sparsity_m_by_n = checked
        self._prunable = kind == "prune"
        if not hasattr(self, "_batch_input_shape") and hasattr(layer, "_batch_input_shape"):
            self._batch_input_shape = layer._batch_input_shape  # a Sequential's first layer
        self._vars = _Untracked()
        self._vars_ready = False
        self.started = False
        # Whether training graphs count ``pruning_step`` and update the masks themselves (fit
        # with several steps per execution); otherwise UpdatePruningStep does both from
        # Python, which costs the training step nothing.
        self.step_in_graph = False
        self._stepped = weakref.WeakKeyDictionary()
        self._call_has_training = "training" in inspect.signature(layer.call).parameters

    # ----------------------------------------------------------------- building
    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        super().build(input_shape)
        self.pruning_step = self.add_weight(
            "pruning_step", shape=[], dtype=tf.int64, initializer=keras.initializers.Constant(-1), **_ON_READ
        )
        if self._prunable and self._inner_has_weights():
            self._make_pruning_vars()

    def _inner_has_weights(self):
        """False for a MultiHeadAttention whose weights appear only when first called."""
        if isinstance(self.layer, keras.layers.MultiHeadAttention):
            parts = [getattr(self.layer, name, None) for name in registry.MHA_PARTS]
            return self.layer._built_from_signature and all(p is not None and p.built for p in parts)
        return True

    def _make_pruning_vars(self):
        """Create a mask and a threshold per prunable weight and hook the masks in."""
        weights = registry.prunable_weights(self.layer)
        self._check_shapes(weights)
        used = set()
        for weight in weights:
            base = weight.name.split("/")[-1].split(":")[0]
            name, i = base, 1
            while name in used:
                name, i = f"{base}_{i}", i + 1
            used.add(name)
            mask = self.add_weight(
                f"{name}_mask", shape=weight.shape, dtype=weight.dtype, initializer="ones", **_ON_READ
            )
            threshold = self.add_weight(
                f"{name}_threshold", shape=[], dtype=weight.dtype, initializer="zeros", **_ON_READ
            )
            inner = weight.constraint
            if isinstance(inner, _MaskConstraint):  # a layer wrapped again: the new masks take over
                inner = inner.inner
            constraint = _MaskConstraint(mask, inner)
            _set_constraint(weight, constraint)
            self._vars.items.append((weight, mask, threshold))
            self._vars.constraints.append(constraint)
            self._vars.slots.append([])
        self._vars_ready = True

    def _check_shapes(self, weights):
        for weight in weights:
            shape = tuple(weight.shape)
            if self.block_size != (1, 1) and len(shape) != 2:
                raise ValueError(
                    f"Block sparsity (block_size={self.block_size}) can only be used for layers with "
                    f"2-dimensional weights; {self.layer.name!r} has a weight of shape {shape}."
                )
            if self.sparsity_m_by_n:
                n = self.sparsity_m_by_n[1]
                if len(shape) < 2 or shape[-2] < n:
                    raise ValueError(
                        f"sparsity_m_by_n={self.sparsity_m_by_n} needs weights of rank >= 2 with at "
                        f"least {n} input channels; {self.layer.name!r} has a weight of shape {shape}."
                    )

    @property
    def pruning_vars(self):
        """``[(weight, mask, threshold), ...]``, one triple per pruned weight."""
        return list(self._vars.items)

    # ----------------------------------------------------------------- masks
    def _new_mask(self, weight, sparsity):
        if self.sparsity_m_by_n:
            return _m_by_n_mask(weight, self.sparsity_m_by_n)
        sparsity = tf.cast(sparsity, tf.float32)
        if self.block_size != (1, 1):
            return _block_mask(weight, sparsity, self.block_size, self.block_pooling_type)
        return _magnitude_mask(weight, sparsity)

    def update_masks(self, sparsity):
        """Recompute every mask for ``sparsity`` and zero the pruned weights (and their slots)."""
        for (weight, mask, threshold), slots in zip(self.pruning_vars, self._vars.slots):
            new_threshold, new_mask = self._new_mask(weight, sparsity)
            _store_mask(weight, weight, mask, threshold, slots, new_mask, new_threshold)

    def by_magnitude_alone(self):
        """Whether every mask is plain magnitude pruning of a float32 weight (no blocks, no m:n)."""
        return (
            self.block_size == (1, 1)
            and not self.sparsity_m_by_n
            and all(weight.dtype == tf.float32 for weight, _, _ in self.pruning_vars)
        )

    def mask_gradients(self, optimizer):
        """Keep the pruned weights at zero through ``optimizer``'s gradients, not the constraint.

        For an optimizer :func:`gradient_masks.can_mask_gradients` accepts (the caller checks),
        built for this layer's weights. Weights with a constraint of their own keep the mask
        constraint. Undone by :meth:`mask_by_constraint`; the gradients stay masked, which is
        then redundant and harmless.
        """
        pairs = []
        for i, (weight, mask, _) in enumerate(self.pruning_vars):
            if self._vars.constraints[i].inner is None:
                pairs.append((weight, mask))
                self._vars.slots[i] = gradient_masks.moment_slots(optimizer, weight)
                for slot in self._vars.slots[i]:  # from an earlier fit or custom loop
                    slot.assign(slot * tf.cast(mask, slot.dtype))
                _set_constraint(weight, None)
        gradient_masks.install(optimizer, pairs)

    def slot_key(self):
        """Which optimizer slots mask updates zero: traced mask updates are kept per key."""
        return tuple(tuple(id(slot) for slot in slots) for slots in self._vars.slots)

    def mask_by_constraint(self):
        """Put the mask constraints back (after :meth:`mask_gradients`)."""
        for (weight, _, _), constraint in zip(self.pruning_vars, self._vars.constraints):
            _set_constraint(weight, constraint)

    def mask_step_ops(self, step, due=False):
        """Graph ops of one schedule step: update the masks when the schedule prunes at ``step``.

        ``due=True`` says the caller already knows the schedule prunes at ``step``, which saves
        the conditional.
        """
        should_prune, sparsity = self.pruning_schedule(step)
        if due:
            self.update_masks(sparsity)
            return tf.constant(True)

        def update():
            self.update_masks(sparsity)
            return tf.constant(True)

        return tf.cond(should_prune, update, lambda: tf.constant(False))

    def apply_masks(self):
        """Zero the pruned weights now (``weights *= mask``); a no-op when they already are."""
        for weight, mask, _ in self.pruning_vars:
            weight.assign(weight * tf.cast(mask, weight.dtype))

    def _first_call_this_step(self):
        """False for a second call of a shared wrapper in the same traced step and replica."""
        if tf.executing_eagerly():
            return True
        graph = tf.compat.v1.get_default_graph()
        replica = id(tf.distribute.get_replica_context())
        seen = self._stepped.setdefault(graph, set())
        if replica in seen:
            return False
        seen.add(replica)
        return True

    def _training_update(self):
        if not self.started:
            if save_context.in_save_context():
                # Tracing for a SavedModel before any training: keep the reference's run-time
                # check in the saved graph (its callback sets the step before training).
                step = self.pruning_step.assign_add(1)
                tf.debugging.assert_greater_equal(step, tf.constant(1, tf.int64), message=_NO_CALLBACK)
                return
            # The reference's error type (its check runs in the graph; ours when tracing).
            raise tf.errors.InvalidArgumentError(None, None, f"Layer {self.name!r}: {_NO_CALLBACK}")
        if self.step_in_graph:
            step = self.pruning_step.assign_add(1)
            if self.pruning_vars:
                self.mask_step_ops(step)

    # ----------------------------------------------------------------- calling
    def call(self, inputs, *args, training=None, **kwargs):
        if self._prunable and not self._vars_ready:
            if not self._inner_has_weights():
                self.layer.call(inputs, *args, **kwargs)  # creates the weights
            self._make_pruning_vars()
        if training is None:
            training = keras.backend.learning_phase()
        if isinstance(training, (bool, int)):
            if training and self._first_call_this_step():
                self._training_update()
        elif self._first_call_this_step():
            tf.cond(
                tf.cast(training, tf.bool),
                lambda: (self._training_update(), tf.constant(True))[1],
                lambda: tf.constant(False),
            )
        if self._call_has_training:
            kwargs["training"] = training
        return self.layer.call(inputs, *args, **kwargs)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def compute_mask(self, inputs, mask=None):
        return self.layer.compute_mask(inputs, mask)

    # ----------------------------------------------------------------- config
    def get_prunable_weights(self):
        """The weights this wrapper prunes."""
        return [weight for weight, _, _ in self.pruning_vars]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "pruning_schedule": self.pruning_schedule.get_config(),
                "block_size": list(self.block_size),
                "block_pooling_type": self.block_pooling_type,
                "sparsity_m_by_n": list(self.sparsity_m_by_n) if self.sparsity_m_by_n else None,
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        schedule = deserialize(config.pop("pruning_schedule"), custom_objects)
        layer = keras.layers.deserialize(config.pop("layer"), custom_objects=custom_objects)
        m_by_n = config.pop("sparsity_m_by_n", None)
        config["sparsity_m_by_n"] = tuple(m_by_n) if m_by_n else None
        config["block_size"] = tuple(config.get("block_size", (1, 1)))
        return cls(layer, pruning_schedule=schedule, **config)

    @property
    def trainable(self):
        return self.layer.trainable

    @trainable.setter
    def trainable(self, value):
        self.layer.trainable = value

    @property
    def trainable_weights(self):
        return self.layer.trainable_weights

    @property
    def non_trainable_weights(self):
        return self.layer.non_trainable_weights + self._non_trainable_weights

"""Keeping pruned weights at zero by masking their gradients, where that is exact.

The masks can reach the weights in two ways during ``fit``:

* the mask constraint (``w = w * mask`` after every optimizer update), which works with any
  optimizer but reads, multiplies and writes every pruned weight on every step;
* the gradients (``g = g * mask`` before the update): one multiply, no extra read or write.

The second gives the same weights as the first when the optimizer leaves a weight alone whose
gradient and first-moment slot are both zero. That holds for tf-keras' SGD, Adam, AdamW,
Adamax, RMSprop, Adagrad, Adadelta and Lion, once the first-moment slots of newly pruned
weights are zeroed at each mask update, as long as no gradient-norm clipping (which would see
the masked gradients) and no moving average of the weights (which would bring old values back)
is configured. Other optimizers keep the constraint: Ftrl and Adafactor (whose updates do not
vanish with the gradient), legacy and loss-scale optimizers, subclasses, and Nadam (its
momentum schedule is advanced by a Python counter while it is traced, so its steps depend on
how often the training step was traced, which differs between the two paths).
"""

from prune_studio.compat import keras, tf

_OPTIMIZERS = keras.optimizers
#: Optimizer class -> its first-moment slot lists (indexed like the optimizer's variables).
_MOMENT_SLOTS = {
    _OPTIMIZERS.SGD: ("momentums",),
    _OPTIMIZERS.Adam: ("_momentums",),
    _OPTIMIZERS.AdamW: ("_momentums",),
    _OPTIMIZERS.Adamax: ("_m",),
    _OPTIMIZERS.RMSprop: ("_momentums",),
    _OPTIMIZERS.Adagrad: (),
    _OPTIMIZERS.Adadelta: (),
    _OPTIMIZERS.Lion: ("momentums",),
}
#: Where an optimizer patched by :func:`install` keeps its masks: variable key -> mask.
_MASKS_ATTRIBUTE = "_prune_studio_gradient_masks"


def can_mask_gradients(optimizer, model=None):
    """Whether masking gradients gives ``optimizer`` exactly the weights the constraint would.

    Only without a distribution strategy (``model``'s or the current one): replicas would each
    need their own copy of the masks.
    """
    if type(optimizer) not in _MOMENT_SLOTS:  # exact classes: a subclass may update otherwise
        return False
    if getattr(optimizer, "use_ema", False):
        return False
    if getattr(optimizer, "clipnorm", None) is not None or getattr(optimizer, "global_clipnorm", None) is not None:
        return False
    strategy = getattr(model, "distribute_strategy", None)
    if strategy is not None and strategy.num_replicas_in_sync != 1:
        return False
    return not tf.distribute.has_strategy()


def _masked(gradient, mask):
    if isinstance(gradient, tf.IndexedSlices):  # Embedding rows: mask the rows updated
        rows = tf.gather(tf.cast(mask, gradient.values.dtype), gradient.indices)
        return tf.IndexedSlices(gradient.values * rows, gradient.indices, gradient.dense_shape)
    return gradient * tf.cast(mask, gradient.dtype)


def install(optimizer, pairs):
    """Make ``optimizer`` multiply the gradient of each ``(weight, mask)`` pair by its mask.

    The optimizer's own ``update_step`` is wrapped once, on the instance; later calls only add
    masks. Variables without a mask are updated exactly as before.
    """
    masks = getattr(optimizer, _MASKS_ATTRIBUTE, None)
    if masks is None:
        masks = {}
        setattr(optimizer, _MASKS_ATTRIBUTE, masks)
        update_step = optimizer.update_step

        def masked_update_step(gradient, variable):
            mask = masks.get(optimizer._var_key(variable))
            if mask is not None:
                gradient = _masked(gradient, mask)
            return update_step(gradient, variable)

        optimizer.update_step = masked_update_step
    for weight, mask in pairs:
        masks[optimizer._var_key(weight)] = mask


def moment_slots(optimizer, weight):
    """The first-moment slot variables of ``weight`` in a built ``optimizer`` (may be empty)."""
    index = getattr(optimizer, "_index_dict", {}).get(optimizer._var_key(weight))
    if index is None:
        return []
    slots = []
    for attribute in _MOMENT_SLOTS.get(type(optimizer), ()):
        values = getattr(optimizer, attribute, None) or []
        if index < len(values):
            slots.append(values[index])
    return slots

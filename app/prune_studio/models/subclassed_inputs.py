"""Input layers for a built subclassed model, so it can be described, trained and exported.

A subclassed model (a ``keras.Model`` subclass with its own ``call()``) has no ``inputs``, even
when built. Opened from a file, it is given Input layers, from its saved call signature
(SavedModel) or its build shape (``.keras``/``.h5``), and comes back as a one-layer Functional
model around it.
"""

from __future__ import annotations


def _input_specs(model):
    """``(structure, [(shape without batch, dtype, name)])`` of ``model``'s call input, or None."""
    from prune_studio.compat import tf

    try:
        args, kwargs = model.save_spec()
    except (AttributeError, TypeError, ValueError):
        args, kwargs = None, None
    if args is not None:
        specs = tf.nest.flatten(args)
        if kwargs or not specs or not all(isinstance(s, tf.TensorSpec) for s in specs):
            return None
        return args, [(s.shape[1:], s.dtype, s.name or None) for s in specs]
    shape = getattr(model, "_build_input_shape", None)
    if shape is None:
        return None
    try:
        dims = tf.TensorShape(shape)
    except (TypeError, ValueError):
        return None  # several inputs: their structure is not known from the shape alone
    if dims.rank is None or dims.rank < 1:
        return None
    return [None], [(dims[1:], tf.float32, None)]


def with_inputs(model):
    """``model`` wrapped with Input layers when it is a built subclassed model without inputs.

    Models that already have inputs, are not built, or whose inputs cannot be told come back
    unchanged.
    """
    from prune_studio.compat import keras, tf

    if getattr(model, "inputs", None) or not getattr(model, "built", False):
        return model
    found = _input_specs(model)
    if found is None:
        return model
    structure, specs = found
    inputs = [keras.Input(shape=shape, dtype=dtype, name=name) for shape, dtype, name in specs]
    structured = tf.nest.pack_sequence_as(structure, inputs)
    call_args = structured[0] if len(structured) == 1 else structured
    try:
        return keras.Model(inputs if len(inputs) > 1 else inputs[0], model(call_args), name=model.name)
    except Exception:  # noqa: BLE001 - a call that cannot run symbolically stays as it was
        return model

"""Which of a model's inputs carry indices (token ids, categories) rather than values.

An input carries indices when its dtype is an integer one, or when it feeds an ``Embedding``
directly. The export keeps such inputs ``int32`` in TFLite files, and the data check never
takes their values for 0-255 pixels.
"""

from __future__ import annotations

from prune_studio.compat import keras, tf


def index_inputs(model) -> list[bool]:
    """Per model input, in the model's order: does it carry indices?"""
    flags = []
    for tensor in model.inputs:
        integer = tf.as_dtype(tensor.dtype).is_integer
        if not integer:
            for layer in model.layers:
                inbound = getattr(layer, "_inbound_nodes", [])
                if isinstance(layer, keras.layers.Embedding) and any(
                    any(t is tensor for t in tf.nest.flatten(node.input_tensors)) for node in inbound
                ):
                    integer = True
        flags.append(integer)
    return flags

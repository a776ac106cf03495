"""Small real models for channel-removal tests, and a helper that silences channels exactly.

``silence(model, graph, group, channels)`` sets the weights so the given channels of a group are
exactly zero wherever they appear (producer filters and biases, BatchNormalization shift and
mean, depthwise biases, a head's value projection); removing them must then change nothing.
"""

import numpy as np
import pytest

from prune_studio.compat import keras


def randomize(model, seed=0):
    """Random weights everywhere, with BatchNormalization statistics that matter."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        if isinstance(layer, keras.layers.BatchNormalization):
            new = []
            for w, var in zip(weights, layer.weights):
                if "moving_variance" in var.name:
                    new.append(rng.uniform(0.5, 2.0, w.shape))
                else:
                    new.append(rng.normal(0.3, 0.5, w.shape))
            layer.set_weights([w.astype("float32") for w in new])
        else:
            layer.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in weights])


def _positions(graph, vector, roots):
    return np.nonzero(np.isin(graph.root_of[vector], roots))[0]


def silence(model, graph, group_name, channels):
    """Make ``channels`` of ``group_name`` exactly zero everywhere in ``model``."""
    group = graph.group(group_name)
    roots = group.nodes[np.asarray(channels)]
    for record in graph.records.values():
        layer = model.get_layer(record.name)
        cls = type(layer).__name__
        if record.handler == "producer" and record.output is not None:
            j = _positions(graph, record.output, roots)
            w = layer.get_weights()
            k = 1 if cls.startswith("Separable") else 0
            if cls == "Conv2DTranspose":
                w[k][..., j, :] = 0
            else:
                w[k][..., j] = 0
            for b in w[k + 1:]:
                b[j] = 0
            layer.set_weights(w)
        elif record.handler == "bn":
            j = _positions(graph, record.inputs[0], roots)
            w = layer.get_weights()
            for var, value in zip(layer.weights, w):
                if "beta" in var.name or "moving_mean" in var.name:
                    value[j] = 0
            layer.set_weights(w)
        elif record.handler == "depthwise" and layer.use_bias:
            j = _positions(graph, record.inputs[0], roots)
            w = layer.get_weights()
            w[1][j] = 0
            layer.set_weights(w)
        elif record.handler == "mha":
            j = _positions(graph, record.output, roots)
            w = layer._output_dense.get_weights()
            w[0][..., j] = 0
            if len(w) > 1:
                w[1][j] = 0
            layer._output_dense.set_weights(w)
            h = _positions(graph, record.heads, roots)
            for dense in (layer._query_dense, layer._key_dense, layer._value_dense):
                w = dense.get_weights()
                w[0][:, h] = 0
                if len(w) > 1:
                    w[1][h] = 0
                dense.set_weights(w)
            w = layer._output_dense.get_weights()
            w[0][h] = 0
            layer._output_dense.set_weights(w)


@pytest.fixture
def silenced():
    return silence


@pytest.fixture
def randomized():
    return randomize

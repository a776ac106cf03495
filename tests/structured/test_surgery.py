"""Surgery keeps the model's function: channels silenced first can be removed without a trace."""

import numpy as np
import pytest

import models
from prune_studio.compat import keras
from prune_studio.structured import analyze, channel_importance, model_cost, select_uniform, shrink


def _inputs(model, n=3, seed=1):
    shape = (n,) + tuple(model.input_shape[1:])
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


@pytest.mark.parametrize("name", sorted(models.ALL))
def test_removing_silenced_channels_of_every_group_keeps_outputs(name, randomized, silenced):
    model = models.ALL[name]()
    randomized(model)
    graph = analyze(model)
    groups = graph.prunable_groups()
    assert groups, f"{name} has no prunable group"
    selection = {}
    for g in groups:
        drop = np.arange(0, g.size, 3)[: max(1, g.size // 3)]
        silenced(model, graph, g.name, drop)
        selection[g.name] = np.setdiff1d(np.arange(g.size), drop)
    x = _inputs(model)
    before = model(x, training=False).numpy()
    small = shrink(model, graph, selection)
    after = small(x, training=False).numpy()
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5)
    assert small.count_params() == model_cost(graph, selection).params < model.count_params()
    assert not any("prune" in type(layer).__name__.lower() for layer in small.layers)


@pytest.mark.parametrize("name", sorted(models.ALL))
def test_importance_finds_the_silenced_channels(name, randomized, silenced):
    model = models.ALL[name]()
    randomized(model, seed=3)
    graph = analyze(model)
    dropped = {}
    for g in graph.prunable_groups():
        drop = np.array([g.size - 1, 0]) if g.size > 2 else np.array([0])
        silenced(model, graph, g.name, drop)
        dropped[g.name] = drop
    for criterion in ("l1", "l2"):
        scores = channel_importance(graph, criterion)
        for g in graph.prunable_groups():
            keep = (g.size - len(dropped[g.name])) / g.size
            chosen = select_uniform(graph, scores, per_group={g.name: keep}, keep_ratio=1.0, round_to=1)
            assert sorted(set(range(g.size)) - set(chosen[g.name].tolist())) == sorted(dropped[g.name].tolist())


def test_widths_of_the_shrunk_model():
    model = models.residual()
    graph = analyze(model)
    selection = {"stem": [0, 1, 2, 5], "inner": [1, 3, 5, 7, 9], "fc": [0, 2]}
    small = shrink(model, graph, selection)
    for layer in ("stem", "a_conv", "b_conv", "c_conv"):
        assert small.get_layer(layer).filters == 4
    assert small.get_layer("inner").filters == 5
    assert small.get_layer("stem_bn").gamma.shape == (4,)
    assert small.get_layer("fc").kernel.shape == (4 * 4 * 4, 2)  # each kept channel: 16 flatten inputs
    assert small.get_layer("out").kernel.shape == (2, 3)
    assert small.output_shape == model.output_shape


def test_attention_heads_and_separable_widths():
    model = models.attention()
    graph = analyze(model)
    small = shrink(model, graph, {"mha/heads": [0, 3], "conv1d": [0, 1, 2, 3, 4, 5]})
    mha = small.get_layer("mha")
    assert mha._num_heads == 2 and mha._output_dense.kernel.shape == (2, 3, 6)
    assert small.get_layer("ffn").kernel.shape == (6, 12)
    model = models.depthwise_separable()
    graph = analyze(model)
    small = shrink(model, graph, {"conv": [0, 2, 4, 6], "sep": [0, 1, 2]})
    sep = small.get_layer("sep")
    assert sep.depthwise_kernel.shape == (3, 3, 4, 2) and sep.pointwise_kernel.shape == (1, 1, 8, 3)
    assert small.get_layer("dw").depthwise_kernel.shape == (3, 3, 4, 1)
    assert small.get_layer("reshape").output_shape == (None, 3 * 3 * 6)


def test_shrunk_model_trains_saves_and_reloads(tmp_path):
    model = models.sequential()
    graph = analyze(model)
    small = shrink(model, graph, select_uniform(graph, channel_importance(graph), 0.5, round_to=4))
    assert small.get_layer("conv").filters == 4 and small.get_layer("hidden").units == 8
    small.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = _inputs(small, 32)
    y = np.arange(32) % 3
    small.fit(x, y, epochs=1, verbose=0)
    small.save(tmp_path / "small.keras")
    again = keras.models.load_model(tmp_path / "small.keras")
    np.testing.assert_allclose(again(x[:4]).numpy(), small(x[:4]).numpy(), rtol=1e-6, atol=1e-6)
    assert isinstance(again, keras.Sequential)


def test_the_original_model_is_left_unchanged():
    model = models.conv_chain()
    x = _inputs(model)
    before = model(x).numpy()
    weights = [w.copy() for w in model.get_weights()]
    graph = analyze(model)
    shrink(model, graph, {"conv_a": [0, 1, 2, 3]})
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))
    np.testing.assert_array_equal(model(x).numpy(), before)


@pytest.mark.parametrize("name", sorted(models.ALL))
def test_the_fast_rebuild_matches_keras_own_rebuild(name, randomized):
    """Surgery wires the new model without tracing most layers; Keras' from_config must agree."""
    model = models.ALL[name]()
    randomized(model, seed=5)
    graph = analyze(model)
    small = shrink(model, graph, select_uniform(graph, channel_importance(graph), 0.5, round_to=2))
    assert not small.dynamic and not any(layer._dynamic for layer in small.layers)
    reference = type(small).from_config(small.get_config())
    reference.set_weights(small.get_weights())
    assert [layer.output_shape for layer in reference.layers] == [layer.output_shape for layer in small.layers]
    x = _inputs(model)
    np.testing.assert_array_equal(reference(x, training=False).numpy(), small(x, training=False).numpy())

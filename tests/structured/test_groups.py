"""Dependency groups: which channels are coupled, which are fixed, and why."""

import numpy as np
import pytest

import models
from prune_studio.compat import keras
from prune_studio.structured import StructureError, analyze, keras_cost, model_cost

L = keras.layers


def _by_producers(graph):
    return {tuple(g.producers): g for g in graph.groups}


def test_residual_adds_and_subtract_tie_every_producer():
    graph = analyze(models.residual())
    groups = _by_producers(graph)
    tied = groups[("stem", "a_conv", "b_conv", "c_conv")]
    assert tied.prunable and tied.size == 8 and tied.name == "stem"
    for layer in ("stem_bn", "a_bn", "inner", "fc"):
        assert layer in tied.layers  # BN slices and the consumers that lose inputs
    assert groups[("inner",)].prunable
    assert not groups[("out",)].prunable and "model output" in groups[("out",)].reason
    assert graph.skipped == {}


def test_concatenate_keeps_offsets_and_multiply_ties_the_gate():
    graph = analyze(models.gated_concat())
    groups = _by_producers(graph)
    assert groups[("conv", "se_expand")].size == 8  # the gate's Dense is tied to the gated conv
    assert groups[("side",)].size == 4
    mix_in = graph.records["mix"].inputs[0]
    conv_roots = set(groups[("conv", "se_expand")].nodes.tolist())
    assert [int(r) in conv_roots for r in graph.root_of[mix_in]] == [True] * 8 + [False] * 4


def test_depthwise_passes_channels_and_flatten_repeats_them():
    graph = analyze(models.depthwise_separable())
    conv = graph.group("conv")
    assert {"bn1", "dw", "bn2", "sep"} <= set(conv.layers)
    assert graph.records["out"].inputs[0].shape == (3 * 3 * 6,)
    pw = graph.group("pw")
    assert set(graph.root_of[graph.records["out"].inputs[0]].tolist()) == set(pw.nodes.tolist())


def test_attention_has_a_heads_group():
    graph = analyze(models.attention())
    heads = graph.group("mha/heads")
    assert heads.kind == "heads" and heads.size == 4 and heads.prunable
    assert graph.group("conv1d").producers == ["conv1d", "mha"]


def test_layers_it_cannot_follow_are_listed_and_their_channels_stay():
    inp = L.Input((6, 6, 3))
    x = L.Conv2D(8, 3, name="a")(inp)
    y = L.LayerNormalization(name="norm")(x)
    z = L.Lambda(lambda t: t * 2.0, name="double")(L.Conv2D(4, 1, name="b")(y))
    w = L.Conv2D(5, 1, name="c")(z)
    out = L.Dense(2, name="out")(L.Flatten()(w))
    graph = analyze(keras.Model(inp, out))
    assert set(graph.skipped) == {"norm", "double"}
    assert "not followed" in graph.skipped["norm"]
    assert not graph.group("a").prunable and "norm" in graph.group("a").reason
    assert not graph.group("b").prunable and "double" in graph.group("b").reason
    assert graph.group("c").prunable
    with pytest.raises(StructureError, match="cannot be removed"):
        graph.keep_nodes({"a": [0, 1]})


def test_softmax_and_broadcasts_block_and_shared_layers_tie_their_calls():
    inp = L.Input((4, 4, 3))
    a = L.Conv2D(6, 1, name="a")(inp)
    soft = L.Activation("softmax", name="soft")(a)
    shared = L.Conv2D(6, 1, name="shared")
    b = L.Conv2D(6, 1, name="b")(inp)
    c = L.Conv2D(6, 1, name="c")(inp)
    x = L.Add()([shared(b), shared(c), soft])
    model = keras.Model(inp, L.GlobalAveragePooling2D()(x))
    graph = analyze(model)
    assert "soft" in graph.skipped
    assert not graph.group("a").prunable
    assert graph.group("b").producers == ["b", "c"]  # one kernel slices both calls' inputs


def test_subclassed_models_are_refused_in_a_sentence():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.d = L.Dense(3)

        def call(self, x):
            return self.d(x)

    net = Net()
    net(np.zeros((1, 4), "float32"))
    with pytest.raises(StructureError, match="subclassed"):
        analyze(net)


def test_bad_selections_say_what_is_valid():
    graph = analyze(models.sequential())
    with pytest.raises(StructureError, match="no channel group named 'nope'"):
        graph.keep_nodes({"nope": [0]})
    with pytest.raises(StructureError, match="channels 0 to 7"):
        graph.keep_nodes({"conv": [0, 9]})
    with pytest.raises(StructureError, match="keep at least one"):
        graph.keep_nodes({"conv": []})


def test_costs_match_keras_counts_and_the_known_mobilenet_flops():
    model = keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10)
    cost = keras_cost(model)
    assert cost.params == model.count_params()
    # 10.7 million multiply-accumulates at 96x96, alpha 0.35 (1000-class head: 11 M)
    assert 10.5e6 < cost.flops / 2 < 11.0e6
    graph = analyze(model)
    assert graph.skipped == {}
    assert len(graph.prunable_groups()) == 25  # every block but the 10-class output
    half = {g.name: np.arange(g.size // 2) for g in graph.prunable_groups() if g.size >= 16}
    assert model_cost(graph, half).flops < 0.45 * cost.flops

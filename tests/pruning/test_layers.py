"""Every layer type the reference supports is pruned to the exact sparsity in real training."""

import numpy as np
import pytest

from prune_studio.compat import keras
from prune_studio import pruning

L = keras.layers


def _cases():
    """Name -> (input shape, layer) for each supported layer type."""
    return {
        "Dense": ((6,), L.Dense(8)),
        "Conv1D": ((8, 3), L.Conv1D(4, 3)),
        "Conv2D": ((6, 6, 2), L.Conv2D(4, 3)),
        "Conv3D": ((4, 4, 4, 2), L.Conv3D(4, 2)),
        "Conv1DTranspose": ((5, 3), L.Conv1DTranspose(4, 3)),
        "Conv2DTranspose": ((4, 4, 2), L.Conv2DTranspose(4, 3)),
        "Conv3DTranspose": ((3, 3, 3, 2), L.Conv3DTranspose(4, 2)),
        "SeparableConv1D": ((8, 4), L.SeparableConv1D(6, 3)),
        "SeparableConv2D": ((6, 6, 4), L.SeparableConv2D(6, 3)),
        "DepthwiseConv2D": ((6, 6, 4), L.DepthwiseConv2D(3, depth_multiplier=2)),
        "Embedding": ((5,), L.Embedding(20, 8)),
        "SimpleRNN": ((4, 3), L.SimpleRNN(6)),
        "LSTM": ((4, 3), L.LSTM(6)),
        "GRU": ((4, 3), L.GRU(6)),
        "RNN(LSTMCell)": ((4, 3), L.RNN(L.LSTMCell(6))),
        "RNN(stacked cells)": ((4, 3), L.RNN([L.GRUCell(5), L.SimpleRNNCell(4)])),
        "LocallyConnected1D": ((6, 2), L.LocallyConnected1D(3, 2)),
    }


def test_every_supported_layer_type_is_pruned_to_exact_sparsity():
    """One multi-input model holds every type, so one compile and one short fit cover them all."""
    keras.utils.set_random_seed(3)
    cases = _cases()
    inputs, outputs, xs = [], [], []
    rng = np.random.default_rng(0)
    for name, (shape, layer) in cases.items():
        inp = keras.Input(shape, name=f"in_{layer.name}")
        inputs.append(inp)
        outputs.append(L.Flatten()(layer(inp)))
        x = rng.integers(0, 20, (8,) + shape) if name == "Embedding" else rng.normal(size=(8,) + shape)
        xs.append(x.astype("float32"))
    model = keras.Model(inputs, L.Dense(1, name="head")(L.Concatenate()(outputs)))
    pruned = pruning.prune_low_magnitude(model, pruning.ConstantSparsity(0.6, 0, frequency=1))
    pruned.compile("sgd", "mse")
    pruned.fit(xs, np.zeros((8, 1)), batch_size=4, callbacks=[pruning.UpdatePruningStep()], verbose=0)
    assert pruning.get_skipped_layers(pruned) == {}
    for name, (_, layer) in cases.items():
        weights = pruned.get_layer(f"prune_low_magnitude_{layer.name}").get_prunable_weights()
        expected_count = 2 * (2 if "stacked" in name else 1) if "RNN" in name or name in ("LSTM", "GRU") else 1
        assert len(weights) == expected_count, name
        for weight in weights:
            n = int(np.prod(weight.shape))
            assert np.count_nonzero(weight.numpy()) == max(1, round(n * 0.4)), (name, weight.name)


def test_multi_head_attention_kernels_are_pruned():
    keras.utils.set_random_seed(4)
    inp = keras.Input((4, 8))
    att = L.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(inp, inp)
    model = keras.Model(inp, L.Dense(1)(L.Flatten()(att)))
    pruned = pruning.prune_low_magnitude(model, pruning.ConstantSparsity(0.5, 0, frequency=1))
    pruned.compile("sgd", "mse")
    x = np.random.default_rng(1).normal(size=(4, 4, 8)).astype("float32")
    pruned.fit(x, np.zeros((4, 1)), batch_size=2, callbacks=[pruning.UpdatePruningStep()], verbose=0)
    weights = pruned.get_layer("prune_low_magnitude_mha").get_prunable_weights()
    assert len(weights) == 4
    for weight in weights:
        n = int(np.prod(weight.shape))
        assert np.count_nonzero(weight.numpy()) == round(n * 0.5)
    np.testing.assert_allclose(pruning.strip_pruning(pruned).predict(x, verbose=0), pruned.predict(x, verbose=0))


@pytest.mark.parametrize(
    "layer, reason_part",
    [
        (L.Dropout(0.5), "no weights"),
        (L.BatchNormalization(), "normalises"),
        (L.Flatten(), "no weights"),
        (L.Dense(3), ""),
    ],
)
def test_prunability_sentences(layer, reason_part):
    ok, reason = pruning.prunability(layer)
    assert ok == (reason_part == "")
    assert reason_part in reason

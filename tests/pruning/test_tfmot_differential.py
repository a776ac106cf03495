"""Our engine and tfmot 0.8.1 side by side: same sparsity per batch, layer structure, errors.

``tensorflow-model-optimization`` is a test-only dependency (the ``test`` extra); the app never
imports it. Each test builds the same model twice from the same weights, runs one through
``prune_studio.pruning`` and the other through ``tfmot.sparsity.keras``, and compares what a
user sees.
"""

import logging

import numpy as np
import pytest

from prune_studio import pruning
from prune_studio.compat import keras, tf
from prune_studio.pruning import pruning_utils, pruning_wrapper

import tensorflow_model_optimization as tfmot  # noqa: E402 -- after compat selected tf-keras
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper as tfmot_wrapper

T = tfmot.sparsity.keras
L = keras.layers


def _mlp(seed=0):
    keras.utils.set_random_seed(seed)
    # 60 and 50 weights: n * (1 - sparsity) never lands on .5 for the schedules below, where
    # float32 rounding in two different graphs may go either way.
    return keras.Sequential([L.Dense(10, activation="relu", input_shape=(6,)), L.Dense(5)])


def _twins(build):
    """Two copies of ``build()`` with the same weights: (ours, theirs)."""
    ours, theirs = build(), build()
    theirs.set_weights(ours.get_weights())
    return ours, theirs


class _SparsityPerBatch(keras.callbacks.Callback):
    """Fraction of zeros in every mask after each batch."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def on_train_batch_end(self, batch, logs=None):
        row = []
        for layer in self.model.layers:
            for _, mask, _ in getattr(layer, "pruning_vars", []):
                m = mask.numpy()
                row.append(round(1.0 - float(m.mean()), 6))
        self.seen.append(row)


def _fit_per_batch(model, callback_cls, batches, fits=1):
    model.compile(keras.optimizers.SGD(0.01), "mse")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(batches, 6)).astype("float32"), rng.normal(size=(batches, 5)).astype("float32")
    record = _SparsityPerBatch()
    for _ in range(fits):
        model.fit(x, y, batch_size=1, shuffle=False, verbose=0, callbacks=[callback_cls(), record])
    return record.seen


@pytest.mark.parametrize(
    "schedule, batches, fits",
    [
        (("PolynomialDecay", (0.5, 0.8, 0, 200)), 200, 1),
        (("ConstantSparsity", (0.5, 0)), 100, 1),
        (("PolynomialDecay", (0.2, 0.6, 1, 4, 3, 1)), 5, 1),
        (("PolynomialDecay", (0.1, 0.7, 2, 9), {"frequency": 2}), 6, 2),  # a second fit resumes
    ],
    ids=["poly-0.5-0.8-200", "constant-0.5-freq100", "poly-every-step", "poly-two-fits"],
)
def test_same_sparsity_after_every_batch(schedule, batches, fits):
    name, args, *rest = schedule
    kwargs = rest[0] if rest else {}
    ours, theirs = _twins(_mlp)
    mine = pruning.prune_low_magnitude(ours, getattr(pruning, name)(*args, **kwargs))
    ref = T.prune_low_magnitude(theirs, getattr(T, name)(*args, **kwargs))
    seen = _fit_per_batch(mine, pruning.UpdatePruningStep, batches, fits)
    expected = _fit_per_batch(ref, T.UpdatePruningStep, batches, fits)
    assert seen == expected
    assert [int(w.pruning_step.numpy()) for w in mine.layers] == [int(w.pruning_step.numpy()) for w in ref.layers]


def test_the_numbers_of_the_issue():
    # PolynomialDecay(0.5, 0.8, 0, 200) over 200 batches reaches 0.8; ConstantSparsity(0.5, 0)
    # (frequency 100) is still dense after 99 batches and at 0.5 after 100.
    ours = pruning.prune_low_magnitude(_mlp(), pruning.PolynomialDecay(0.5, 0.8, 0, 200))
    assert _fit_per_batch(ours, pruning.UpdatePruningStep, 200)[-1] == [0.8, 0.8]  # 12 of 60, 10 of 50 kept
    constant = _fit_per_batch(pruning.prune_low_magnitude(_mlp(), pruning.ConstantSparsity(0.5, 0)), pruning.UpdatePruningStep, 100)
    assert constant[98] == [0.0, 0.0] and constant[99] == [0.5, 0.5]


def _structure(model):
    rows = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            rows.append((type(layer).__name__, _structure(layer)))
        else:
            inner = getattr(layer, "layer", None)
            name = None if isinstance(layer, L.InputLayer) else layer.name  # inputs are numbered per process
            rows.append((type(layer).__name__, name, type(inner).__name__ if inner is not None else None))
    return rows


def _zoo():
    """A Functional model with weightless, normalisation, merge and nested layers."""
    keras.utils.set_random_seed(1)
    inner = keras.Sequential([L.Dense(8, input_shape=(8,), name="inner_dense"), L.LayerNormalization(name="ln")], name="inner")
    inp = keras.Input((6, 6, 1))
    h = L.Conv2D(4, 3, name="conv")(inp)
    h = L.BatchNormalization(name="bn")(h)
    h = L.ReLU(name="relu")(h)
    h = L.Flatten(name="flat")(h)
    h = L.Dense(8, name="d1")(h)
    h = L.Add(name="add")([h, inner(h)])
    h = L.Dropout(0.1, name="drop")(h)
    return keras.Model(inp, L.Dense(3, name="out")(h))


def test_same_layer_structure_shared_layers_and_reused_wrappers():
    ours, theirs = _twins(_zoo)
    mine = pruning.prune_low_magnitude(ours)
    ref = T.prune_low_magnitude(theirs)
    assert _structure(mine) == _structure(ref)
    # The wrappers hold the model's own layers (the same variables), in both.
    for pruned, model in ((mine, ours), (ref, theirs)):
        flat = [layer for layer in pruned.layers if not isinstance(layer, (keras.Model, L.InputLayer))]
        originals = [layer for layer in model.layers if not isinstance(layer, (keras.Model, L.InputLayer))]
        assert all(w.layer is layer for w, layer in zip(flat, originals))
    # Already-wrapped layers are reused, not re-created.
    wrapped = keras.Sequential([L.Dense(4, input_shape=(3,)), pruning.prune_low_magnitude(L.Dense(2))])
    again = pruning.prune_low_magnitude(wrapped)
    assert again.layers[1] is wrapped.layers[1] and again.layers[0].layer is wrapped.layers[0]
    # Lists: each layer wrapped, normalisation layers included.
    mine_list = pruning.prune_low_magnitude([L.Dense(3), L.BatchNormalization(), L.Flatten()])
    ref_list = T.prune_low_magnitude([L.Dense(3), L.BatchNormalization(), L.Flatten()])
    assert [type(w.layer).__name__ for w in mine_list] == [type(w.layer).__name__ for w in ref_list]
    # tfmot users' names: wrapper.layer.get_prunable_weights() and collect_prunable_layers.
    assert [len(w.layer.get_prunable_weights()) for w in pruning_wrapper.collect_prunable_layers(mine)] == [
        len(w.layer.get_prunable_weights()) for w in tfmot_wrapper.collect_prunable_layers(ref)
    ]


class _Custom(L.Layer):
    def build(self, shape):
        self.w = self.add_weight("w", shape=(shape[-1],))

    def call(self, x):
        return x * self.w


class _DenseSubclass(L.Dense):
    pass


@pytest.mark.parametrize(
    "bad",
    [lambda: L.ConvLSTM2D(2, 3), lambda: _DenseSubclass(3), lambda: _Custom()],
    ids=["ConvLSTM2D", "Dense-subclass", "custom-layer"],
)
def test_unsupported_layers_raise_by_default_and_strict_false_prunes_the_rest(bad, caplog):
    def model():
        keras.utils.set_random_seed(2)
        layer = bad()
        shape = (3, 5, 5, 1) if isinstance(layer, L.ConvLSTM2D) else (4,)
        m = keras.Sequential([keras.Input(shape), layer])
        m.add(L.Flatten())
        m.add(L.Dense(2, name="dense"))
        return m

    with pytest.raises(ValueError):
        T.prune_low_magnitude(model())
    with pytest.raises(ValueError, match="cannot be pruned.*strict=False"):
        pruning.prune_low_magnitude(model())
    with caplog.at_level(logging.WARNING, logger="prune_studio.pruning"):
        pruned = pruning.prune_low_magnitude(model(), strict=False)
    left = pruning.get_skipped_layers(pruned)
    assert len(left) == 1 and list(left)[0] in caplog.text
    assert isinstance(pruned.get_layer("prune_low_magnitude_dense"), pruning.PruneLowMagnitude)


class _SubclassedNet(keras.Model):
    def __init__(self):
        super().__init__()
        self.d = L.Dense(3)

    def call(self, x):
        return self.d(x)


@pytest.mark.parametrize("thing", [object, _SubclassedNet], ids=["object", "unbuilt-subclassed"])
def test_same_message_for_what_cannot_be_pruned(thing):
    with pytest.raises(ValueError) as theirs:
        T.prune_low_magnitude(thing())
    with pytest.raises(ValueError) as mine:
        pruning.prune_low_magnitude(thing())
    assert str(mine.value) == str(theirs.value)


def test_training_without_the_callback_and_bad_log_dirs_raise_the_same_types():
    for prune in (pruning.prune_low_magnitude, T.prune_low_magnitude):
        model = prune(_mlp())
        model.compile("sgd", "mse")
        with pytest.raises(tf.errors.InvalidArgumentError):
            model.fit(np.ones((2, 6)), np.zeros((2, 5)), verbose=0)
        with pytest.raises(tf.errors.InvalidArgumentError):
            prune(_mlp())(np.ones((2, 6)), training=True)
    for summaries in (pruning.PruningSummaries, T.PruningSummaries):
        for log_dir in ("", None, object()):
            with pytest.raises(ValueError):
                summaries(log_dir=log_dir)


class _PrunableCell(L.Layer, pruning.PrunableLayer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = self.state_size = units

    def build(self, shape):
        self.kernel = self.add_weight("kernel", shape=(shape[-1], self.units))
        self.recurrent_kernel = self.add_weight("recurrent_kernel", shape=(self.units, self.units))

    def call(self, x, states):
        out = tf.matmul(x, self.kernel) + tf.matmul(states[0], self.recurrent_kernel)
        return out, [out]

    def get_prunable_weights(self):
        return [self.kernel, self.recurrent_kernel]


class _TfmotCell(_PrunableCell, T.PrunableLayer):
    pass


def test_rnn_with_a_prunable_cell_is_pruned_through_the_cell():
    results = []
    for prune, step, cell in ((pruning.prune_low_magnitude, pruning.UpdatePruningStep, _PrunableCell),
                              (T.prune_low_magnitude, T.UpdatePruningStep, _TfmotCell)):
        keras.utils.set_random_seed(3)
        rnn = L.RNN([L.LSTMCell(4), cell(3)])
        model = keras.Sequential([prune(rnn, T.ConstantSparsity(0.5, 0, -1, 1) if prune is T.prune_low_magnitude
                                        else pruning.ConstantSparsity(0.5, 0, -1, 1), input_shape=(2, 5))])
        model.compile("sgd", "mse")
        model.fit(np.ones((4, 2, 5)), np.zeros((4, 3)), batch_size=2, verbose=0, callbacks=[step()])
        weights = model.layers[0].layer.get_prunable_weights()
        results.append([round(1 - np.count_nonzero(w.numpy()) / w.numpy().size, 3) for w in weights])
    assert results[0] == results[1]
    assert len(results[0]) == 4 and all(0.4 < s < 0.6 for s in results[0])  # 50% of each, rounded


@pytest.mark.parametrize("how", ["tf.saved_model.save", "save_format='tf'"])
def test_saved_model_of_an_untrained_pruned_model(tmp_path, how):
    for name, prune in (("ours", pruning.prune_low_magnitude), ("tfmot", T.prune_low_magnitude)):
        model = prune(_mlp())
        path = str(tmp_path / name)
        if how == "tf.saved_model.save":
            tf.saved_model.save(model, path)
        else:
            model.save(path, save_format="tf")
        restored = tf.saved_model.load(path)
        out = restored(tf.ones((1, 6)))
        assert tuple(out.shape) == (1, 5)


def _stem(inp):
    return L.Conv2D(4, 3, strides=2, padding="valid")(L.ZeroPadding2D(1)(inp))


def _xnnpack_models():
    """name -> builder of the models tfmot's PruneForLatencyOnXNNPack tests accept or refuse."""

    def no_stem():
        inp = keras.Input((8, 8, 3))
        return keras.Model(inp, L.GlobalAveragePooling2D(keepdims=True)(L.Conv2D(4, 1)(inp)))

    def no_pooling():
        inp = keras.Input((8, 8, 3))
        return keras.Model(inp, L.Conv2D(4, 1)(_stem(inp)))

    def middle():
        inp = keras.Input((8, 8, 3))
        h = L.MaxPooling2D()(L.Conv2D(4, 1)(_stem(inp)))
        return keras.Model(inp, L.GlobalAveragePooling2D()(h))

    def unbuilt():
        return keras.Sequential([L.ZeroPadding2D(1), L.Conv2D(4, 3, strides=2), L.Conv2D(8, 1), L.GlobalAveragePooling2D()])

    def two_inputs():
        a, b = keras.Input((8, 8, 3)), keras.Input((8, 8, 3))
        h = L.Add()([L.Conv2D(8, 1)(_stem(a)), L.Conv2D(8, 1)(_stem(b))])
        h = L.DepthwiseConv2D(3, padding="same")(h)
        return keras.Model([a, b], L.GlobalAveragePooling2D(keepdims=True)(L.Conv2D(8, 1)(h)))

    return {"no stem": no_stem, "no pooling": no_pooling, "middle": middle, "unbuilt": unbuilt, "two inputs": two_inputs}


@pytest.mark.parametrize("name", list(_xnnpack_models()))
def test_prune_for_latency_on_xnnpack_checks_the_same_models(name):
    outcomes = []
    for prune, policy in ((pruning.prune_low_magnitude, pruning.PruneForLatencyOnXNNPack),
                          (T.prune_low_magnitude, T.PruneForLatencyOnXNNPack)):
        try:
            pruned = prune(_xnnpack_models()[name](), pruning_policy=policy())
        except ValueError as error:
            outcomes.append(("ValueError", str(error)))
        else:
            outcomes.append(("ok", sum(type(layer).__name__ == "PruneLowMagnitude" for layer in pruned.layers)))
    assert outcomes[0] == outcomes[1]
    assert (outcomes[0][0] == "ok") == (name == "two inputs")


def _tfmot_utils():
    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_utils

    return pruning_utils


@pytest.mark.parametrize("block", [(1, 1), (2, 3), (4, 1)])
@pytest.mark.parametrize("pooling", ["AVG", "MAX"])
def test_block_helpers_give_tfmots_results(block, pooling):
    theirs = _tfmot_utils()
    ours = pruning_utils
    values = tf.constant(np.random.default_rng(1).normal(size=(9, 14)).astype("float32"))
    args = dict(window_shape=list(block), pooling_type=pooling, strides=list(block), padding="SAME")
    np.testing.assert_allclose(ours.factorized_pool(values, **args), theirs.factorized_pool(values, **args), rtol=1e-6)
    np.testing.assert_array_equal(ours.expand_tensor(values, block), theirs.expand_tensor(values, block))
    small = tf.constant([[1.0, -2.0], [0.5, 3.0], [4.0, 0.0]])
    np.testing.assert_array_equal(ours.kronecker_product(small, values[:2, :3]),
                                  theirs.kronecker_product(small, values[:2, :3]))


@pytest.mark.parametrize("shape", [(12, 5), (3, 3, 8, 4), (2, 2, 6, 3)])
@pytest.mark.parametrize("m_by_n", [(2, 4), (1, 2), (3, 8)])
def test_m_by_n_helpers_give_tfmots_masks(shape, m_by_n):
    theirs = _tfmot_utils()
    ours = pruning_utils
    # Distinct magnitudes: tfmot breaks ties by top_k's order, which both follow but need not share.
    weights = tf.constant(np.random.default_rng(2).permutation(np.prod(shape)).reshape(shape).astype("float32") - 7.5)
    rows = ours.weights_rearrange(weights)
    np.testing.assert_array_equal(rows, theirs.weights_rearrange(weights))
    mask = ours.generate_m_by_n_mask(rows, m_by_n)
    np.testing.assert_array_equal(mask, theirs.generate_m_by_n_mask(rows, m_by_n))
    kernel_mask = ours.m_by_n_sparsity_mask_prepare(mask, tf.TensorShape(shape))
    np.testing.assert_array_equal(kernel_mask, theirs.m_by_n_sparsity_mask_prepare(mask, tf.TensorShape(shape)))
    assert ours.is_pruned_m_by_n(weights * kernel_mask, m_by_n)
    # The engine's own m-by-n mask (what a wrapper with sparsity_m_by_n applies) is the same mask.
    from prune_studio.pruning.masks import m_by_n_mask

    np.testing.assert_array_equal(m_by_n_mask(weights, m_by_n)[1], kernel_mask)


def test_m_by_n_helpers_refuse_what_tfmots_refuse():
    ours = pruning_utils
    with pytest.raises(tf.errors.InvalidArgumentError):
        ours.generate_m_by_n_mask(tf.ones((2, 5)), (4, 4))
    with pytest.raises(ValueError):
        ours.weights_rearrange(tf.ones((2, 2, 2)))
    with pytest.raises(tf.errors.InvalidArgumentError):
        ours.m_by_n_sparsity_mask_prepare(tf.ones((2, 2)), tf.TensorShape((2, 1)))
    with pytest.raises(ValueError):
        ours.m_by_n_sparsity_mask_prepare(tf.ones((4, 4, 1)), tf.TensorShape((2, 2, 4, 1)))

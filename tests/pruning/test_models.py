"""Beyond the reference: lenient pruning, nested/shared/multi-IO/subclassed models, custom layers."""

import numpy as np
import pytest

from prune_studio.compat import keras, tf
from prune_studio import pruning

L = keras.layers
SCHEDULE = pruning.ConstantSparsity(0.5, 0, frequency=1)


class Scale(L.Layer):
    """A custom layer with a weight the engine does not know."""

    def build(self, shape):
        self.scale = self.add_weight("scale", shape=(shape[-1],), initializer="ones")

    def call(self, x):
        return x * self.scale


class MaskedDense(L.Dense, pruning.PrunableLayer):
    """A custom layer that says which weight to prune."""

    def get_prunable_weights(self):
        return [self.kernel]


def _fit(model, x, y):
    model.compile("sgd", "mse")
    model.fit(x, y, batch_size=4, epochs=1, callbacks=[pruning.UpdatePruningStep()], verbose=0)


def _nonzero_fraction(variable):
    return np.count_nonzero(variable.numpy()) / variable.numpy().size


def test_custom_layer_is_left_dense_and_reported_strict_raises():
    inp = keras.Input((6,))
    h = Scale(name="scale")(L.Dense(8, name="d1")(inp))
    model = keras.Model(inp, L.Dense(2, name="d2")(h))
    pruned = pruning.prune_low_magnitude(model, SCHEDULE, strict=False)
    assert set(pruning.get_skipped_layers(pruned)) == {"scale"}
    assert "Scale is not a layer type" in pruning.get_skipped_layers(pruned)["scale"]
    _fit(pruned, np.ones((8, 6)), np.zeros((8, 2)))
    assert _nonzero_fraction(pruned.get_layer("prune_low_magnitude_d1").layer.kernel) == 0.5
    with pytest.raises(ValueError, match=r"'scale' \(Scale\) cannot be pruned.*strict=False"):
        pruning.prune_low_magnitude(model, SCHEDULE)  # strict by default, as tfmot


def test_prunable_layer_prunes_what_it_names():
    model = keras.Sequential([keras.Input((6,)), MaskedDense(8, name="md")])
    pruned = pruning.prune_low_magnitude(model, SCHEDULE)
    _fit(pruned, np.ones((8, 6)), np.zeros((8, 8)))
    wrapper = pruned.layers[0]
    assert wrapper.get_prunable_weights()[0] is wrapper.layer.kernel
    assert _nonzero_fraction(wrapper.layer.kernel) == 0.5


def test_nested_shared_and_multi_io_model():
    keras.utils.set_random_seed(5)
    inner_in = keras.Input((6,))
    inner = keras.Model(inner_in, L.Dense(6, name="inner_dense")(inner_in), name="inner")
    shared = L.Dense(5, name="shared")
    a, b = keras.Input((6,), name="a"), keras.Input((6,), name="b")
    ha, hb = shared(inner(a)), shared(b)
    model = keras.Model([a, b], [L.Dense(1, name="out1")(ha), L.Dense(2, name="out2")(hb)])
    pruned = pruning.prune_low_magnitude(model, SCHEDULE)
    x = [np.random.default_rng(0).normal(size=(8, 6)).astype("float32")] * 2
    pruned.compile("sgd", ["mse", "mse"])
    pruned.fit(x, [np.zeros((8, 1)), np.zeros((8, 2))], batch_size=4, callbacks=[pruning.UpdatePruningStep()], verbose=0)
    wrapper = pruned.get_layer("prune_low_magnitude_shared")
    assert int(wrapper.pruning_step.numpy()) == 2  # two calls per step, counted once
    assert _nonzero_fraction(wrapper.layer.kernel) == 0.5
    nested = pruned.get_layer("inner").get_layer("prune_low_magnitude_inner_dense")
    assert _nonzero_fraction(nested.layer.kernel) == 0.5
    names = {r.name for r in pruning.sparsity_report(pruned)}
    assert names == {"inner_dense", "shared", "out1", "out2"}
    stripped = pruning.strip_pruning(pruned)
    for got, want in zip(stripped.predict(x, verbose=0), pruned.predict(x, verbose=0)):
        np.testing.assert_array_equal(got, want)
    assert not any(isinstance(layer, pruning.PruneLowMagnitude) for layer in stripped._flatten_layers())


class Net(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense1 = L.Dense(16, activation="relu")
        self.blocks = [L.Dense(8), L.Dense(8)]
        self.custom = Scale()
        self.out = L.Dense(3)

    def call(self, x):
        x = self.dense1(x)
        for block in self.blocks:
            x = block(x)
        return self.out(self.custom(x))


def test_subclassed_model_is_pruned_in_place_and_stripped():
    keras.utils.set_random_seed(6)
    net = Net()
    x = np.random.default_rng(1).normal(size=(8, 5)).astype("float32")
    net(x)
    pruned = pruning.prune_low_magnitude(net, SCHEDULE, strict=False)
    assert pruned is net
    assert isinstance(net.dense1, pruning.PruneLowMagnitude) and isinstance(net.blocks[1], pruning.PruneLowMagnitude)
    assert list(pruning.get_skipped_layers(net).values())[0].startswith("Scale is not")
    _fit(net, x, np.zeros((8, 3)))
    for wrapper in (net.dense1, net.blocks[0], net.blocks[1], net.out):
        assert _nonzero_fraction(wrapper.layer.kernel) == 0.5
    before = net.predict(x, verbose=0)
    stripped = pruning.strip_pruning(net)
    assert isinstance(stripped.dense1, L.Dense) and stripped.dense1.kernel.constraint is None
    np.testing.assert_array_equal(stripped.predict(x, verbose=0), before)


def test_unbuilt_subclassed_model_is_refused():
    with pytest.raises(ValueError, match="can only prune an object of the following types.*type: Net[.]$"):
        pruning.prune_low_magnitude(Net(), SCHEDULE)


def test_block_sparsity_and_m_by_n_in_training():
    keras.utils.set_random_seed(7)
    model = keras.Sequential([keras.Input((8,)), L.Dense(12, name="a"), L.Dense(4, name="b")])
    blocks = pruning.prune_low_magnitude(model, SCHEDULE, block_size=(2, 4), block_pooling_type="MAX")
    _fit(blocks, np.ones((8, 8)), np.zeros((8, 4)))
    kernel = blocks.get_layer("prune_low_magnitude_a").layer.kernel.numpy()
    tiles = kernel.reshape(4, 2, 3, 4).transpose(0, 2, 1, 3).reshape(12, 8)
    assert set((np.count_nonzero(tiles, axis=1) > 0).astype(int)) == {0, 1}
    assert (np.count_nonzero(tiles, axis=1) == 0).sum() == 6  # half the 12 blocks
    m_by_n = pruning.prune_low_magnitude(model, SCHEDULE, sparsity_m_by_n=(2, 4))  # same layers, new masks
    _fit(m_by_n, np.ones((8, 8)), np.zeros((8, 4)))
    for name in ("a", "b"):
        k = m_by_n.get_layer(f"prune_low_magnitude_{name}").layer.kernel.numpy()
        groups = k.T.reshape(k.shape[1], -1, 4)
        assert np.all(np.count_nonzero(groups, axis=-1) <= 2)


def test_prune_for_latency_on_xnnpack_prunes_only_pointwise_convs():
    inp = keras.Input((8, 8, 3))
    h = L.ZeroPadding2D(1)(inp)
    h = L.Conv2D(8, 3, strides=2, padding="valid", name="stem")(h)
    h = L.DepthwiseConv2D(3, padding="same", name="dw")(h)
    h = L.Conv2D(16, 1, name="pw")(h)
    model = keras.Model(inp, L.GlobalAveragePooling2D(keepdims=True)(h))
    pruned = pruning.prune_low_magnitude(model, SCHEDULE, pruning_policy=pruning.PruneForLatencyOnXNNPack())
    wrapped = [layer.layer.name for layer in pruned.layers if isinstance(layer, pruning.PruneLowMagnitude)]
    assert wrapped == ["pw"]
    assert set(pruning.get_skipped_layers(pruned)) == {"stem", "dw"}
    dense_model = keras.Sequential([keras.Input((4,)), L.Dense(2)])
    with pytest.raises(ValueError, match="Could not find `Conv2D 3x3`"):
        pruning.prune_low_magnitude(dense_model, pruning_policy=pruning.PruneForLatencyOnXNNPack())
    # A layer the sparse subgraph cannot run, between the stem and the pooling, is refused.
    inp = keras.Input((8, 8, 3))
    h = L.Conv2D(16, 1)(L.Conv2D(8, 3, strides=2, padding="valid")(L.ZeroPadding2D(1)(inp)))
    head = L.GlobalAveragePooling2D()(L.MaxPooling2D()(h))
    with pytest.raises(ValueError, match="Layer MaxPooling2D is not supported for the PruneForLatencyOnXNNPack"):
        pruning.prune_low_magnitude(keras.Model(inp, head), pruning_policy=pruning.PruneForLatencyOnXNNPack())


def test_pruning_summaries_write_scalars_per_layer(tmp_path):
    model = keras.Sequential([keras.Input((4,)), L.Dense(3, name="d")])
    pruned = pruning.prune_low_magnitude(model, SCHEDULE)
    pruned.compile("sgd", "mse")
    callbacks = [pruning.UpdatePruningStep(), pruning.PruningSummaries(log_dir=str(tmp_path))]
    pruned.fit(np.ones((4, 4)), np.zeros((4, 3)), batch_size=2, callbacks=callbacks, verbose=0)
    tags = {}
    for path in (tmp_path / "pruning").glob("events.*"):
        for record in tf.compat.v1.train.summary_iterator(str(path)):
            for value in record.summary.value:
                tags[value.tag] = float(tf.make_ndarray(value.tensor))
    sparsity = [v for k, v in tags.items() if k.endswith("kernel_mask/sparsity")]
    assert sparsity == [0.5], tags
    assert any(k.endswith("/threshold") for k in tags)


class Pair(keras.Model):
    """Two Dense layers called from call(); Keras makes its config from the constructor."""

    def __init__(self, width=6, **kwargs):
        super().__init__(**kwargs)
        self.first = L.Dense(width, activation="relu", name="first")
        self.second = L.Dense(3, name="second")

    def call(self, x):
        return self.second(self.first(x))


class Unconfigurable(Pair):
    def __init__(self, helper, **kwargs):  # an argument Keras cannot put in a config
        super().__init__(**kwargs)
        self.helper = helper


def _held(sub):
    """``sub`` held as a subclassed model opened from a file is held: one Input, then the model."""
    inputs = keras.Input((5,))
    return keras.Model(inputs, sub(inputs))


def _plan(*names):
    from prune_studio.pruning.plan import LayerPlan, PruningPlan

    return PruningPlan({name: LayerPlan(True, SCHEDULE) for name in names})


def test_subclassed_model_inside_a_functional_model_is_pruned_in_its_copy_and_stripped():
    from prune_studio.pruning.plan import apply_plan, prunable_layer_names

    keras.utils.set_random_seed(8)
    model = _held(Pair(name="pair"))
    original = [w.copy() for w in model.get_weights()]
    assert set(prunable_layer_names(model)) == {"first", "second"}
    result = apply_plan(model, _plan("first", "second"))
    assert sorted(result.pruned) == ["first", "second"] and not result.skipped
    pruned = result.model
    copy = pruned.layers[1]
    assert copy is not model.layers[1] and isinstance(copy.first, pruning.PruneLowMagnitude)
    assert not pruning.prune.wrappers_of(model)  # the original model is untouched
    x = np.random.default_rng(2).normal(size=(16, 5)).astype("float32")
    np.testing.assert_array_equal(pruned.predict(x, verbose=0), model.predict(x, verbose=0))
    _fit(pruned, x, np.zeros((16, 3)))
    assert _nonzero_fraction(copy.first.layer.kernel) == 0.5 and _nonzero_fraction(copy.second.layer.kernel) == 0.5
    for before, after in zip(original, model.get_weights()):
        np.testing.assert_array_equal(before, after)
    before = pruned.predict(x, verbose=0)
    stripped = pruning.strip_pruning(pruned)
    inner = stripped.layers[1]
    assert isinstance(inner, Pair) and isinstance(inner.first, L.Dense) and not pruning.prune.wrappers_of(stripped)
    assert _nonzero_fraction(inner.first.kernel) == 0.5
    np.testing.assert_array_equal(stripped.predict(x, verbose=0), before)


def test_subclassed_model_without_a_config_inside_a_functional_model_is_refused_saying_why():
    from prune_studio.pruning.plan import PlanError, apply_plan, prunable_layer_names

    model = _held(Unconfigurable(helper=object(), name="odd"))
    assert prunable_layer_names(model) == []
    with pytest.raises(PlanError, match="Layer 'first' cannot be pruned: .*no get_config"):
        apply_plan(model, _plan("first"))

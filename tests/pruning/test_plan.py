"""Per-layer plans: JSON round trip, uniform plans, building the pruned model, the report."""

import json

import numpy as np
import pytest

from prune_studio.compat import keras
from prune_studio import pruning
from prune_studio.errors import PruneStudioError
from prune_studio.pruning.plan import prunable_layer_names


def _model():
    keras.utils.set_random_seed(9)
    inp = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(4, 3, name="conv")(inp)
    h = keras.layers.Flatten(name="flat")(h)
    h = keras.layers.Dense(16, name="dense")(h)
    return keras.Model(inp, keras.layers.Dense(10, name="out")(h))


def test_layer_plan_defaults_and_json_round_trip():
    default = pruning.LayerPlan()
    assert default.enabled is False and default.schedule == pruning.PolynomialDecay(0.5, 0.8, 0, 1000)
    plan = pruning.PruningPlan(
        {
            "conv": pruning.LayerPlan(True, pruning.ConstantSparsity(0.5, 0, frequency=1)),
            "dense": pruning.LayerPlan(True, block_size=(2, 4), block_pooling_type="max"),
            "out": pruning.LayerPlan(False, sparsity_m_by_n=[2, 4]),
        }
    )
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["layers"]["conv"]["schedule"]["class_name"] == "ConstantSparsity"
    again = pruning.PruningPlan.from_dict(data)
    assert again == plan and again.to_dict() == plan.to_dict()
    assert again.layers["dense"].block_pooling_type == "MAX" and again.layers["out"].sparsity_m_by_n == (2, 4)
    assert again.enabled_layers() == ["conv", "dense"]


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"block_size": (0, 1)}, r"block_size=\(0, 1\)"),
        ({"block_pooling_type": "SUM"}, "block_pooling_type='SUM'"),
        ({"sparsity_m_by_n": (5, 4)}, r"sparsity_m_by_n=\(5, 4\)"),
        ({"schedule": "fast"}, "schedule='fast'"),
    ],
)
def test_layer_plan_rejects_bad_values(kwargs, words):
    with pytest.raises(ValueError, match=words):
        pruning.LayerPlan(True, **kwargs)


def test_uniform_plan_apply_and_report(digits):
    model = _model()
    assert prunable_layer_names(model) == ["conv", "dense", "out"]
    plan = pruning.PruningPlan.uniform(model, 0.75, begin_step=0, end_step=4, frequency=2)
    assert plan.enabled_layers() == ["conv", "dense", "out"]
    plan.layers["out"].enabled = False
    result = pruning.apply_plan(model, plan)
    assert result.pruned == ["conv", "dense"]
    assert result.skipped == {"out": "Pruning is switched off for this layer."}
    pruned = result.model
    pruned.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert pruning.overall_sparsity(pruned) == 0.0
    pruned.fit(digits["x_train"][:48], digits["y_train"][:48], batch_size=8,
               callbacks=[pruning.UpdatePruningStep()], verbose=0)
    rows = {r.name: r for r in pruning.sparsity_report(pruned)}
    assert set(rows) == {"conv", "dense"}
    assert rows["conv"].total == 36 and rows["conv"].pruned == 36 - 9
    assert rows["dense"].pruned == 2304 - 576 and rows["dense"].target == pytest.approx(0.75)
    assert rows["dense"].sparsity == pytest.approx(0.75)
    assert pruning.LayerSparsity.from_dict(rows["conv"].to_dict()) == rows["conv"]
    assert pruning.overall_sparsity(pruned) == pytest.approx((27 + 1728) / (36 + 2304))


def test_plan_naming_missing_layers_is_a_user_error():
    plan = pruning.PruningPlan({"nope": pruning.LayerPlan(True)})
    with pytest.raises(PruneStudioError, match="nope"):
        pruning.apply_plan(_model(), plan)


def test_strict_plan_refuses_a_custom_layer():
    class Bias(keras.layers.Layer):
        def build(self, shape):
            self.b = self.add_weight("b", shape=(shape[-1],))

        def call(self, x):
            return x + self.b

    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(2, name="d")(Bias(name="bias")(inp)))
    plan = pruning.PruningPlan.uniform(model, 0.5, 0, 10)
    assert pruning.apply_plan(model, plan).skipped["bias"].startswith("Bias is not")
    with pytest.raises(ValueError, match=r"'bias' \(Bias\) cannot be pruned"):
        pruning.apply_plan(model, plan, strict=True)
    x = np.ones((2, 4), np.float32)
    np.testing.assert_allclose(pruning.apply_plan(model, plan).model.predict(x, verbose=0), model.predict(x, verbose=0))

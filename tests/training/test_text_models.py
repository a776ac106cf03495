"""Text models (Embedding + recurrent layers) fine-tune with the Embedding pruned or left dense.

The Embedding table's gradient is sparse (``IndexedSlices``); the engine keeps pruned weights
at zero through constraints, which tf-keras's legacy optimizers refuse on sparse updates. These
tests train real small text classifiers through ``fine_tune`` and through the CLI pipeline, and
check that a real TensorFlow failure reaches the user as one readable sentence.
"""

import numpy as np
import pytest

from prune_studio.compat import keras
from prune_studio.data import Dataset
from prune_studio.pruning.plan import LayerPlan, PruningPlan
from prune_studio.pruning.schedules import PolynomialDecay
from prune_studio.training import TrainingError, TrainingSettings, fine_tune
from prune_studio.training.optimizers import is_legacy, make_optimizer
from prune_studio.training.settings import OPTIMIZERS
from small_models import CLASSES, LENGTH, bag_model, bigru_model, lstm_model, text_data, trained

def _dataset():
    x_train, y_train, x_test, y_test = text_data()
    return Dataset("tokens", x_train, y_train, x_test, y_test, CLASSES, (LENGTH,))


def _plan(layers, end):
    return PruningPlan({name: LayerPlan(enabled=True, schedule=PolynomialDecay(0.2, 0.6, 0, end, frequency=1))
                        for name in layers})


def _zeros(model, layer):
    table = model.get_layer(layer).weights[0].numpy()
    return float(np.mean(table == 0))


@pytest.fixture(scope="module")
def trained_models():
    return {"lstm": trained(lstm_model), "bigru": trained(bigru_model)}


@pytest.mark.parametrize("kind", ["lstm", "bigru"])
@pytest.mark.parametrize("prune_embedding", [True, False], ids=["embedding-pruned", "embedding-dense"])
def test_text_model_fine_tunes(trained_models, kind, prune_embedding):
    model, dataset = trained_models[kind], _dataset()
    before = [w.copy() for w in model.get_weights()]
    settings = TrainingSettings(epochs=1, batch_size=32, learning_rate=1e-3, validation_split=0.0)
    end = 192 // 32 - 1
    layers = (["emb"] if prune_embedding else []) + [kind, "out"]
    result = fine_tune(model, _plan(layers, end), dataset, settings)
    assert len(result.history["loss"]) == 1
    assert _zeros(result.stripped_model, "emb") == (pytest.approx(0.6, abs=0.02) if prune_embedding else 0.0)
    if kind == "lstm":
        assert result.sparsity["lstm"] == pytest.approx(0.6, abs=0.02)
    else:  # the engine may leave a Bidirectional wrapper dense; then it says why
        assert result.sparsity.get(kind, 0) == pytest.approx(0.6, abs=0.02) or result.skipped.get(kind)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights())), "the input model is left as it was"
    # trained well, and the pruned model still classifies far above chance (1/3) on held-out data
    assert result.baseline["accuracy"] > 0.8, result.baseline
    assert result.final["accuracy"] > 0.7, result.final


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_is_current_and_trains_a_pruned_embedding(name):
    optimizer = make_optimizer(TrainingSettings(optimizer=name, learning_rate=1e-3))
    assert not is_legacy(optimizer)
    assert float(optimizer.learning_rate) == pytest.approx(1e-3)
    model, dataset = bag_model(), _dataset()
    settings = TrainingSettings(epochs=1, batch_size=64, optimizer=name, validation_split=0.0)
    result = fine_tune(model, _plan(["emb"], 2), dataset, settings)
    assert _zeros(result.stripped_model, "emb") == pytest.approx(0.6, abs=0.02)


def test_legacy_optimizer_failure_is_one_sentence_naming_the_layer():
    """A real failure: the engine's masks with a legacy optimizer on a pruned Embedding."""
    from prune_studio.pruning import UpdatePruningStep, apply_plan
    from prune_studio.training.errors import translated_errors

    x, y, _, _ = text_data(64, 1)
    wrapped = apply_plan(bag_model(), _plan(["emb", "out"], 2)).model
    wrapped.compile(keras.optimizers.legacy.Adam(), "sparse_categorical_crossentropy")
    with pytest.raises(TrainingError) as info, translated_errors(32):
        wrapped.fit(x, y, epochs=1, verbose=0, callbacks=[UpdatePruningStep()])
    message = str(info.value)
    assert "\n" not in message and "in user code" not in message and "File " not in message
    assert "layer 'emb'" in message and "legacy" in message and "leave that layer out of the plan" in message
    assert isinstance(info.value.__cause__, RuntimeError)


def test_label_out_of_range_is_one_sentence():
    """A real failure inside the traced training step (a label past the output units)."""
    x_train, y_train, x_test, y_test = text_data()
    y_train = y_train.copy()
    y_train[::7] = 5
    dataset = Dataset("tokens", x_train, y_train, x_test, y_test, CLASSES, (LENGTH,))
    model = bag_model()
    with pytest.raises(TrainingError) as info:
        fine_tune(model, _plan(["out"], 4), dataset, TrainingSettings(epochs=1, validation_split=0.0))
    message = str(info.value)
    assert message.startswith("Fine-tuning failed: a label is 5 but the model has 3 output classes")
    assert "\n" not in message and "node" not in message and "Op:" not in message

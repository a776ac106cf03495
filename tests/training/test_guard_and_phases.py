"""The accuracy guard and the run's phases, on real fine-tunes of tiny models."""

import io

import numpy as np

from prune_studio.cli.progress import ProgressBar
from prune_studio.pruning import ConstantSparsity
from prune_studio.pruning.plan import LayerPlan, PruningPlan
from prune_studio.training import TrainingListener, TrainingSettings, fine_tune
from prune_studio.training.batchnorm import save_statistics
from prune_studio.training.guard import drop_message, fragile_layers
from test_batchnorm import make_bn_cnn, train_bn_cnn


class Recorder(TrainingListener):
    def __init__(self):
        self.warnings, self.phases, self.epochs = [], [], []

    def on_warning(self, kind, message):
        self.warnings.append((kind, message))

    def on_phase(self, name, seconds):
        self.phases.append((name, seconds))

    def on_epoch_end(self, epoch, logs):
        self.epochs.append(logs)


def _constant_plan(model, target):
    from prune_studio.pruning.plan import prunable_layer_names

    return PruningPlan({n: LayerPlan(True, ConstantSparsity(target, 0, frequency=5)) for n in prunable_layer_names(model)})


def test_guard_names_cause_and_fix_on_a_collapsing_run(digits_dataset):
    model = train_bn_cnn(digits_dataset)
    listener = Recorder()
    result = fine_tune(model, _constant_plan(model, 0.97), digits_dataset, TrainingSettings(epochs=1), listener=listener)
    assert result.final["accuracy"] < result.baseline["accuracy"] - 0.2  # the run really collapsed
    assert len(listener.warnings) == 1
    kind, message = listener.warnings[0]
    assert kind == "accuracy_drop"
    assert "points below" in message and "learning rate" in message and "ramp" in message
    assert "conv1" in message and "out" in message  # the stem and the head, named
    assert message.count(".") <= 6 and "\n" not in message


def test_a_healthy_run_does_not_warn_and_reports_its_phases(digits_dataset):
    model = train_bn_cnn(digits_dataset)
    listener = Recorder()
    fine_tune(model, _constant_plan(model, 0.2), digits_dataset, TrainingSettings(epochs=2), listener=listener)
    assert listener.warnings == []
    names = [name for name, seconds in listener.phases if seconds is not None]
    assert names[0] == "Evaluating" and names[-2:] == ["Stripping", "Evaluating"]
    # one BatchNorm pass per epoch end (inside the fine-tuning phase), one after the fit
    assert names.count("Re-estimating BatchNorm statistics") == 3
    assert "Fine-tuning" in names
    starts = [name for name, seconds in listener.phases if seconds is None]
    assert sorted(starts) == sorted(names)
    assert all("val_accuracy" in logs for logs in listener.epochs)


def test_switching_batchnorm_off_leaves_the_statistics_to_training(digits_dataset, compile_settings):
    model = make_bn_cnn()
    model.fit(digits_dataset.x_train[:64], digits_dataset.y_train[:64], epochs=1, verbose=0)
    listener = Recorder()
    settings = TrainingSettings(epochs=1, learning_rate=1e-9, optimizer="sgd", reestimate_batchnorm=False)
    result = fine_tune(model, _constant_plan(model, 0.0), digits_dataset, settings, listener=listener)
    assert "Re-estimating BatchNorm statistics" not in {name for name, _ in listener.phases}
    on = fine_tune(model, _constant_plan(model, 0.0), digits_dataset, TrainingSettings(epochs=1, learning_rate=1e-9,
                                                                                      optimizer="sgd"))
    off_stats, on_stats = save_statistics(result.stripped_model), save_statistics(on.stripped_model)
    assert not np.allclose(off_stats[0][0], on_stats[0][0])


def test_messages_blame_the_learning_rate_when_nothing_is_pruned_yet():
    early = drop_message(0.9, 0.4, 0.0, ["conv1"], 1e-3, 50, 100)
    assert "learning rate (now 0.001; try 0.0001)" in early
    late = drop_message(0.9, 0.4, 0.6, ["conv1", "dw"], 1e-4, 50, 100)
    assert "conv1, dw" in late and "step 50 of 100" in late and "0.0001" in late


def test_fragile_layers_are_stems_depthwise_and_heads():
    from prune_studio.compat import keras

    model = keras.Sequential([
        keras.layers.Input((16, 16, 3)),
        keras.layers.Conv2D(64, 3, name="stem"),
        keras.layers.DepthwiseConv2D(3, name="dw"),
        keras.layers.Conv2D(256, 3, name="big"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10, name="head"),
    ])
    plan = PruningPlan({n: LayerPlan(True, ConstantSparsity(t, 0)) for n, t in
                        (("stem", 0.5), ("dw", 0.9), ("big", 0.9), ("head", 0.7))})
    assert fragile_layers(model, plan) == ["dw", "head", "stem"]


def test_cli_prints_phases_and_warnings_as_lines():
    stream = io.StringIO()
    bar = ProgressBar(stream)
    bar.on_phase("Re-estimating BatchNorm statistics", None)
    bar.on_phase("Re-estimating BatchNorm statistics", 1.25)
    bar.on_warning("accuracy_drop", "Validation accuracy fell to 10.0%.")
    assert stream.getvalue().splitlines() == [
        "Re-estimating BatchNorm statistics: 1.2 s.",
        "Warning: Validation accuracy fell to 10.0%.",
    ]


def test_guard_checks_the_mean_accuracy_of_several_outputs_mid_run(tmp_path):
    """Two outputs: the guard's mid-run check compares the mean of their validation accuracies
    (the headline accuracy) with the unpruned model's, and warns at the first epoch end."""
    from small_models import trained_two_by_two, two_by_two_data, two_by_two_npz

    from prune_studio.data import DataSpec, load_data
    from prune_studio.models import load_model

    data = two_by_two_data()
    trained_two_by_two(data, epochs=30).save(tmp_path / "two.keras")
    loaded = load_model(tmp_path / "two.keras")
    dataset = load_data(DataSpec("npz", str(two_by_two_npz(tmp_path / "two.npz", data))), model=loaded.model)
    listener = Recorder()
    result = fine_tune(loaded.model, _constant_plan(loaded.model, 0.97), dataset, TrainingSettings(epochs=2),
                       compile_settings=loaded.compile_settings, listener=listener)
    assert result.final["accuracy"] < result.baseline["accuracy"] - 0.2  # the run really collapsed
    assert [kind for kind, _ in listener.warnings] == ["accuracy_drop"]
    assert listener.warnings[0][1].startswith("Validation accuracy fell to")  # caught mid-run, not at the end
    first = listener.epochs[0]
    assert first["val_accuracy"] == np.mean([first["val_first_accuracy"], first["val_second_accuracy"]])

"""In-process pieces of the CLI: the progress bar's terminal rule and plans suggested by a recipe."""

import io

import pytest

from prune_studio.cli.progress import ProgressBar


class Terminal(io.StringIO):
    def isatty(self):
        return True


def _drive(bar):
    bar.on_run_start(4, 2, 2)
    for step in range(1, 5):
        bar.on_sparsity(step, step / 5, 0.8, {})
        bar.on_batch_end(step, (step - 1) // 2, {"loss": 1.0 / step, "accuracy": 0.5})
    bar.phase("Export")(0.5, "Writing model.keras")
    bar.on_log("Done.")


def test_bar_only_on_a_terminal():
    piped, tty = io.StringIO(), Terminal()
    _drive(ProgressBar(piped))
    _drive(ProgressBar(tty))
    assert "\r" not in piped.getvalue() and "[" not in piped.getvalue()
    assert "Fine-tuning: 2 epoch(s)" in piped.getvalue() and "Export  50%: Writing model.keras" in piped.getvalue()
    drawn = tty.getvalue()
    assert "\r[" + "#" * 28 + "] 100%  step 4/4  loss 0.2500  accuracy 50.0%  zeros 80%" in drawn
    assert drawn.rstrip().endswith("Done.")


def test_recipe_suggest_runs_the_scan(tmp_path, digits):
    import numpy as np

    from prune_studio.cli.pipeline import resolve_plan, suggested_ramp_end
    from prune_studio.compat import keras
    from prune_studio.data import DataSpec, load_data
    from prune_studio.recipe import Recipe
    from prune_studio.training import TrainingSettings, steps_for

    path = tmp_path / "d.npz"
    np.savez(path, x_train=digits["x_train"][:128], y_train=digits["y_train"][:128],
             x_test=digits["x_test"][:32], y_test=digits["y_test"][:32])
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.layers.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(16, activation="relu", name="hidden"),
                              keras.layers.Dense(10, activation="softmax", name="out")])
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    recipe = Recipe(model_path="unused.keras", data=DataSpec(kind="npz", path=str(path)),
                    suggest={"target_sparsity": 0.6})
    settings = TrainingSettings(epochs=1, batch_size=16)
    dataset = load_data(recipe.data_spec())
    plan = resolve_plan(recipe, model, dataset, settings, ProgressBar(io.StringIO()))
    assert set(plan.enabled_layers()) <= {"hidden", "out"} and plan.enabled_layers()
    schedule = plan.layers[plan.enabled_layers()[0]].schedule
    # the ramp ends three quarters in, so the rest of the run recovers
    assert schedule.end_step == suggested_ramp_end(steps_for(settings, dataset.num_train)) < steps_for(settings, dataset.num_train)
    sizes = {"hidden": 64 * 16, "out": 16 * 10}
    reached = sum(plan.layers[n].schedule.final_sparsity * sizes[n] for n in plan.enabled_layers())
    assert reached / sum(sizes.values()) == pytest.approx(0.6, abs=0.05)

    # a max_drop goal is checked with every layer pruned at once, and says what it measured
    recipe.suggest = {"max_drop": 0.02}
    log = io.StringIO()
    checked = resolve_plan(recipe, model, dataset, settings, ProgressBar(log))
    assert "every layer pruned at once, measures a drop of" in log.getvalue()
    assert set(checked.enabled_layers()) <= {"hidden", "out"}


def test_a_suggested_plan_is_measured_on_held_out_examples(tmp_path):
    """Training examples a model fits with room to spare hide what pruning costs elsewhere.

    A linear classifier whose training examples all sit far from its boundary and whose test
    examples sit close to it: on the training split every target looks free; the plan must be
    measured where the run is judged, so pruned at once it keeps within the allowed drop there.
    """
    import numpy as np

    from prune_studio.cli.pipeline import resolve_plan
    from prune_studio.compat import keras
    from prune_studio.data import DataSpec, load_data
    from prune_studio.recipe import Recipe
    from prune_studio.scan.calibrate import joint_drop
    from prune_studio.training import TrainingSettings

    rng = np.random.default_rng(0)
    w = rng.normal(size=32).astype("float32")

    def examples(n, low, high):
        x = rng.normal(size=(n, 32)).astype("float32")
        margin = x @ w / np.linalg.norm(w)
        keep = (np.abs(margin) >= low) & (np.abs(margin) <= high)
        return x[keep], (margin[keep] > 0).astype("int64")

    x_train, y_train = examples(6000, 2.0, 9.0)
    x_test, y_test = examples(3000, 0.0, 0.4)
    path = tmp_path / "margins.npz"
    np.savez(path, x_train=x_train[:256], y_train=y_train[:256], x_test=x_test[:256], y_test=y_test[:256])
    model = keras.Sequential([keras.layers.Input((32,)), keras.layers.Dense(2, activation="softmax", name="out")])
    model.get_layer("out").set_weights([np.stack([-w, w], axis=1), np.zeros(2, "float32")])
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])

    recipe = Recipe(model_path="unused.keras", data=DataSpec(kind="npz", path=str(path)), suggest={"max_drop": 0.02})
    dataset = load_data(recipe.data_spec())
    assert model.evaluate(dataset.x_test, dataset.y_test, verbose=0)[1] == 1.0
    plan = resolve_plan(recipe, model, dataset, TrainingSettings(epochs=1, batch_size=32), ProgressBar(io.StringIO()))
    targets = {n: plan.layers[n].schedule.final_sparsity for n in plan.enabled_layers()}
    from prune_studio.scan import sensitivity_scan

    scan = sensitivity_scan(model, dataset, use_cache=False)
    assert 0 < targets.get("out", 0) < 0.5, targets  # it still prunes, and less than the training split suggests
    assert joint_drop(model, dataset, scan, targets, split="test") <= 0.02 + 1e-9, targets

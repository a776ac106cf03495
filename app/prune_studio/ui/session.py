"""What the window works on, and the background tasks that fill it.

:class:`Session` holds the loaded model, its description, the data set, the plan's layers and
the last run's result. The ``load_*`` functions run in worker threads (they import
TensorFlow); the window calls them through :class:`~prune_studio.ui.worker.Worker`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Session:
    """The state behind the window (plain Python; no Qt)."""

    loaded: Any = None  # models.LoadedModel
    description: Any = None  # models.ModelDescription
    dataset: Any = None  # data.Dataset
    data_spec: dict | None = None
    plans: dict[str, Any] = field(default_factory=dict)  # layer name -> LayerPlan
    result: Any = None  # training.FineTuneResult of the last run
    shrink: Any = None  # structured.run.ShrinkResult when the last run removed channels
    model_path: Path | None = None
    trust: bool = False

    def plan(self):
        """The :class:`~prune_studio.pruning.plan.PruningPlan` of the enabled and disabled layers."""
        from prune_studio.pruning.plan import PruningPlan

        return PruningPlan(layers=dict(self.plans))

    def run_sources(self):
        """``(ModelSource, DataSource)`` for fine-tuning in the training child, or None when the
        model did not come from a file or no data is loaded (the run then stays in this process)."""
        from prune_studio.training.run_process import DataSource, ModelSource

        if self.model_path is None or not self.model_path.exists() or self.data_spec is None or self.dataset is None:
            return None
        return ModelSource(str(self.model_path), self.trust), DataSource(dict(self.data_spec), tuple(self.dataset.fixes))

    def current_model(self):
        """The model to export: the pruned one after a run, else the one opened."""
        if self.result is not None:
            return self.result.stripped_model
        return self.loaded.model if self.loaded is not None else None


def load_model_task(path: str, trust: bool) -> tuple[Any, Any]:
    """Open and describe a model file (runs in a worker; imports TensorFlow).

    The description usually comes from the file's config alone (under a second for ResNet50);
    the tf-keras model is built afterwards by :func:`build_model_task` or the data task.
    """
    from prune_studio.models import open_model

    loaded = open_model(path, trust=trust)
    return loaded, loaded.describe()


def load_recipe_task(path: str) -> Any:
    """Read a recipe file (runs in a worker: its plan's schedules import TensorFlow)."""
    from prune_studio.recipe import load_recipe

    return load_recipe(path)


def build_model_task(loaded: Any) -> Any:
    """Build the opened model's layers and read its weights (runs in a worker)."""
    from prune_studio.ui.channel_analysis import prepare

    prepare(loaded.model)  # the Channels tab's groups, off the GUI thread
    return loaded.model


def load_data_task(spec: dict, input_shape: Any = None, loaded: Any = None) -> tuple[Any, list]:
    """Load a data set and check it against the opened model, building it if need be (runs in a worker)."""
    from prune_studio.data import DataSpec, check_data, load_data

    model = loaded.model if loaded is not None else None
    dataset = load_data(DataSpec.from_dict(spec), input_shape=input_shape)
    issues = check_data(dataset, model) if model is not None else []
    if model is not None and not issues:
        warm_up_tracing(model, dataset)
    if model is not None:
        from prune_studio.ui.channel_analysis import prepare

        prepare(model)  # the Channels tab's groups, off the GUI thread
    return dataset, issues


def warm_up_tracing(model: Any, dataset: Any, samples: int = 8) -> None:
    """Evaluate a compiled ``model`` on a few test samples to fill TensorFlow's one-time caches.

    The first ``tf.function`` trace in a process fills class-check and conversion caches in long
    stretches that keep the GIL from the GUI thread for 100-200 ms. Doing it here, while the
    window shows "Loading data…", keeps those stalls out of the fine-tune's live charts. Runs
    in a worker; a model without a loss (not compiled) is only read.
    """
    import prune_studio.scan.sensitivity  # noqa: F401 - imports that register classes reset
    import prune_studio.training  # noqa: F401 - Python's class-check caches: import them first
    import prune_studio.training.run  # noqa: F401 - and what a run imports when it starts
    from tensorflow.python.data.ops import concatenate_op  # noqa: F401 - (imported by the first fit)

    if getattr(model, "compiled_loss", None):
        x, y = dataset.sample(samples, "test")
        model.evaluate(x, y, batch_size=len(x), verbose=0)
    model.get_weights()
    _ = model.submodules  # checks the class of every attribute of every layer once


def with_end_step(schedule: Any, end_step: int) -> Any:
    """A copy of ``schedule`` that reaches its target at ``end_step`` (Constant: unchanged)."""
    config = schedule.get_config()
    inner = dict(config.get("config", config))
    if "target_sparsity" in inner:
        return schedule
    inner["end_step"] = max(int(end_step), inner["begin_step"] + 1)
    return type(schedule).from_config(inner)


def with_target(schedule: Any, target: float) -> Any:
    """A copy of ``schedule`` that ends at ``target`` zeros."""
    config = schedule.get_config()
    inner = dict(config.get("config", config))
    key = "target_sparsity" if "target_sparsity" in inner else "final_sparsity"
    inner[key] = float(target)
    if "initial_sparsity" in inner:
        inner["initial_sparsity"] = min(inner["initial_sparsity"], float(target))
    return type(schedule).from_config(inner)


def default_frequency(end_step: int) -> int:
    """Update masks about twenty times over the ramp, and at most every 100 steps."""
    return max(1, min(100, end_step // 20))

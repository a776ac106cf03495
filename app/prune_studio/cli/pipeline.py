"""Run a recipe end to end: open, (scan,) fine-tune with pruning, export, verify, report.

``prune`` and ``demo`` both call :func:`run_recipe`, so the demo is exactly a recipe run.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from pathlib import Path
from typing import Any

from prune_studio.cli.common import CliInputError, check_output_dir, load_inputs
from prune_studio.cli.policies import allowed_layers, restrict_plan
from prune_studio.cli.progress import ProgressBar
from prune_studio.cli.runtime import describe_strategy


def resolve_plan(recipe, model, dataset, settings, listener: ProgressBar):
    """The recipe's plan, or the scan's suggested plan when the recipe asks for one, narrowed to
    the layers the recipe's pruning policy allows."""
    policy = getattr(recipe, "policy", None)
    allowed = allowed_layers(model, policy)
    if recipe.plan is not None:
        plan = recipe.plan
    else:
        from prune_studio.scan import checked_targets, plan_from_targets, sensitivity_scan, suggest_plan
        from prune_studio.training import steps_for

        listener.on_log(f"Scanning layer sensitivity for a suggested plan ({recipe.suggest}).")
        # measured on held-out examples (the test split the run validates on), as the window does: a
        # model that fits its training data hides the cost there (MobileNetV2: a plan measured at a
        # 1.4-point drop on training examples cost 6.5 points on test examples)
        scan = sensitivity_scan(model, dataset, layers=allowed, progress=listener.phase("Scan"), split="test")
        end = suggested_ramp_end(steps_for(settings, dataset.num_train))
        if recipe.suggest.get("max_drop") is None:
            plan = suggest_plan(scan, begin_step=0, end_step=end, **recipe.suggest)
        else:
            targets, drop = checked_targets(model, dataset, scan, recipe.suggest["max_drop"], split="test",
                                            progress=listener.phase("Check"))
            listener.on_log(f"The suggested plan, every layer pruned at once, measures a drop of {drop:.3g} "
                            "before fine-tuning.")
            plan = plan_from_targets(scan, targets, begin_step=0, end_step=end)
    plan, off = restrict_plan(plan, allowed)
    if off and not plan.enabled_layers():
        raise CliInputError(f"The pruning policy '{policy}' leaves none of the plan's layers to prune; "
                            "switch on 1x1 convolutions in the plan or drop the policy.")
    if allowed is not None:
        listener.on_log(f"Pruning policy '{policy}': {len(plan.enabled_layers())} layer(s) pruned"
                        + (f", {len(off)} left dense ({', '.join(off[:5])}{'...' if len(off) > 5 else ''})." if off else "."))
    return plan


def suggested_ramp_end(total_steps: int) -> int:
    """Where a suggested plan reaches its targets: three quarters in, so the rest can recover."""
    return max(1, int(total_steps * 0.75))


@contextlib.contextmanager
def stop_on_interrupt(control, listener: ProgressBar):
    """The first Ctrl-C stops training after the current batch (the run still exports); a second aborts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if control.stopped:
            raise KeyboardInterrupt
        listener.on_log("Stopping after this batch; the model trained so far is exported (Ctrl-C again aborts).")
        control.stop()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_recipe(recipe, out_dir: Path, strategy=None, strategy_name: str = "default", epochs: int | None = None,
               logdir: str | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Run ``recipe`` and write every artifact and ``report.json`` into ``out_dir``.

    Under a multi-worker strategy every worker trains; the chief exports to ``out_dir`` and each
    other worker to ``out_dir/worker-<index>`` so files never collide on a shared disk.

    Returns:
        The report written to ``out_dir/report.json``: the export report's fields, plus
        ``training`` (baseline, final, history, sparsity...), ``plan``, ``recipe`` and ``strategy``.
    """
    from prune_studio.export import export_all
    from prune_studio.training import RunControl, TrainingSettings, fine_tune

    settings = TrainingSettings.from_dict(recipe.training.to_dict())
    if epochs is not None:
        settings.epochs = epochs
        settings.validate()
    where = describe_strategy(strategy_name, strategy)
    if not where["chief"]:
        out_dir = out_dir / f"worker-{where['task'].split(':')[1]}"
    check_output_dir(out_dir, recipe.export, overwrite)
    progress = ProgressBar()
    custom = recipe.resolve(getattr(recipe, "custom_objects", None))
    loaded, dataset = load_inputs(str(recipe.model_file()), recipe.data_spec(), trust=recipe.trust,
                                  custom_objects=None if custom is None else str(custom))
    plan = resolve_plan(recipe, loaded.model, dataset, settings, progress)

    control = RunControl()
    # a worker of a cluster cannot stop alone (the others would wait on it), so Ctrl-C aborts there
    graceful = strategy_name != "multi-worker"
    with stop_on_interrupt(control, progress) if graceful else contextlib.nullcontext():
        shrunk = None
        if recipe.structured is not None:  # remove whole channels first (the plan then prunes weights)
            from prune_studio.structured import structured_fine_tune

            shrunk = structured_fine_tune(loaded.model, dataset, recipe.structured, settings, loaded.compile_settings,
                                          listener=progress, control=control, plan=plan, strategy=strategy)
            result = shrunk.fine_tune
        else:
            result = fine_tune(loaded.model, plan, dataset, settings, compile_settings=loaded.compile_settings,
                               listener=progress, control=control, strategy=strategy, logdir=logdir)
    export = export_all(result.stripped_model, dataset, out_dir, recipe.export, baseline_path=str(recipe.model_file()),
                        baseline_model=loaded.model, overwrite=True, progress=progress.phase("Export"))
    report = export.to_dict()
    report.update(
        training=result.to_dict(),
        plan=plan.to_dict(),
        recipe=recipe.to_dict(),
        strategy=where,
    )
    from prune_studio.structured.report import cost_report

    report["cost"] = cost_report(loaded.model, result.stripped_model)
    if shrunk is not None:
        report["structured"] = shrunk.to_dict()
    (Path(out_dir) / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    return report


def summary(report: dict[str, Any]) -> str:
    """A few human-readable lines about a fine-tune run and its export."""
    train = report["training"]
    lines = [
        f"Accuracy before: {_fmt(train['baseline'])}, after: {_fmt(train['final'])}"
        + (" (stopped early)" if train["stopped"] else ""),
        "Zeros per layer: " + ", ".join(f"{k} {v:.0%}" for k, v in train["sparsity"].items()),
    ]
    return "\n".join(lines + summary_lines(report))


def summary_lines(report: dict[str, Any]) -> list[str]:
    """One line per exported artifact, then where the report is."""
    lines = []
    for art in report.get("artifacts", []):
        state = "ok" if art.get("ok") else "not kept" if art.get("dropped") else f"FAILED ({art.get('note', '')})"
        state += ", recommended" if art.get("recommended") else ""
        acc = art.get("accuracy")
        lines.append(
            f"  {art['name']:<34} {art.get('gzip_bytes') or 0:>10,} B gzipped  "
            f"accuracy {'n/a' if acc is None else f'{acc:.2%}'}  {state}"
        )
    lines.append(f"Report: {Path(report.get('out_dir') or '.') / 'report.json'}")
    return lines


def export_exit_code(report: dict[str, Any]) -> int:
    """0 when every requested artifact was written and verified, else 1 with one line on stderr.

    A sparse file removed because the plain one is smaller and faster (``dropped``) is no failure.
    """
    import sys

    failed = [a for a in report.get("artifacts", []) if not a.get("ok") and not a.get("dropped")]
    if not failed:
        return 0
    total = len(report.get("artifacts", []))
    names = ", ".join(a["name"] for a in failed[:3]) + (f" and {len(failed) - 3} more" if len(failed) > 3 else "")
    print(f"prune-studio-cli: error: {len(failed)} of {total} artifacts could not be exported ({names}); "
          "see their notes in report.json.", file=sys.stderr)
    return 1


def _fmt(metrics: dict) -> str:
    acc = metrics.get("accuracy")
    if acc is None:
        return f"loss {metrics.get('loss', float('nan')):.4f}"
    # several outputs: Keras names each output's accuracy "<output>_accuracy"; the headline is their mean
    each = {k[: -len("_accuracy")]: v for k, v in metrics.items() if k.endswith("_accuracy") and not k.startswith("val_")}
    return f"{acc:.2%}" + (f" ({', '.join(f'{k} {v:.2%}' for k, v in each.items())})" if len(each) > 1 else "")

"""Benchmark: the model zoo at the sizes users bring, judged as users judge it.

For each model (trained first on data it can learn, so its accuracy is a real baseline) it
prints one line: open + describe time (as ``inspect`` and the window do it; and with the model
built), the fine-tune step's CPU-time ratio (pruned / plain, one TensorFlow thread, alternated
runs), export + verification time of every artifact, peak memory, and test accuracy: baseline, after a fine-tune with every target at 0% and the
defaults, and after the suggested plan (``max_drop`` 0.02). Each CLI run is a process of its
own, as a user runs it; peak memory is that process's maximum resident set.

Each model learns a noisier version of the zoo's data (tests use data learnable to ~100%), so
its baseline sits below 100% and a lost point shows; BatchNormalization statistics are settled
after training (``zoo_maker.settle_batchnorm``), as in a model trained to the end.

``ZOO_BENCH=mobilenet_v2,resnet50`` picks models (default: all of :data:`MODELS`);
``ZOO_FLAVOUR=keras3`` writes them with Keras 3 instead of tf-keras, as a Keras 3 user's file.
"""

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "zoo"))
from zoo_pipeline import make_zoo  # noqa: E402

# model -> (input side for image models or None, epochs to train the baseline, noise multiplier)
MODELS = {
    "mobilenet_v2": (96, 12, 1.0),
    "mobilenet_v3_small": (96, 12, 2.0),
    "resnet50": (64, 6, 2.0),
    "efficientnet_b0": (64, 8, 2.0),
    "densenet121": (64, 6, 2.0),
    "resnet_small": (64, 10, 2.1),
    "conv1d_bn": (None, 15, 5.0),
    "text_lstm": (None, 15, 2.0),
}
#: Training and test examples: 400 test examples put one example at a quarter of a point.
SAMPLES = "512,400"
RUNNER = ("import resource, sys; from prune_studio.cli import main; code = main(sys.argv[1:]); "
          "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(code)")


def _cli(*args, timeout=3600):
    env = {**os.environ, "TF_NUM_INTRAOP_THREADS": "2", "TF_NUM_INTEROP_THREADS": "1"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", RUNNER, *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)
    seconds = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr[-3000:]
    peak = [int(line.split()[1]) for line in proc.stderr.splitlines() if line.startswith("PEAK_RSS_KB")]
    return json.loads(proc.stdout), seconds, peak[-1] / 1024 if peak else float("nan")


def _recipe(path, plan, epochs=None):
    training = {} if epochs is None else {"epochs": epochs}
    path.write_text(json.dumps({"schema_version": 1, "model": {"path": "unused.keras"}, "data": {"kind": "digits"},
                                "plan": plan, "training": training}), encoding="utf-8")
    return path


def _best(report):
    accs = [a["accuracy"] for a in report["artifacts"] if a.get("ok") and a.get("accuracy") is not None]
    return report["training"]["final"].get("accuracy"), min(accs) if accs else None


def _step_ratio(model, x, y, rounds=5, steps=20):
    """CPU seconds per training step, pruned (0% -> 50% every 10 steps) over plain, medians of alternated runs."""
    from prune_studio.compat import keras
    from prune_studio.pruning import PolynomialDecay, UpdatePruningStep, prune_low_magnitude

    plain = keras.models.clone_model(model)
    plain.set_weights(model.get_weights())
    wrapped = prune_low_magnitude(keras.models.clone_model(model), strict=False,
                                  pruning_schedule=PolynomialDecay(0.0, 0.5, 0, 10 * steps * rounds, frequency=10))
    batch = 32
    x, y = x[: batch * steps], y[: batch * steps]
    for m in (plain, wrapped):
        m.compile("adam", "sparse_categorical_crossentropy")
    cb = [UpdatePruningStep()]
    plain.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    wrapped.fit(x, y, batch_size=batch, epochs=1, verbose=0, callbacks=cb)
    times = {"plain": [], "pruned": []}
    for _ in range(rounds):
        for name, m, c in (("plain", plain, None), ("pruned", wrapped, cb)):
            start = time.process_time()
            m.fit(x, y, batch_size=batch, epochs=1, verbose=0, callbacks=c)
            times[name].append(time.process_time() - start)
    return float(np.median(times["pruned"]) / np.median(times["plain"]))


@pytest.mark.parametrize("name", [m for m in os.environ.get("ZOO_BENCH", ",".join(MODELS)).split(",") if m])
def test_zoo_model(name, tmp_path):
    from prune_studio.data import DataSpec, load_data
    from prune_studio.export import export_all
    from prune_studio.models import describe_model, load_model, open_model

    size, epochs, noise = MODELS[name]
    extra = ("--size", str(size)) if size else ()
    flavour = os.environ.get("ZOO_FLAVOUR", "tf_keras")
    zoo = make_zoo(tmp_path / "zoo", flavour, [name], "--train-epochs", str(epochs), *extra,
                   "--noise", str(noise), "--samples", SAMPLES)
    model_path, data = zoo / f"{name}.keras", zoo / f"{name}.npz"

    start = time.perf_counter()
    description = open_model(model_path).describe()  # what inspect and the window show first
    described = time.perf_counter() - start
    start = time.perf_counter()
    loaded = load_model(model_path)
    built_description = describe_model(loaded.model, loaded.path)
    built = time.perf_counter() - start
    assert built_description.to_dict() == description.to_dict()
    n_layers = len(list(description.layers()))

    dataset = load_data(DataSpec(kind="npz", path=str(data)))
    ratio = _step_ratio(loaded.model, dataset.x_train, dataset.y_train)

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    export = export_all(loaded.model, dataset, tmp_path / "export", baseline_path=str(model_path),
                        baseline_model=loaded.model)
    exported = time.perf_counter() - start
    export_ok = sum(a.ok for a in export.artifacts)
    dropped = sum(a.dropped for a in export.artifacts)
    for artifact in export.artifacts:
        if not artifact.ok and not artifact.dropped:
            print(f"\n  not made: {artifact.name}: {artifact.note}")

    layers = [layer.name for layer in description.layers() if layer.prunable]
    zero = {"layers": {n: {"enabled": True, "schedule": {"class_name": "ConstantSparsity", "config": {
        "target_sparsity": 0.0, "begin_step": 0, "end_step": -1, "frequency": 100}}} for n in layers}}
    zero_report, zero_s, zero_mb = _cli("prune", model_path, "--data", data, "--json", "--out", tmp_path / "zero",
                                        "--recipe", _recipe(tmp_path / "zero.json", zero, epochs=3))
    plan_report, plan_s, plan_mb = _cli("prune", model_path, "--data", data, "--json", "--out", tmp_path / "plan",
                                        "--recipe", _recipe(tmp_path / "plan.json", {"suggest": {"max_drop": 0.02}}))
    baseline = zero_report["training"]["baseline"].get("accuracy")
    zero_final, zero_worst = _best(zero_report)
    plan_final, plan_worst = _best(plan_report)
    zeros = plan_report.get("sparsity", {}).get("overall")
    print(f"\nzoo {name} ({flavour} file): {n_layers} layers, {loaded.model.count_params():,} params | open+describe {described:.2f} s (built: {built:.2f} s) | "
          f"step ratio {ratio:.3f}x | export+verify {exported:.1f} s ({export_ok}/{len(export.artifacts)} ok, {dropped} dropped as larger and slower, "
          f"peak RSS +{(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024:.0f} MB) | "
          f"CLI peak {max(zero_mb, plan_mb):.0f} MB | accuracy baseline {baseline:.3f}, 0% fine-tune {zero_final:.3f} "
          f"(worst artifact {zero_worst:.3f}, {zero_s:.0f} s), suggested plan {plan_final:.3f} "
          f"(worst artifact {plan_worst:.3f}, zeros {zeros if zeros is None else f'{zeros:.0%}'}, {plan_s:.0f} s) | "
          f"0% fine-tune within 1 point: {_kept(baseline, zero_worst, 0.01)}, plan within max_drop + 1 point: "
          f"{_kept(baseline, plan_worst, 0.03)}")


def _kept(baseline, worst, allowed):
    if baseline is None or worst is None:
        return "unknown"
    return f"{'yes' if worst >= baseline - allowed - 1e-9 else 'NO'} ({(worst - baseline) * 100:+.1f} pts)"

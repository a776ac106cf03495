"""Benchmark: the built-in demo end to end at ~84% zeros, measured as the TFMOT tutorial measures it.

Prune the demo CNN to the demo's per-layer targets while fine-tuning eight short epochs, export with
:func:`prune_studio.export.export_all`, and print the gzip size ratios against the baseline
``.keras`` file for the pruned Keras model and for pruned + int8 TFLite (dynamic-range, as the
tutorial does, and full-integer), with the verified accuracies. Targets: at least 3x and 10x, accuracy within 1 point of the baseline.
Run with ``make bench`` (``-s`` shows the table).
"""

import os
import time
from pathlib import Path

import numpy as np

from prune_studio.compat import keras
from prune_studio.export import ExportSettings, export_all


def test_demo_export_sizes_and_accuracy(demo_model_file, tmp_path):
    from prune_studio.data import DataSpec, load_data
    from prune_studio.pruning import PolynomialDecay, UpdatePruningStep, prune_low_magnitude

    keras.utils.set_random_seed(0)
    dataset = load_data(DataSpec("digits"))
    baseline = keras.models.load_model(demo_model_file)
    # Ramp to the demo's per-layer targets (80% of all kernel weights: the first convolution and
    # the 10-way head, which lose accuracy first, at 50%) over the first half of the run, recover
    # during the second half, at the fine-tuning learning rate. The tutorial's uniform 80% at Adam
    # 1e-3 over 4 epochs ended 1.1-1.4 points below the baseline here.
    from prune_studio.cli.cmd_demo import DEMO_TARGETS

    epochs, batch = 8, 32
    steps = epochs * int(np.ceil(dataset.num_train / batch))

    def wrap(layer):  # the tfmot guide's per-layer pattern: the layer itself, wrapped or not
        if layer.name not in DEMO_TARGETS:
            return layer
        schedule = PolynomialDecay(0.0, DEMO_TARGETS[layer.name], begin_step=0, end_step=steps // 2, frequency=5)
        return prune_low_magnitude(layer, pruning_schedule=schedule)

    wrapped = keras.models.clone_model(keras.models.load_model(demo_model_file), clone_function=wrap)
    wrapped.compile(keras.optimizers.Adam(3e-4), "sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    wrapped.fit(dataset.x_train, dataset.y_train, batch_size=batch, epochs=epochs, verbose=0,
                callbacks=[UpdatePruningStep()])
    tuned = time.perf_counter() - start

    start = time.perf_counter()
    report = export_all(wrapped, dataset, tmp_path / "out",
                        ExportSettings(keras=True, h5=False, tflite=("float32", "dynamic", "int8"), sparse=True),
                        baseline_path=demo_model_file, baseline_model=baseline)
    exported = time.perf_counter() - start

    base = report.baseline
    print(f"\nfine-tune {tuned:.1f} s, export {exported:.1f} s, zeros in kernels {report.sparsity['overall']:.1%}")
    print(f"{'artifact':38s} {'bytes':>9s} {'gzip':>9s} {'ratio':>6s} {'acc':>7s}  note")
    print(f"{'baseline ' + Path(demo_model_file).name:38s} {base['bytes']:9d} {base['gzip_bytes']:9d} "
          f"{1.0:6.2f} {base['accuracy']:7.2%}")
    for a in report.artifacts:
        print(f"{a.name:38s} {a.bytes:9d} {a.gzip_bytes:9d} {report.ratio(a):6.2f} {a.accuracy:7.2%}  {a.note}")

    by_file = {Path(a.path).name: a for a in report.artifacts}
    # The tutorial's "pruning + quantization" is dynamic-range int8 (Optimize.DEFAULT); the
    # full-integer file also stores activation ranges and lands just under 10x (9.9x here).
    pruned, int8, full = by_file["model.keras"], by_file["model_dynamic.tflite"], by_file["model_int8.tflite"]
    assert all(a.ok for a in report.artifacts)
    assert report.ratio(pruned) >= 3.0
    assert report.ratio(int8) >= 10.0
    assert report.ratio(full) >= 9.5
    for art in (pruned, int8, full):
        assert art.accuracy >= base["accuracy"] - 0.01, art.name


def _half_zeros(model):
    """A copy of ``model`` with half of each kernel's weights zeroed (magnitude pruning at 50%, as a
    fine-tune would leave the kernels)."""
    pruned = keras.models.clone_model(model)
    pruned.set_weights(model.get_weights())
    for w in pruned.weights:
        if len(w.shape) >= 2:
            a = w.numpy()
            a[np.abs(a) < np.quantile(np.abs(a), 0.5)] = 0
            w.assign(a)
    return pruned


def _converter_cpu() -> float:
    """CPU seconds the TFLite converter children have used so far (0 before they start)."""
    from prune_studio.export import tflite_process

    total = 0.0
    for child in tflite_process.children():
        process = child._process
        if process is None or process.poll() is not None:
            continue
        with open(f"/proc/{process.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _export_every_file(name, model, side, tmp_path):
    """Export ``model`` (half its kernel weights zeroed) as all ten files plus the Keras 3 copy, verify
    each, and print wall / CPU time, the time of each step, peak memory and each file's outcome."""
    import resource

    from prune_studio.data.dataset import Dataset

    pruned = _half_zeros(model)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.random((400, side, side, 3), dtype=np.float32)
    y = rng.integers(0, 10, 400)
    model.fit(x[:32], y[:32], epochs=1, verbose=0)  # the opened file carries Adam's state, as users' files do
    opened = tmp_path / f"{name}.keras"
    model.save(opened)
    dataset = Dataset("synthetic", x[:200], y[:200], x[200:], y[200:], 10, (side, side, 3))
    every = ExportSettings(sparse_int8=True, keep_dominated=True)  # all ten files plus the Keras 3 copy
    marks = []
    load = os.getloadavg()[0]
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    converter = _converter_cpu()
    wall, cpu = time.perf_counter(), time.process_time()
    report = export_all(pruned, dataset, tmp_path / "out", every, baseline_path=opened, baseline_model=model,
                        progress=lambda f, text: marks.append((time.perf_counter(), text)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    converter = _converter_cpu() - converter
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    keras3 = children.ru_utime + children.ru_stime - reaped.ru_utime - reaped.ru_stime
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n{name} {side}x{side}: {len(report.artifacts)} files exported and verified on "
          f"{report.baseline['verify_samples']} test samples in {wall:.1f} s wall, {cpu:.1f} s CPU (this process), "
          f"{converter:.1f} s CPU (TFLite converter children), {keras3:.1f} s CPU (Keras 3 child); load {load:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after; peak memory {own:.0f} MB (this process), "
          f"{children.ru_maxrss / 1024:.0f} MB (largest child waited for)")
    for (t0, text), (t1, _) in zip(marks, marks[1:]):
        print(f"  {t1 - t0:6.1f} s  {text}")
    print(f"{'artifact':40s} {'gzip':>11s} {'vs':>6s} {'speed-up':>8s} {'ms':>8s}  baseline / note")
    for a in report.artifacts:
        print(f"{a.name:40s} {a.gzip_bytes:11,d} {report.ratio(a) or 0:5.2f}x {a.speedup or 0:7.2f}x "
              f"{a.latency_ms or 0:8.3f}  {a.baseline_label}{'  RECOMMENDED' if a.recommended else ''}  {a.note}")
    assert all(a.ok for a in report.artifacts), [a.note for a in report.artifacts if not a.ok]
    return report, wall


def test_mobilenet_v2_export_and_verify_time_and_memory(tmp_path):
    """Issue 16 item 3: every export of MobileNetV2 and its verification in < 60 s on 2 cores."""
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10)
    _export_every_file("MobileNetV2 0.35", model, 96, tmp_path)


def test_resnet50_export_and_verify_time_and_memory(tmp_path):
    """Issue 16 item 3: every export of ResNet50 (64x64, ~23.6 M parameters) and its verification in
    < 60 s on 2 cores. Not reached: 78-84 s wall here (149 s two sessions ago, 120 s at the start
    of the last), with each kind's sparse file encoded from its plain conversion and the gzip
    measures running beside verification. The floor is CPU: ~144 core-seconds in all (deflating
    15 files of 24-283 MB at the tutorial's level ~45, the converter children ~48, the Keras 3
    child ~11, tracing, saving and verifying the rest), so >= 72 s on two cores; the timeline
    shows both cores busy 1.87 of the time."""
    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50(input_shape=(64, 64, 3), weights=None, classes=10)
    _export_every_file("ResNet50", model, 64, tmp_path)

"""How long opening and describing a real model takes, per architecture and file format.

MobileNetV2 (alpha 0.35, 96x96) and ResNet50 (64x64), ``weights=None``, saved by tf-keras as
``.keras``, ``.h5`` and a SavedModel folder, and by Keras 3 as ``.keras``. For each file this
prints the seconds of what ``inspect`` and the window do to show the layers, ``open_model`` +
``describe()`` (described from the config, nothing built), and of the full build,
``load_model`` + ``describe_model`` (median of three each), side by side with
building the same architecture from scratch in the same process and with tf-keras's own
``load_model`` on the ``.keras`` file (which reads the weights through the zip archive) and the
SavedModel (which first rebuilds every traced function). Target:
under 2 s each on an idle machine. Run with ``make bench`` or
``pytest tests/benchmarks/test_bench_open.py -s``.
"""

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prune_studio.compat import keras
from prune_studio.models import describe_model, load_model, open_model

MAKER = Path(__file__).parents[1] / "models" / "keras3_maker.py"
ARCHITECTURES = {
    "mobilenet_v2": lambda: keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None,
                                                           classes=10),
    "resnet50": lambda: keras.applications.ResNet50(input_shape=(64, 64, 3), weights=None, classes=10),
}
REPEATS = 3


def _median_seconds(fn, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """``ROOT/<name>.keras|.h5|_savedmodel`` by tf-keras and ``ROOT/k3/<name>.keras`` by Keras 3."""
    root = tmp_path_factory.mktemp("open")
    (root / "k3").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    subprocess.run([sys.executable, str(MAKER), str(root / "k3"), *ARCHITECTURES], check=True, env=env,
                   capture_output=True, timeout=1800)
    for name, build in ARCHITECTURES.items():
        model = build()
        model.save(root / f"{name}.keras")
        model.save(root / f"{name}.h5")
        model.save(str(root / f"{name}_savedmodel"), save_format="tf")
    return root


def test_open_and_describe_seconds(files):
    load_model(files / "mobilenet_v2.h5")  # TensorFlow's first-use costs are not the file's
    print(f"\n{'model':<14} {'format':<20} {'describe (fast)':>15} {'load+describe':>14} {'fast/full':>9} "
          f"{'build from scratch':>19} {'full/scratch':>12}   load average {os.getloadavg()[0]:.1f}")
    for name, build in ARCHITECTURES.items():
        scratch = _median_seconds(build)
        rows = [("tf-keras .keras", files / f"{name}.keras"), ("tf-keras .h5", files / f"{name}.h5"),
                ("tf-keras SavedModel", files / f"{name}_savedmodel"), ("Keras 3 .keras", files / "k3" / f"{name}.keras")]
        for label, path in rows:
            fast = _median_seconds(lambda: open_model(path).describe())
            seconds = _median_seconds(lambda: describe_model(load_model(path).model, path))
            print(f"{name:<14} {label:<20} {fast:>14.2f}s {seconds:>13.2f}s {fast / seconds:>8.2f}x "
                  f"{scratch:>18.2f}s {seconds / scratch:>11.1f}x")
        # tf-keras's own loaders, once each (the .keras one takes minutes on ResNet50)
        stock = _median_seconds(lambda: keras.models.load_model(str(files / f"{name}.keras"), compile=False), 1)
        print(f"{name:<14} {'.keras, stock loader':<20} {'':>15} {stock:>13.2f}s {'':>9} {scratch:>18.2f}s "
              f"{stock / scratch:>11.1f}x")
        stock = _median_seconds(lambda: keras.models.load_model(str(files / f"{name}_savedmodel"), compile=False), 1)
        print(f"{name:<14} {'SavedModel, stock':<20} {'':>15} {stock:>13.2f}s {'':>9} {scratch:>18.2f}s "
              f"{stock / scratch:>11.1f}x")

"""Speed of the pruning engine: fine-tuning with pruning versus plain training.

Method (issue 3): process CPU time with TensorFlow limited to one intra-op and one inter-op
thread, set in a fresh process before TensorFlow runs anything, so other load on the machine
does not skew the figures. Plain and pruned runs alternate; each figure is the median of five.
A run is ``fit`` over N batches; the fixed cost of a ``fit`` call is removed by also timing a
short ``fit`` and taking the difference, so the ratio compares the cost of a training step.

Printed, not asserted (timings are noisy): the ratio pruned/plain for (a) a 28x28x1 CNN
conv32-conv64-maxpool-dense256-dense10 at batch 64 and (b) an MLP 64-256-128-10 at batch 32,
both with ``PolynomialDecay(0.5, 0.8)`` pruning every 10 steps, and the time of one mask update
on a 4096x4096 kernel (ours, and a full sort as the reference does it).

Run with ``make bench`` or ``pytest tests/benchmarks/test_bench_engine.py -s``.
"""

import os
import subprocess
import sys
import time

REPEATS = 5


def _models(keras):
    L = keras.layers
    cnn = keras.Sequential(
        [
            L.Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)),
            L.Conv2D(64, 3, activation="relu"),
            L.MaxPooling2D(),
            L.Flatten(),
            L.Dense(256, activation="relu"),
            L.Dense(10),
        ]
    )
    mlp = keras.Sequential(
        [L.Dense(256, activation="relu", input_shape=(64,)), L.Dense(128, activation="relu"), L.Dense(10)]
    )
    return {"cnn": (cnn, 64, (28, 28, 1), 12, 3), "mlp": (mlp, 32, (64,), 600, 100)}


def _child():
    from prune_studio.compat import keras, tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import numpy as np

    from prune_studio import pruning
    from prune_studio.pruning import masks

    keras.utils.set_random_seed(0)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    only = os.environ.get("BENCH_ONLY")
    for name, (model, batch, shape, long_steps, short_steps) in _models(keras).items():
        if only and name != only:
            continue
        schedule = pruning.PolynomialDecay(0.5, 0.8, begin_step=0, end_step=1_000_000, frequency=10)
        pruned = pruning.prune_low_magnitude(model, schedule)
        model.compile("adam", loss)
        pruned.compile("adam", loss)
        rng = np.random.default_rng(0)
        x = rng.random((long_steps * batch,) + shape, dtype=np.float32)
        y = rng.integers(0, 10, long_steps * batch)
        runs = {"plain": (model, []), "pruned": (pruned, [UpdateCallback := pruning.UpdatePruningStep()])}
        del UpdateCallback

        def timed(which, steps):
            net, callbacks = runs[which]
            start = time.process_time()
            net.fit(x[: steps * batch], y[: steps * batch], batch_size=batch, epochs=1, callbacks=callbacks, verbose=0)
            return time.process_time() - start

        for which in runs:  # trace and warm up
            timed(which, short_steps)
        per_step = {"plain": [], "pruned": []}
        for _ in range(REPEATS):
            for which in runs:
                cost = timed(which, long_steps) - timed(which, short_steps)
                per_step[which].append(cost / (long_steps - short_steps))
        plain = float(np.median(per_step["plain"]))
        with_pruning = float(np.median(per_step["pruned"]))
        print(
            f"BENCH {name}: plain {plain * 1e3:.3f} ms/step, pruned {with_pruning * 1e3:.3f} ms/step, "
            f"ratio {with_pruning / plain:.3f}x"
        )

    kernel = tf.Variable(tf.random.stateless_normal((4096, 4096), seed=(1, 2)))
    ours = tf.function(lambda: masks.magnitude_mask(kernel, 0.8)[1])

    def full_sort_mask():
        a = tf.abs(kernel)
        k = masks.keep_count(tf.size(a), 0.8)
        values = tf.math.top_k(tf.reshape(a, [-1]), k=tf.size(a)).values
        return tf.cast(a >= tf.gather(values, k - 1), kernel.dtype)

    reference = tf.function(full_sort_mask)
    np.testing.assert_array_equal(ours().numpy(), reference().numpy())
    for label, fn in (("ours", ours), ("full sort (reference method)", reference)):
        times = []
        for _ in range(REPEATS):
            start = time.process_time()
            fn().numpy()
            times.append(time.process_time() - start)
        print(f"BENCH mask update 4096x4096, {label}: {np.median(times) * 1e3:.1f} ms CPU")


def test_bench_engine():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, __file__], capture_output=True, text=True, timeout=1800, env=env
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("BENCH ")]
    print("\n" + "\n".join(lines))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(lines) == 4


if __name__ == "__main__":
    _child()

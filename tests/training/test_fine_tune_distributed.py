"""fine_tune under MirroredStrategy with two logical CPUs: every replica holds the same masks.

Logical devices must be configured before TensorFlow starts, so this runs in a fresh process.
"""

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from prune_studio.compat import tf, keras
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from prune_studio.data import DataSpec, load_data
    from prune_studio.models import CompileSettings
    from prune_studio.pruning.plan import PruningPlan
    from prune_studio.training import TrainingSettings, fine_tune, steps_for

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(32, activation="relu", name="hidden"),
                              keras.layers.Dense(10, activation="softmax", name="out")])
    dataset = load_data(DataSpec(kind="npz", path=sys.argv[1]))
    settings = TrainingSettings(epochs=1, batch_size=32)
    plan = PruningPlan.uniform(model, 0.6, 0, steps_for(settings, dataset.num_train) - 1, frequency=2)
    result = fine_tune(model, plan, dataset, settings, strategy=strategy,
                       compile_settings=CompileSettings("sparse_categorical_crossentropy", ["accuracy"]))
    masks = [v for v in result.wrapped_model.variables if "mask" in v.name]
    per_replica = [[np.asarray(r) for r in strategy.experimental_local_results(v)] for v in masks]
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "masks": len(masks),
        "copies": [len(c) for c in per_replica],
        "agree": all(np.array_equal(c[0], other) for c in per_replica for other in c[1:]),
        "zeros": [float(np.mean(c[0] == 0)) for c in per_replica],
        "final": result.final,
    }))
""")


def test_mirrored_two_logical_cpus_same_masks(tiny_npz):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tiny_npz)], capture_output=True, text=True,
                          timeout=150)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["replicas"] == 2
    assert out["masks"] == 2 and out["copies"] == [2, 2]
    assert out["agree"]
    assert all(abs(z - 0.6) < 0.02 for z in out["zeros"])
    assert 0 <= out["final"]["accuracy"] <= 1

"""Run in a fresh process by test_distributed.py: prune under MirroredStrategy on 2 CPUs."""

import json
import sys

import numpy as np

from prune_studio.compat import keras, tf
from prune_studio import pruning

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
keras.utils.set_random_seed(0)
with strategy.scope():
    model = keras.Sequential(
        [keras.layers.Dense(16, activation="relu", input_shape=(12,), name="h"), keras.layers.Dense(3, name="o")]
    )
    pruned = pruning.prune_low_magnitude(model, pruning.PolynomialDecay(0.3, 0.7, 0, 6, frequency=2))
    pruned.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 12)).astype("float32")
y = rng.integers(0, 3, 64)
pruned.fit(x, y, batch_size=8, epochs=1, callbacks=[pruning.UpdatePruningStep()], verbose=0)
out = {"replicas": strategy.num_replicas_in_sync, "layers": {}}
for wrapper in pruned.layers:
    masks = [m.values for _, m, _ in wrapper.pruning_vars]
    steps = [int(v.numpy()) for v in wrapper.pruning_step.values]
    kernel = wrapper.layer.kernel
    out["layers"][wrapper.layer.name] = {
        "same_masks": all(np.array_equal(v[0].numpy(), v[1].numpy()) for v in masks),
        "kept": [int(np.sum(v[0].numpy())) for v in masks],
        "size": [int(np.prod(v[0].shape)) for v in masks],
        "steps": steps,
        "nonzero_per_replica": [int(np.count_nonzero(v.numpy())) for v in kernel.values],
    }
print("RESULT " + json.dumps(out))
sys.stdout.flush()

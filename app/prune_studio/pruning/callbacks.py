"""Keras callbacks: ``UpdatePruningStep`` and ``PruningSummaries``.

The step counter advances inside the training graph (see :mod:`.wrapper`), so
``UpdatePruningStep`` has no per-batch work: it starts fresh wrappers at step 0 and re-applies
masks at the end of each epoch and of training (a no-op when weights are already sparse, kept
for weights changed outside the optimizer).
"""

import numpy as np

from prune_studio.compat import keras, tf
from prune_studio.pruning.prune import wrappers_of


def start_pruning_steps(model):
    """Set the step of wrappers never trained (step -1) to 0; restored models keep theirs."""
    for wrapper in wrappers_of(model):
        if not wrapper.built:
            continue
        if int(wrapper.pruning_step.read_value()) < 0:
            wrapper.pruning_step.assign(0)


def apply_all_masks(model):
    """``weights *= mask`` for every wrapper of ``model``."""
    for wrapper in wrappers_of(model):
        if wrapper.built:
            wrapper.apply_masks()


class UpdatePruningStep(keras.callbacks.Callback):
    """Keras callback required (as in tfmot) when fitting a model being pruned.

    Example:
        >>> model.fit(x, y, callbacks=[UpdatePruningStep()])
    """

    def on_train_begin(self, logs=None):
        if self.model is not None:
            start_pruning_steps(self.model)

    def on_epoch_end(self, batch, logs=None):
        if self.model is not None:
            apply_all_masks(self.model)

    def on_train_end(self, logs=None):
        if self.model is not None:
            apply_all_masks(self.model)


class PruningSummaries(keras.callbacks.TensorBoard):
    """TensorBoard callback that also writes each pruned weight's sparsity and threshold.

    Scalars are named ``<layer>/<weight>_mask/sparsity`` and ``.../threshold``, logged at the
    optimizer's iteration every epoch (and every ``update_freq`` batches when it is an int).

    Args:
        log_dir: where TensorBoard event files go.
        update_freq: ``'epoch'`` (default) or a number of batches.
        **kwargs: other ``keras.callbacks.TensorBoard`` arguments.
    """

    def __init__(self, log_dir, update_freq="epoch", **kwargs):
        super().__init__(log_dir=log_dir, update_freq=update_freq, **kwargs)
        self._pruning_writer = None

    def _pruning_scalars(self):
        scalars = {}
        for wrapper in wrappers_of(self.model):
            for _, mask, threshold in wrapper.pruning_vars:
                name = mask.name.split(":")[0]
                scalars[f"{name}/sparsity"] = 1.0 - float(np.mean(mask.numpy()))
                scalars[f"{threshold.name.split(':')[0]}/threshold"] = float(threshold.numpy())
        return scalars

    def _write_pruning(self):
        if self._pruning_writer is None:
            self._pruning_writer = tf.summary.create_file_writer(self.log_dir + "/pruning")
        step = int(self.model.optimizer.iterations.numpy()) if self.model.optimizer else 0
        with self._pruning_writer.as_default():
            for name, value in self._pruning_scalars().items():
                tf.summary.scalar(name, value, step=step)
        self._pruning_writer.flush()

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        if isinstance(self.update_freq, int) and self.update_freq > 0 and (batch + 1) % self.update_freq == 0:
            self._write_pruning()

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        self._write_pruning()

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        if self._pruning_writer is not None:
            self._pruning_writer.close()
            self._pruning_writer = None

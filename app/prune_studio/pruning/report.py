"""Cheap per-layer sparsity read-outs for live charts and reports.

Reads only the masks' sums and the step counters (a few small device reads per layer), so it
can run every few batches without slowing training.
"""

import dataclasses

from prune_studio.compat import tf
from prune_studio.pruning.prune import wrappers_of
from prune_studio.pruning.schedules import reached_sparsity


@dataclasses.dataclass
class LayerSparsity:
    """Sparsity of one wrapped layer: the fraction pruned, the schedule's target now, counts."""

    name: str
    sparsity: float
    target: float
    pruned: int
    total: int

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data):
        return cls(**data)


def sparsity_report(model):
    """One :class:`LayerSparsity` per pruning wrapper in ``model`` (nested models included).

    ``name`` is the wrapped layer's name; ``target`` is what its schedule has reached at the
    wrapper's current step.
    """
    rows = []
    for wrapper in wrappers_of(model):
        if not wrapper.built or not wrapper.pruning_vars:
            continue
        total = sum(int(mask.shape.num_elements()) for _, mask, _ in wrapper.pruning_vars)
        kept = sum(float(tf.reduce_sum(tf.cast(mask, tf.float32))) for _, mask, _ in wrapper.pruning_vars)
        pruned = total - int(round(kept))
        # Steps count from 1 (the reference's numbering): the last batch ran at pruning_step.
        target = reached_sparsity(wrapper.pruning_schedule, int(wrapper.pruning_step.read_value()))
        rows.append(LayerSparsity(wrapper.layer.name, pruned / total if total else 0.0, float(target), pruned, total))
    return rows


def overall_sparsity(model):
    """Fraction of all prunable weights of wrapped layers that are pruned (0 if none)."""
    rows = sparsity_report(model)
    total = sum(r.total for r in rows)
    return sum(r.pruned for r in rows) / total if total else 0.0

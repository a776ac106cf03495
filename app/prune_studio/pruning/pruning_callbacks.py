"""tfmot module name ``pruning_callbacks``: the callbacks, for scripts that import it by that name."""

from prune_studio.pruning.callbacks import PruningSummaries, UpdatePruningStep

__all__ = ["PruningSummaries", "UpdatePruningStep"]

"""tfmot module name ``pruning_policy``: the policies, for scripts that import it by that name."""

from prune_studio.pruning.policy import PruneForLatencyOnXNNPack, PruningPolicy

__all__ = ["PruneForLatencyOnXNNPack", "PruningPolicy"]

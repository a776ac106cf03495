"""tfmot module name ``pruning_schedule``: the schedules, for scripts that import it by that name."""

from prune_studio.pruning.schedules import ConstantSparsity, PolynomialDecay, PruningSchedule, deserialize

__all__ = ["ConstantSparsity", "PolynomialDecay", "PruningSchedule", "deserialize"]

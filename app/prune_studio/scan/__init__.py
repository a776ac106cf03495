"""Sensitivity scan and suggested plan.

:func:`sensitivity_scan` prunes one layer at a time, without fine-tuning, and measures the
model at each sparsity; :func:`suggest_plan` turns those curves into a
:class:`~prune_studio.pruning.plan.PruningPlan`; :func:`channel_scan` does the same for channel
groups (structured pruning: each group thinned to keep ratios) and :func:`checked_keep_ratios`
suggests per-group keep ratios. ``ScanResult``, ``ChannelScanResult`` and the defaults
import without TensorFlow; the other names load it on first use, so the window can import
this package before TensorFlow is ready.
"""

from prune_studio.scan.channel_result import DEFAULT_KEEP_RATIOS, ChannelScanResult
from prune_studio.scan.result import DEFAULT_SPARSITIES, ScanResult

from prune_studio.lazy_names import lazy_getattr

_LAZY = {
    "ScanError": "sensitivity",
    "cached_scan": "sensitivity",
    "channel_scan": "channels",
    "checked_keep_ratios": "channels",
    "checked_targets": "calibrate",
    "joint_drop": "calibrate",
    "plan_from_targets": "suggest",
    "sensitivity_scan": "sensitivity",
    "plan_targets": "suggest",
    "projected_sparsity": "suggest",
    "suggest_plan": "suggest",
    "suggest_targets": "suggest",
}

__all__ = ["DEFAULT_KEEP_RATIOS", "DEFAULT_SPARSITIES", "ChannelScanResult", "ScanResult", *_LAZY]


__getattr__ = lazy_getattr("prune_studio.scan", _LAZY, globals())

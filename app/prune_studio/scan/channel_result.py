"""What a per-group channel scan measured, as plain data (no TensorFlow, no Qt).

The window and the CLI read :class:`ChannelScanResult`; it holds only JSON-able values and
round-trips through :meth:`ChannelScanResult.to_dict` / :meth:`ChannelScanResult.from_dict`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: The keep ratios a channel scan tries by default (share of a group's channels kept).
DEFAULT_KEEP_RATIOS = (0.5, 0.25)


@dataclass
class ChannelScanResult:
    """The metric of a model with one channel group at a time thinned to several keep ratios.

    Attributes:
        metric_name: what was measured, e.g. ``"accuracy"``.
        baseline: the metric of the unthinned model on the same sample (BatchNorm re-estimated).
        curves: for each scanned group, ``[(keep ratio, metric), ...]`` by falling ratio; the
            first point is ``(1.0, baseline)``. The ratio is the one actually kept after
            rounding (``kept / size``); ratios that round to the whole group are left out.
        sizes: channels of every prunable group (scanned or not).
        flops: for each scanned group, ``[(keep ratio, share of the model's FLOPs removed)]``,
            the same points as ``curves``.
        fragile: group -> ``"stem"``, ``"residual"`` or ``"linear bottleneck"`` for the groups
            ``structured.fragile`` flags (shown beside the curves).
        higher_is_better: True for accuracy-like metrics, False for errors.
        num_samples: how many examples each point was measured on.
        stopped: True when the scan was stopped before every group was measured.
    """

    metric_name: str
    baseline: float
    curves: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    flops: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    fragile: dict[str, str] = field(default_factory=dict)
    higher_is_better: bool = True
    num_samples: int = 0
    stopped: bool = False

    def drop(self, metric: float) -> float:
        """How much worse ``metric`` is than the baseline (negative when it is better)."""
        return self.baseline - metric if self.higher_is_better else metric - self.baseline

    def safe_keep_ratio(self, group: str, max_drop: float) -> float:
        """The lowest scanned keep ratio of ``group`` whose drop stays within ``max_drop``.

        Points are read from 1.0 downwards and the first one over the limit ends the walk, so
        a noisy recovery at a lower ratio is not trusted. 1.0 when even the mildest cut breaks it.
        """
        safe = 1.0
        for ratio, metric in self.curves.get(group, []):
            if self.drop(metric) > max_drop:
                break
            safe = min(safe, ratio)
        return safe

    def suggest_keep_ratios(self, max_drop: float) -> dict[str, float]:
        """Group -> keep ratio: each scanned group at its :meth:`safe_keep_ratio` (1.0 ones left out).

        Per-group drops are measured one group at a time and need not add up; check the whole
        suggestion on the model (``scan.channels.checked_keep_ratios``) before promising it.
        """
        out = {}
        for group in self.curves:
            ratio = self.safe_keep_ratio(group, max_drop)
            if ratio < 1.0:
                out[group] = ratio
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (curves as lists of ``[keep ratio, metric]`` pairs)."""
        return {
            "metric_name": self.metric_name,
            "baseline": self.baseline,
            "curves": {k: [[float(r), float(m)] for r, m in v] for k, v in self.curves.items()},
            "sizes": {k: int(v) for k, v in self.sizes.items()},
            "flops": {k: [[float(r), float(f)] for r, f in v] for k, v in self.flops.items()},
            "fragile": dict(self.fragile),
            "higher_is_better": self.higher_is_better,
            "num_samples": self.num_samples,
            "stopped": self.stopped,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ChannelScanResult":
        """Inverse of :meth:`to_dict`."""
        return cls(
            metric_name=data["metric_name"],
            baseline=float(data["baseline"]),
            curves={k: [(float(r), float(m)) for r, m in v] for k, v in data["curves"].items()},
            sizes={k: int(v) for k, v in data.get("sizes", {}).items()},
            flops={k: [(float(r), float(f)) for r, f in v] for k, v in data.get("flops", {}).items()},
            fragile=dict(data.get("fragile", {})),
            higher_is_better=bool(data.get("higher_is_better", True)),
            num_samples=int(data.get("num_samples", 0)),
            stopped=bool(data.get("stopped", False)),
        )

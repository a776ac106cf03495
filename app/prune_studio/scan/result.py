"""What a sensitivity scan measured, as plain data (no TensorFlow, no Qt).

The window, the CLI and the cache all read and write :class:`ScanResult`, so it holds only
JSON-able values and round-trips through :meth:`ScanResult.to_dict` /
:meth:`ScanResult.from_dict`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: The sparsities a scan tries by default (fractions of zeros in one layer).
DEFAULT_SPARSITIES = (0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95)


@dataclass
class ScanResult:
    """The metric of a model with one layer at a time pruned to several sparsities.

    Attributes:
        metric_name: What was measured, e.g. ``"accuracy"``.
        baseline: The metric of the unpruned model on the same sample.
        curves: For each scanned layer, ``[(sparsity, metric), ...]`` by rising sparsity; the
            first point is ``(0.0, baseline)``.
        params: Number of prunable weights of *every* prunable layer (scanned or not), so an
            overall sparsity can be projected over the whole model.
        higher_is_better: True for accuracy-like metrics, False for errors.
        num_samples: How many examples each point was measured on.
        stopped: True when the scan was stopped before every layer was measured.
    """

    metric_name: str
    baseline: float
    curves: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    params: dict[str, int] = field(default_factory=dict)
    higher_is_better: bool = True
    num_samples: int = 0
    stopped: bool = False

    def drop(self, metric: float) -> float:
        """How much worse ``metric`` is than the baseline (negative when it is better)."""
        return self.baseline - metric if self.higher_is_better else metric - self.baseline

    def safe_sparsity(self, layer: str, max_drop: float) -> float:
        """The highest scanned sparsity of ``layer`` that keeps the drop within ``max_drop``.

        Only points before the first one that breaks the limit count, so a noisy recovery
        at a higher sparsity is not trusted.
        """
        safe = 0.0
        for sparsity, metric in self.curves.get(layer, []):
            if self.drop(metric) > max_drop:
                break
            safe = sparsity
        return safe

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (curves as lists of ``[sparsity, metric]`` pairs)."""
        return {
            "metric_name": self.metric_name,
            "baseline": self.baseline,
            "curves": {k: [[float(s), float(m)] for s, m in v] for k, v in self.curves.items()},
            "params": {k: int(v) for k, v in self.params.items()},
            "higher_is_better": self.higher_is_better,
            "num_samples": self.num_samples,
            "stopped": self.stopped,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ScanResult":
        """Inverse of :meth:`to_dict`."""
        return cls(
            metric_name=data["metric_name"],
            baseline=float(data["baseline"]),
            curves={k: [(float(s), float(m)) for s, m in v] for k, v in data["curves"].items()},
            params={k: int(v) for k, v in data["params"].items()},
            higher_is_better=bool(data.get("higher_is_better", True)),
            num_samples=int(data.get("num_samples", 0)),
            stopped=bool(data.get("stopped", False)),
        )

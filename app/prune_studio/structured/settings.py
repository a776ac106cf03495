"""What to remove: the recipe's ``"structured"`` section (imports without TensorFlow).

Example (a recipe fragment)::

    "structured": {"mode": "global", "metric": "flops", "reduction": 0.6, "criterion": "l1",
                   "round_to": 8, "rounds": 3}

removes the least important channels until the model needs 60% fewer FLOPs, in three rounds with
fine-tuning between them (40%, 57%, 60% by the default cubic schedule, like ``PolynomialDecay``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from prune_studio.errors import PruneStudioError

MODES = ("global", "uniform")
CRITERIA = ("l1", "l2", "bn_scale")
METRICS = ("flops", "params", "latency")


class StructuredSettingsError(PruneStudioError, ValueError):
    """A structured-pruning setting with a bad value.

    Attributes:
        field: the setting at fault, e.g. ``"reduction"``.
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def _fraction(value: Any, low_open: bool = True, high_closed: bool = False) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return False
    return 0 < value <= 1 if high_closed else 0 < value < 1


@dataclass
class StructuredSettings:
    """How channels are chosen and removed.

    Attributes:
        mode: ``"global"`` (least important channels across the model until ``reduction`` of
            ``metric`` is gone) or ``"uniform"`` (every group keeps ``keep_ratio``).
        criterion: ``"l1"``, ``"l2"`` or ``"bn_scale"`` (see ``structured.importance``).
        reduction: share of FLOPs (parameters, latency) to remove in global mode, above 0 and
            below 1 (latency 0.5 = twice as fast as the opened model, measured side by side).
        metric: ``"flops"``, ``"params"`` or ``"latency"`` (global mode). Latency is measured:
            candidate models are converted to float32 TFLite and timed with LiteRT (XNNPack, one
            thread, batch 1) in a short search (``structured.latency``; a few conversions).
        target_latency_ms: with metric ``"latency"``, milliseconds per sample to reach on this
            machine instead of ``reduction`` (``None``: use ``reduction``).
        keep_ratio: share of channels every group keeps in uniform mode, above 0 and at most 1.
        groups: group name -> keep ratio, overriding the mode for those groups (1 = leave whole).
        round_to: kept channel counts are multiples of this (XNNPack is fastest at multiples of 8).
        min_keep_ratio: global mode never thins a group below this share.
        fragile_keep_ratio: keep ratio for the groups ``structured.fragile.fragile_groups``
            flags (the stem, residual streams, linear bottlenecks) unless ``groups`` names them;
            1.0 leaves them whole, so a global target is met by thinning the wide groups.
            ``None`` (the default) treats them like any other group.
        rounds: remove in this many steps, fine-tuning after each (1 = all at once).
        power: the schedule's exponent: the target reached after round r of R is
            ``final * (1 - (1 - r / R) ** power)`` (3 like ``PolynomialDecay``; 1 is linear).
        epochs_per_round: fine-tuning epochs after each round but the last (``None``: the
            training section's epochs; 0: none); the last round always fine-tunes as the
            training section says.
    """

    mode: str = "global"
    criterion: str = "l1"
    reduction: float = 0.5
    metric: str = "flops"
    keep_ratio: float = 0.5
    groups: dict[str, float] = field(default_factory=dict)
    round_to: int = 8
    min_keep_ratio: float = 0.1
    fragile_keep_ratio: float | None = None
    target_latency_ms: float | None = None
    rounds: int = 1
    power: float = 3.0
    epochs_per_round: int | None = None

    def problems(self) -> list[tuple[str, str]]:
        """``[(field, problem)]`` for every bad value (empty when all are valid)."""
        out = []
        if self.mode not in MODES:
            out.append(("mode", f"must be one of {', '.join(MODES)}, got {self.mode!r}"))
        if self.criterion not in CRITERIA:
            out.append(("criterion", f"must be one of {', '.join(CRITERIA)}, got {self.criterion!r}"))
        if self.metric not in METRICS:
            out.append(("metric", f"must be one of {', '.join(METRICS)}, got {self.metric!r}"))
        if not _fraction(self.reduction):
            out.append(("reduction", f"must be a number above 0 and below 1 (0.5 = half the FLOPs), got {self.reduction!r}"))
        if not _fraction(self.keep_ratio, high_closed=True):
            out.append(("keep_ratio", f"must be a number above 0 and at most 1, got {self.keep_ratio!r}"))
        if not _fraction(self.min_keep_ratio, high_closed=True):
            out.append(("min_keep_ratio", f"must be a number above 0 and at most 1, got {self.min_keep_ratio!r}"))
        f = self.fragile_keep_ratio
        if f is not None and not _fraction(f, high_closed=True):
            out.append(("fragile_keep_ratio", f"must be a keep ratio above 0 and at most 1, or null, got {f!r}"))
        t = self.target_latency_ms
        if t is not None:
            if not isinstance(t, (int, float)) or isinstance(t, bool) or not math.isfinite(t) or t <= 0:
                out.append(("target_latency_ms", f"must be a positive number of milliseconds, or null, got {t!r}"))
            elif self.metric != "latency" or self.mode != "global":
                out.append(("target_latency_ms", "needs mode 'global' and metric 'latency'"))
        if not isinstance(self.groups, dict):
            out.append(("groups", f"must map group names to keep ratios, got {self.groups!r}"))
        else:
            for name, ratio in self.groups.items():
                if not isinstance(name, str) or not _fraction(ratio, high_closed=True):
                    out.append((f"groups.{name}", f"must be a keep ratio above 0 and at most 1, got {ratio!r}"))
        for key, low in (("round_to", 1), ("rounds", 1)):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < low or value > 1024:
                out.append((key, f"must be a whole number from {low} to 1024, got {value!r}"))
        if not isinstance(self.power, (int, float)) or isinstance(self.power, bool) or not 0 < self.power <= 10:
            out.append(("power", f"must be a number above 0 and at most 10, got {self.power!r}"))
        e = self.epochs_per_round
        if e is not None and (not isinstance(e, int) or isinstance(e, bool) or e < 0):
            out.append(("epochs_per_round", f"must be a whole number of at least 0, or null, got {e!r}"))
        return out

    def validate(self) -> "StructuredSettings":
        """Raise :class:`StructuredSettingsError` naming the first bad field."""
        for name, problem in self.problems():
            raise StructuredSettingsError(f"Structured setting '{name}' {problem}.", field=name)
        return self

    def round_targets(self) -> list[float]:
        """The final-share reached after each round (1.0 after the last), by the schedule."""
        r = self.rounds
        return [1 - (1 - (i + 1) / r) ** self.power for i in range(r)]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["groups"] = dict(self.groups)
        return out

    @classmethod
    def from_dict(cls, data: Any) -> "StructuredSettings":
        """Build and validate; missing fields take their defaults (how older recipes migrate).

        Raises:
            StructuredSettingsError: an unknown field or a bad value.
        """
        if not isinstance(data, dict):
            raise StructuredSettingsError(f"The structured section must be a JSON object, got {data!r}.")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise StructuredSettingsError(
                f"Structured setting '{unknown[0]}' is not known; valid settings are {', '.join(sorted(known))}.",
                field=unknown[0],
            )
        settings = cls(**data)
        if isinstance(settings.groups, dict):
            settings.groups = dict(settings.groups)
        return settings.validate()

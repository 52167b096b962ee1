"""Thresholds of hotspot detection (:class:`DetectionConfig`) and what it finds (:class:`Hotspot`).

Method and thresholds: ``docs/hotspot-detection.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

__all__ = ["ANY_TYPE", "HOUR_NS", "OPTIONAL_COLUMNS", "REQUIRED_COLUMNS", "TOTALS_COLUMNS", "DetectionConfig", "Hotspot"]

REQUIRED_COLUMNS = ("site", "activity_type", "timestamp", "actual", "expected", "lower", "upper")
OPTIONAL_COLUMNS = ("meter", "model_version", "kg_per_kwh")
TOTALS_COLUMNS = ("site", "category", "kg")
HOUR_NS = 3_600_000_000_000
ANY_TYPE = "*"  # key of a per-activity-type mapping that applies to types not named


def _per_type(**values: float) -> Any:
    return field(default_factory=lambda: dict(values))


@dataclass(frozen=True)
class DetectionConfig:
    """Every threshold of :func:`detect`. Per-activity-type values are mappings ``{activity_type: value}``
    where ``"*"`` applies to types not named. Defaults were set on the 2020-01-01..03-15 window of the 40
    Cambridge buildings with the production baseline, in-sample (issue #18: those rates are no longer
    published); the rules against the reference (``reference_rules.ReferenceConfig``) are tuned held-out."""

    # -- above_expected: sustained excess, judged on trailing 24-hour sums (daily totals are far less
    #    noisy than single hours: one hour above the 90 % interval happens 5 % of the time by design)
    window_hours: int = 24
    """Length of the trailing window of the rolling sums (hours)."""
    min_window_hours: int = 18
    """An hour is judged only when at least this many hours of its window have an expected value."""
    excess_ratio: Mapping[str, float] = _per_type(electricity=0.20, natural_gas=0.45, **{ANY_TYPE: 0.30})
    """Rolling (actual - expected) / expected above which an hour is flagged. Clean holdout daily excess:
    electricity p99 24 %, p99.9 41 %; gas p99 50 %."""
    excess_floor_kwh: Mapping[str, float] = _per_type(electricity=10.0, natural_gas=20.0, **{ANY_TYPE: 10.0})
    """... and the rolling absolute excess must be at least this (kWh per window): tiny meters stay quiet."""
    min_hours_above_upper: Mapping[str, int] = _per_type(electricity=8, natural_gas=8, **{ANY_TYPE: 8})
    """... and at least this many hours of the window must lie above the interval's upper bound (one big
    hour makes a spike, not an episode)."""
    merge_gap_hours: int = 6
    """Flagged runs of one series closer than this are one episode."""

    # -- spike: one or a few hours far outside the interval
    spike_k: Mapping[str, float] = _per_type(electricity=4.0, natural_gas=4.0, **{ANY_TYPE: 4.0})
    """An hour is a spike when actual - expected >= k * (upper - expected) ..."""
    spike_floor_kwh: Mapping[str, float] = _per_type(electricity=5.0, natural_gas=10.0, **{ANY_TYPE: 5.0})
    """... and actual - expected >= this (kWh) ..."""
    spike_min_ratio: Mapping[str, float] = _per_type(electricity=0.5, natural_gas=1.0, **{ANY_TYPE: 0.5})
    """... and (actual - expected) / expected >= this."""
    spike_max_hours: int = 3
    """Longer runs of spike hours are left to above_expected (a spike is short by definition)."""

    # -- silent_meter
    silent_hours: Mapping[str, int] = _per_type(electricity=6, natural_gas=6, **{ANY_TYPE: 6})
    """Missing hours in a row (after the series' first reading, up to ``as_of``) that make a silent meter."""

    # -- stuck_meter
    stuck_hours: Mapping[str, int] = _per_type(electricity=6, natural_gas=12, **{ANY_TYPE: 6})
    """The same non-zero reading this many hours in a row is a stuck meter ..."""
    stuck_min_kwh: Mapping[str, float] = _per_type(electricity=2.0, natural_gas=5.0, **{ANY_TYPE: 2.0})
    """... when the value is at least this: meters read in 0.1 kWh steps, and a small building at night or
    a boiler on standby legitimately repeats 0.1-1.7 kWh for days (measured on the 2019-2020 archive)."""
    stuck_zero_hours: Mapping[str, int] = _per_type(electricity=24)
    """Zero readings this long are a stuck meter too; types not named (gas: heating off) never are."""

    # -- level_shift: change point of the daily actual/expected ratio
    day_min_hours: int = 20
    """A UTC day enters the daily ratio series only with at least this many hours with an expectation."""
    shift_min_days: int = 7
    """Minimum number of days on each side of the change point."""
    shift_baseline_days: int = 28
    """The level before a candidate split is the mean daily ratio of up to this many days before it."""
    shift_min_t: float = 4.0
    """Welch t-statistic of the mean shift (baseline vs the ``shift_min_days`` days after the split)."""
    shift_min_ratio: Mapping[str, float] = _per_type(electricity=0.10, natural_gas=0.15, **{ANY_TYPE: 0.10})
    """Relative shift needed, both of the mean daily ratio (after / before - 1) and of the raw mean hourly
    actual (the ``shift_min_days`` days after vs before the split: consumption itself stepped up)."""
    shift_ratio_clip: float = 3.0
    """Daily ratios are clipped to [0, this] so that one broken day cannot make a change point."""
    shift_persist_share: float = 0.5
    """The raw step must still be at least this share of ``shift_min_ratio`` in the second block of
    ``shift_min_days`` after the split (when the window has one: a 1-3 day excess is not a level shift),
    and the shift is ongoing while the last ``shift_min_days`` days are up by this share of the step."""

    # -- severity
    severity_ratio_bands: tuple[float, float, float] = (0.25, 0.5, 1.0)
    """Excess ratio from which above_expected and level_shift are medium, high, critical."""
    spike_severity_bands: tuple[float, float, float] = (1.0, 2.0, 4.0)
    """Peak hourly excess ratio from which a spike is medium, high, critical."""
    gap_severity_hours: tuple[float, float, float] = (24, 72, 168)
    """Duration (hours) from which a silent or stuck meter is medium, high, critical."""

    def value(self, name: str, activity_type: str) -> float:
        """The per-type threshold ``name`` of one activity type (``"*"`` when the type is not named)."""
        mapping: Mapping[str, float] = getattr(self, name)
        if activity_type in mapping:
            return float(mapping[activity_type])
        return float(mapping.get(ANY_TYPE, math.nan))

    def per_series(self, name: str, types: np.ndarray) -> np.ndarray:
        return np.array([self.value(name, str(t)) for t in types], dtype=float)


@dataclass(frozen=True)
class Hotspot:
    """One finding. ``period_end`` is exclusive; ``ongoing`` means the episode reaches ``as_of``.
    For ``pareto``/``growth`` hotspots ``activity_type`` holds the emissions category."""

    kind: str
    site: str
    meter: str
    activity_type: str
    period_start: datetime
    period_end: datetime
    ongoing: bool
    severity: str
    excess_kwh: float
    excess_kg: float | None
    model_version: str | None
    evidence: dict[str, Any] = field(default_factory=dict, hash=False)

    def key(self) -> tuple[str, str, str, str, datetime]:
        """Stable identity across scans: the same episode seen again (longer, or no longer ongoing) keeps it."""
        return (self.kind, self.site, self.meter, self.activity_type, self.period_start)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "site": self.site, "meter": self.meter, "activity_type": self.activity_type,
                "period_start": self.period_start.isoformat(), "period_end": self.period_end.isoformat(),
                "ongoing": self.ongoing, "severity": self.severity, "excess_kwh": self.excess_kwh,
                "excess_kg": self.excess_kg, "model_version": self.model_version, "evidence": self.evidence}

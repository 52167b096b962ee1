"""Hotspot detection over hourly residuals (actual vs the day-ahead expected value) and emission totals.

Plain, vectorised pandas/numpy (no row loops over the data, no Prefect): the ``hotspot-scan`` flow reads the
residuals of a window from the data core and calls :func:`detect`; :func:`pareto` ranks emission totals.
Method, thresholds and their measured false-positive and detection rates: ``docs/hotspot-detection.md``.

Layout: every series (site, meter, activity type) is laid out on a complete hourly grid from its first
reading to ``as_of`` (exclusive), all series end to end in one flat array, so that rolling sums, runs and
gaps are cumulative sums and diffs over one array with per-series boundaries.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

KINDS = ("above_expected", "spike", "level_shift", "silent_meter", "stuck_meter", "pareto", "growth")
SEVERITIES = ("low", "medium", "high", "critical")
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
    where ``"*"`` applies to types not named. Defaults are calibrated on the clean 2020-01-01..03-15 holdout
    of the 40 Cambridge buildings with the production baseline (docs/hotspot-detection.md)."""

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


# --------------------------------------------------------------------------- helpers
def _severity(value: float, bands: tuple[float, float, float]) -> str:
    return SEVERITIES[int(np.searchsorted(np.asarray(bands, dtype=float), value, side="right"))]


def _ts(hour: int | np.integer) -> datetime:
    return pd.Timestamp(int(hour) * HOUR_NS, tz="UTC").to_pydatetime()


def _r(value: float, digits: int = 4) -> float | None:
    """JSON-able rounded float (NaN -> None)."""
    v = float(value)
    return None if math.isnan(v) or math.isinf(v) else round(v, digits)


def _runs(mask: np.ndarray, seg_first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Runs of True in a flat array, broken at series boundaries (``seg_first`` marks each series' first
    position). Returns (starts, exclusive ends) as flat positions."""
    if not mask.any():
        empty = np.array([], dtype=np.int64)
        return empty, empty
    m = mask.astype(bool)
    prev = np.r_[False, m[:-1]] & ~seg_first
    nxt = np.r_[m[1:], False] & ~np.r_[seg_first[1:], True]
    return np.flatnonzero(m & ~prev), np.flatnonzero(m & ~nxt) + 1


def _merge(starts: np.ndarray, ends: np.ndarray, sid: np.ndarray, gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge runs of the same series separated by fewer than ``gap`` positions."""
    if len(starts) < 2:
        return starts, ends
    new = np.r_[True, (starts[1:] - ends[:-1] >= gap) | (sid[starts[1:]] != sid[starts[:-1]])]
    first = np.flatnonzero(new)
    last = np.r_[first[1:], len(starts)] - 1
    return starts[first], ends[last]


def _window_sum(c: np.ndarray, idx: np.ndarray, width: int, seg_start: np.ndarray) -> np.ndarray:
    """Trailing ``width`` sum at positions ``idx`` from the cumulative sum ``c`` (c[0] = 0), clipped to the
    series start."""
    lo = np.maximum(idx - width + 1, seg_start)
    return c[idx + 1] - c[lo]


def _cum(x: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(x, dtype=float)])


@dataclass
class _Grid:
    """All series on hourly grids, end to end. ``sid``/``hour`` give the series and absolute hour of each
    flat position; per-series arrays are indexed by series number."""

    keys: pd.DataFrame            # site, meter, activity_type, model_version per series
    offset: np.ndarray            # first flat position of each series
    first_hour: np.ndarray        # absolute hour (since epoch) of each series' first position
    end_hour: int                 # as_of (exclusive) as an absolute hour
    sid: np.ndarray
    hour: np.ndarray
    present: np.ndarray           # a reading exists (actual not NaN)
    actual: np.ndarray
    expected: np.ndarray
    upper: np.ndarray
    kg: np.ndarray                # kg per kWh (NaN where unknown)
    has_kg: bool

    @property
    def n_series(self) -> int:
        return len(self.offset)

    def seg_start(self) -> np.ndarray:
        return self.offset[self.sid]

    def seg_first(self) -> np.ndarray:
        first = np.zeros(len(self.sid), dtype=bool)
        first[self.offset] = True
        return first

    def seg_end(self) -> np.ndarray:
        """Exclusive end position of each series."""
        return np.r_[self.offset[1:], len(self.sid)]


def _validate(residuals: pd.DataFrame) -> None:
    if not isinstance(residuals, pd.DataFrame):
        raise TypeError("residuals must be a pandas DataFrame")
    missing = [c for c in REQUIRED_COLUMNS if c not in residuals.columns]
    if missing:
        raise ValueError(f"residuals is missing column(s): {', '.join(missing)}")


def _grid(residuals: pd.DataFrame, as_of: pd.Timestamp | None) -> _Grid | None:
    ts = pd.DatetimeIndex(residuals["timestamp"])
    if ts.tz is None:
        raise ValueError("timestamp must be timezone-aware (UTC)")
    if ts.hasnans:
        raise ValueError("timestamp must not be empty")
    hours = ts.tz_convert("UTC").as_unit("ns").asi8 // HOUR_NS   # floor to the hour start
    if as_of is None:
        end_hour = int(hours.max()) + 1
    else:
        stamp = pd.Timestamp(as_of)
        if stamp.tzinfo is None:
            raise ValueError("as_of must be timezone-aware (UTC)")
        end_hour = -(-int(stamp.tz_convert("UTC").as_unit("ns").value) // HOUR_NS)  # ceil: exclusive end
    keep = hours < end_hour
    n = len(residuals)
    meter = (residuals["meter"].fillna("").astype(str).to_numpy() if "meter" in residuals.columns
             else np.full(n, "", dtype=object))
    frame = pd.DataFrame({"site": residuals["site"].astype(str).to_numpy(), "meter": meter,
                          "activity_type": residuals["activity_type"].astype(str).to_numpy(), "hour": hours})
    if "model_version" in residuals.columns:
        frame["model_version"] = residuals["model_version"].to_numpy()
    else:
        frame["model_version"] = None
    num = {c: pd.to_numeric(residuals[c], errors="raise").to_numpy(dtype=float)
           for c in ("actual", "expected", "upper")}
    kg = (pd.to_numeric(residuals["kg_per_kwh"], errors="raise").to_numpy(dtype=float)
          if "kg_per_kwh" in residuals.columns else np.full(n, np.nan))
    frame = frame[keep]
    if frame.empty:
        return None
    idx = np.flatnonzero(keep)
    sid_rows = frame.groupby(["site", "meter", "activity_type"], sort=True).ngroup().to_numpy()
    order = np.lexsort((frame["hour"].to_numpy(), sid_rows))
    frame, sid_rows, idx = frame.iloc[order], sid_rows[order], idx[order]
    h = frame["hour"].to_numpy()
    if len(h) > 1 and np.any((np.diff(h) == 0) & (np.diff(sid_rows) == 0)):
        raise ValueError("duplicate readings for one (site, meter, activity_type, timestamp)")
    keys = frame.groupby(sid_rows, sort=True).agg(site=("site", "first"), meter=("meter", "first"),
                                                  activity_type=("activity_type", "first"),
                                                  model_version=("model_version", "last"),
                                                  first_hour=("hour", "min"))
    first_hour = keys["first_hour"].to_numpy(dtype=np.int64)
    span = end_hour - first_hour
    offset = np.r_[0, np.cumsum(span)[:-1]].astype(np.int64)
    total = int(span.sum())
    sid = np.repeat(np.arange(len(span)), span)
    hour = np.arange(total, dtype=np.int64) - offset[sid] + first_hour[sid]
    pos = offset[sid_rows] + h - first_hour[sid_rows]

    def place(values: np.ndarray) -> np.ndarray:
        out = np.full(total, np.nan)
        out[pos] = values[idx]
        return out

    actual = place(num["actual"])
    return _Grid(keys=keys.reset_index(drop=True)[["site", "meter", "activity_type", "model_version"]],
                 offset=offset, first_hour=first_hour, end_hour=end_hour, sid=sid, hour=hour,
                 present=~np.isnan(actual), actual=actual, expected=place(num["expected"]),
                 upper=place(num["upper"]), kg=place(kg), has_kg="kg_per_kwh" in residuals.columns)


# --------------------------------------------------------------------------- detection
def detect(residuals: pd.DataFrame, *, as_of: pd.Timestamp | None = None,
           config: DetectionConfig | None = None) -> list[Hotspot]:
    """Hotspots of the scanned window ``[first reading, as_of)`` of every (site, meter, activity_type).

    ``residuals``: one row per reading with columns site, activity_type, timestamp (tz-aware, hourly),
    actual, expected, lower, upper (kWh; expected/lower/upper may be NaN) and optionally meter (default
    ""), model_version and kg_per_kwh. ``as_of`` (exclusive end of the window) defaults to the last hour + 1 h.
    Returns hotspots sorted by site, meter, activity type, start and kind."""
    cfg = config or DetectionConfig()
    _validate(residuals)
    if residuals.empty:
        return []
    g = _grid(residuals, as_of)
    if g is None:
        return []
    types = g.keys["activity_type"].to_numpy()
    episodes = _above_expected(g, cfg, types)
    covered = np.zeros(len(g.sid) + 1, dtype=np.int64)
    for h in episodes:  # one entry per episode (few), not per row
        s0, s1 = h.evidence["_span"]
        covered[s0] += 1
        covered[s1] -= 1
    inside = np.cumsum(covered[:-1]) > 0
    found = episodes + _spikes(g, cfg, types, inside) + _level_shifts(g, cfg, types)
    found += _silent(g, cfg, types) + _stuck(g, cfg, types)
    out = []
    for h in found:
        ev = {k: v for k, v in h.evidence.items() if not k.startswith("_")}
        out.append(Hotspot(h.kind, h.site, h.meter, h.activity_type, h.period_start, h.period_end, h.ongoing,
                           h.severity, h.excess_kwh, h.excess_kg, h.model_version, ev))
    out.sort(key=lambda h: (h.site, h.meter, h.activity_type, h.period_start, KINDS.index(h.kind)))
    return out


def _valid_parts(g: _Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    valid = g.present & ~np.isnan(g.expected)
    a = np.where(valid, g.actual, 0.0)
    e = np.where(valid, g.expected, 0.0)
    kg = np.where(valid & ~np.isnan(g.kg), (g.actual - g.expected) * g.kg, 0.0) if g.has_kg else np.zeros(len(a))
    return valid, a, e, kg


def _make(g: _Grid, kind: str, s: int, start_hour: int, end_hour: int, severity: str, excess_kwh: float,
          excess_kg: float | None, evidence: dict[str, Any]) -> Hotspot:
    k = g.keys.iloc[s]
    mv = k["model_version"]
    return Hotspot(kind=kind, site=str(k["site"]), meter=str(k["meter"]), activity_type=str(k["activity_type"]),
                   period_start=_ts(start_hour), period_end=_ts(end_hour), ongoing=end_hour >= g.end_hour,
                   severity=severity, excess_kwh=round(float(excess_kwh), 3),
                   excess_kg=round(float(excess_kg), 3) if excess_kg is not None and g.has_kg else None,
                   model_version=None if mv is None or (isinstance(mv, float) and math.isnan(mv)) else str(mv),
                   evidence=evidence)


def _above_expected(g: _Grid, cfg: DetectionConfig, types: np.ndarray) -> list[Hotspot]:
    valid, a, e, kg = _valid_parts(g)
    above = valid & ~np.isnan(g.upper) & (g.actual > g.upper)
    ca, ce, cab, cv, ckg = _cum(a), _cum(e), _cum(above), _cum(valid), _cum(kg)
    n, w = len(g.sid), cfg.window_hours
    idx, start = np.arange(n), g.seg_start()
    sa, se = _window_sum(ca, idx, w, start), _window_sum(ce, idx, w, start)
    nab, nv = _window_sum(cab, idx, w, start), _window_sum(cv, idx, w, start)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(se > 0, (sa - se) / se, np.nan)
    thr = cfg.per_series("excess_ratio", types)[g.sid]
    floor = cfg.per_series("excess_floor_kwh", types)[g.sid]
    min_above = cfg.per_series("min_hours_above_upper", types)[g.sid]
    flag = (nv >= cfg.min_window_hours) & (se > 0) & (ratio >= thr) & (sa - se >= floor) & (nab >= min_above)
    f0, f1 = _runs(flag, g.seg_first())
    f0, f1 = _merge(f0, f1, g.sid, cfg.merge_gap_hours)
    if not len(f0):
        return []
    pos = np.arange(n)
    nxt = np.minimum.accumulate(np.where(above, pos, n)[::-1])[::-1]
    prv = np.maximum.accumulate(np.where(above, pos, -1))
    sid = g.sid[f0]
    span_start = np.maximum(f0 - w + 1, g.offset[sid])
    s0 = nxt[span_start]                         # first hour above the interval that contributed
    seg_end = g.seg_end()[sid]
    ongoing = f1 >= seg_end                      # still flagged at the last hour before as_of
    s1 = np.where(ongoing, seg_end, prv[f1 - 1] + 1)
    peak = np.array([np.nanmax(ratio[x:y]) for x, y in zip(f0, f1, strict=True)])
    out = []
    for i in range(len(f0)):
        x, y = int(s0[i]), int(s1[i])
        exp_sum, act_sum = ce[y] - ce[x], ca[y] - ca[x]
        excess = act_sum - exp_sum
        if exp_sum <= 0 or excess <= 0:
            continue
        r = excess / exp_sum
        s = int(sid[i])
        start_h, end_h = int(g.hour[x]), int(g.hour[y - 1]) + 1
        ev = {"actual_kwh": _r(act_sum, 3), "expected_kwh": _r(exp_sum, 3), "excess_ratio": _r(r),
              "hours": end_h - start_h, "hours_with_expected": int(cv[y] - cv[x]),
              "hours_above_upper": int(cab[y] - cab[x]), "peak_window_excess_ratio": _r(peak[i]),
              "window_hours": w, "threshold_ratio": cfg.value("excess_ratio", str(types[s])),
              "threshold_kwh": cfg.value("excess_floor_kwh", str(types[s])),
              "min_hours_above_upper": int(cfg.value("min_hours_above_upper", str(types[s]))),
              "_span": (x, y)}
        out.append(_make(g, "above_expected", s, start_h, g.end_hour if ongoing[i] else end_h,
                         _severity(r, cfg.severity_ratio_bands), excess, ckg[y] - ckg[x], ev))
    return out


def _spikes(g: _Grid, cfg: DetectionConfig, types: np.ndarray, inside: np.ndarray) -> list[Hotspot]:
    valid, a, e, kg = _valid_parts(g)
    ok = valid & ~np.isnan(g.upper)
    diff = g.actual - g.expected
    with np.errstate(invalid="ignore", divide="ignore"):
        hour_ratio = np.where(ok & (g.expected > 0), diff / g.expected, np.inf)
        flag = ok & (diff >= cfg.per_series("spike_k", types)[g.sid] * (g.upper - g.expected)) \
            & (diff >= cfg.per_series("spike_floor_kwh", types)[g.sid]) \
            & (hour_ratio >= cfg.per_series("spike_min_ratio", types)[g.sid])
    r0, r1 = _runs(flag, g.seg_first())
    if not len(r0):
        return []
    cin = _cum(inside)
    keep = (r1 - r0 <= cfg.spike_max_hours) & (cin[r1] - cin[r0] == 0)  # a spike inside an episode is the episode
    ca, ce, ckg = _cum(a), _cum(e), _cum(kg)
    out = []
    for x, y in zip(r0[keep], r1[keep], strict=True):
        s = int(g.sid[x])
        act_sum, exp_sum = ca[y] - ca[x], ce[y] - ce[x]
        peak_i = x + int(np.argmax(diff[x:y]))
        peak_ratio = float(hour_ratio[peak_i])
        width = float(g.upper[peak_i] - g.expected[peak_i])
        ev = {"actual_kwh": _r(act_sum, 3), "expected_kwh": _r(exp_sum, 3), "hours": int(y - x),
              "peak_at": _ts(g.hour[peak_i]).isoformat(), "peak_actual_kwh": _r(g.actual[peak_i], 3),
              "peak_expected_kwh": _r(g.expected[peak_i], 3), "peak_upper_kwh": _r(g.upper[peak_i], 3),
              "peak_excess_ratio": _r(peak_ratio), "peak_interval_multiple": _r(diff[peak_i] / width) if width > 0
              else None, "threshold_k": cfg.value("spike_k", str(types[s])),
              "threshold_kwh": cfg.value("spike_floor_kwh", str(types[s])),
              "threshold_ratio": cfg.value("spike_min_ratio", str(types[s]))}
        out.append(_make(g, "spike", s, int(g.hour[x]), int(g.hour[y - 1]) + 1,
                         _severity(peak_ratio, cfg.spike_severity_bands), act_sum - exp_sum, ckg[y] - ckg[x], ev))
    return out


def _silent(g: _Grid, cfg: DetectionConfig, types: np.ndarray) -> list[Hotspot]:
    r0, r1 = _runs(~g.present, g.seg_first())
    if not len(r0):
        return []
    sid = g.sid[r0]
    need = cfg.per_series("silent_hours", types)[sid]
    keep = (r1 - r0) >= need
    out = []
    for x, y, s in zip(r0[keep], r1[keep], sid[keep], strict=True):
        hours = int(y - x)
        last = g.hour[x - 1]  # a series starts with a reading, so x - 1 is in the same series
        seg_end = g.offset[s] + (g.end_hour - g.first_hour[s])
        ev = {"hours": hours, "last_reading_at": _ts(last).isoformat(),
              "next_reading_at": _ts(g.hour[y]).isoformat() if y < seg_end else None,
              "last_actual_kwh": _r(g.actual[x - 1], 3),
              "threshold_hours": int(cfg.value("silent_hours", str(types[s])))}
        out.append(_make(g, "silent_meter", int(s), int(g.hour[x]), int(g.hour[y - 1]) + 1,
                         _severity(hours, cfg.gap_severity_hours), 0.0, 0.0, ev))
    return out


def _stuck(g: _Grid, cfg: DetectionConfig, types: np.ndarray) -> list[Hotspot]:
    v = g.actual
    same = np.zeros(len(v), dtype=bool)
    same[1:] = g.present[1:] & g.present[:-1] & (np.abs(v[1:] - v[:-1]) <= 1e-9 * np.maximum(1.0, np.abs(v[1:])))
    seg_first = g.seg_first()
    same &= ~seg_first
    # a run of equal readings = one position whose successor repeats it, plus the repeats
    member = same | np.r_[same[1:], False]
    r0, r1 = _runs(member, seg_first)
    # split runs where the value changes between two repeating pairs (a, a, b, b): 'same' is False there
    breaks = member & ~same & np.r_[False, member[:-1]] & ~seg_first
    if breaks.any():
        r0, r1 = _runs(member, seg_first | breaks)
    if not len(r0):
        return []
    sid = g.sid[r0]
    value = v[r0]
    length = r1 - r0
    zero_need = np.array([cfg.stuck_zero_hours.get(str(t), math.inf) for t in types], dtype=float)[sid]
    keep = np.where(np.abs(value) <= 1e-12, length >= zero_need,
                    (length >= cfg.per_series("stuck_hours", types)[sid])
                    & (value >= cfg.per_series("stuck_min_kwh", types)[sid]))
    valid, a, e, kg = _valid_parts(g)
    ca, ce, ckg, cv = _cum(a), _cum(e), _cum(kg), _cum(valid)
    out = []
    for x, y, s in zip(r0[keep], r1[keep], sid[keep], strict=True):
        has_exp = cv[y] - cv[x] > 0
        act_sum, exp_sum = ca[y] - ca[x], ce[y] - ce[x]
        hours = int(y - x)
        ev = {"hours": hours, "stuck_value_kwh": _r(v[x], 4), "run_length": hours,
              "actual_kwh": _r(act_sum, 3), "expected_kwh": _r(exp_sum, 3) if has_exp else None,
              "threshold_hours": int(cfg.value("stuck_hours", str(types[s]))) if v[x] != 0
              else int(cfg.stuck_zero_hours.get(str(types[s]), 0)),
              "threshold_kwh": cfg.value("stuck_min_kwh", str(types[s]))}
        out.append(_make(g, "stuck_meter", int(s), int(g.hour[x]), int(g.hour[y - 1]) + 1,
                         _severity(hours, cfg.gap_severity_hours), act_sum - exp_sum if has_exp else 0.0,
                         ckg[y] - ckg[x], ev))
    return out


def _level_shifts(g: _Grid, cfg: DetectionConfig, types: np.ndarray) -> list[Hotspot]:
    """Best split per series of the daily actual/expected ratio, tested on the ``shift_min_days`` days
    after it (the day-ahead model catches up with a lasting step within 1-4 weeks, so the residual of a
    step is a decaying excess, not a lasting one; its persistence is judged on raw actuals)."""
    valid, a, e, kg = _valid_parts(g)
    day = g.hour // 24
    first_day = g.first_hour // 24
    dspan = (g.end_hour - 1) // 24 - first_day + 1
    doff = np.r_[0, np.cumsum(dspan)[:-1]].astype(np.int64)
    dpos = doff[g.sid] + day - first_day[g.sid]
    nd = int(dspan.sum())
    dsid = np.repeat(np.arange(len(dspan)), dspan)
    day_a, day_e = np.bincount(dpos, a, nd), np.bincount(dpos, e, nd)
    day_nv = np.bincount(dpos, valid.astype(float), nd)
    raw = np.bincount(dpos, np.where(g.present, g.actual, 0.0), nd)
    raw_n = np.bincount(dpos, g.present.astype(float), nd)
    ok_day = (day_nv >= cfg.day_min_hours) & (day_e > 0)
    if not ok_day.any():
        return []
    di = np.flatnonzero(ok_day)                         # compressed: judged days, in series order
    r = np.clip(day_a[di] / day_e[di], 0.0, cfg.shift_ratio_clip)
    cs = dsid[di]
    first = np.searchsorted(cs, np.arange(len(dspan)), side="left")
    last = np.searchsorted(cs, np.arange(len(dspan)), side="right")
    C, Q, R = _cum(r), _cum(r * r), _cum(raw[di] / np.maximum(raw_n[di], 1))  # R: mean hourly actual
    m, back = cfg.shift_min_days, cfg.shift_baseline_days
    i = np.arange(len(di))
    s0, s1 = np.maximum(first[cs], i - back), last[cs]
    i2 = np.minimum(i + m, s1)
    n1, n2 = (i - s0).astype(float), (i2 - i).astype(float)
    ok = (n1 >= m) & (n2 >= m)
    with np.errstate(divide="ignore", invalid="ignore"):
        m1, m2 = (C[i] - C[s0]) / n1, (C[i2] - C[i]) / n2
        v1 = (Q[i] - Q[s0] - n1 * m1 * m1) / (n1 - 1)
        v2 = (Q[i2] - Q[i] - n2 * m2 * m2) / (n2 - 1)
        floor = 1e-4  # (1 % of the ratio)^2: a perfectly flat segment must not make t infinite
        t = (m2 - m1) / np.sqrt(np.maximum(v1, floor) / n1 + np.maximum(v2, floor) / n2)
        rel = np.where(m1 > 0, m2 / m1 - 1, np.nan)
        ib = np.maximum(i - m, first[cs])
        raw_before = (R[i] - R[ib]) / (i - ib)
        raw_up = (R[i2] - R[i]) / n2 / raw_before - 1
        # the second block after the split (when there is one): a 1-3 day excess is not a level shift
        i3 = np.minimum(i2 + m, s1)
        raw_up2 = np.where(i3 - i2 >= m, (R[i3] - R[i2]) / np.maximum(i3 - i2, 1) / raw_before - 1, np.inf)
    need = cfg.per_series("shift_min_ratio", types)[cs]
    cand = ok & (rel >= need) & (t >= cfg.shift_min_t) & (raw_up >= need) \
        & (raw_up2 >= cfg.shift_persist_share * need)
    if not cand.any():
        return []
    score = np.where(cand, t, -np.inf)
    order = np.lexsort((-score, cs))
    best = order[np.r_[True, cs[order][1:] != cs[order][:-1]]]
    best = best[cand[best]]
    ca, ce, ckg = _cum(a), _cum(e), _cum(kg)
    out = []
    for b in best:
        s = int(cs[b])
        change_day = int(first_day[s] + (di[b] - doff[s]))
        start_h = max(change_day * 24, int(g.first_hour[s]))
        x = int(g.offset[s] + start_h - g.first_hour[s])
        y = int(g.offset[s] + g.end_hour - g.first_hour[s])
        act_sum, exp_sum = ca[y] - ca[x], ce[y] - ce[x]
        ll = int(last[s])
        n_last = min(m, ll - int(b))
        last_raw = (R[ll] - R[ll - n_last]) / n_last
        last_up = last_raw / raw_before[b] - 1 if raw_before[b] > 0 else math.nan
        ongoing = bool(last_up >= cfg.shift_persist_share * raw_up[b])
        ev = {"change_point": _ts(change_day * 24).date().isoformat(), "before_mean_ratio": _r(m1[b]),
              "after_mean_ratio": _r(m2[b]), "shift_ratio": _r(rel[b]), "t_stat": _r(t[b], 2),
              "days_before": int(n1[b]), "days_tested_after": int(n2[b]), "days_after": int(ll - b),
              "before_mean_kwh_per_hour": _r(raw_before[b], 3),
              "after_mean_kwh_per_hour": _r(raw_before[b] * (1 + raw_up[b]), 3) if math.isfinite(raw_up[b]) else None,
              "last_days_mean_kwh_per_hour": _r(last_raw, 3), "actual_step_ratio": _r(raw_up[b]),
              "actual_kwh": _r(act_sum, 3), "expected_kwh": _r(exp_sum, 3),
              "threshold_t": cfg.shift_min_t, "threshold_ratio": float(need[b]), "min_days": m}
        h = _make(g, "level_shift", s, start_h, g.end_hour, _severity(float(raw_up[b]), cfg.severity_ratio_bands),
                  act_sum - exp_sum, ckg[y] - ckg[x], ev)
        out.append(replace(h, ongoing=ongoing))
    return out


# --------------------------------------------------------------------------- emission totals
def _utc(value: datetime | pd.Timestamp, name: str) -> datetime:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware (UTC)")
    return stamp.tz_convert("UTC").to_pydatetime()


def _totals(frame: pd.DataFrame, name: str) -> pd.Series:
    missing = [c for c in TOTALS_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing column(s): {', '.join(missing)}")
    kg = pd.to_numeric(frame["kg"], errors="raise").astype(float)
    keyed = pd.DataFrame({"site": frame["site"].astype(str), "category": frame["category"].astype(str), "kg": kg})
    return keyed.groupby(["site", "category"], sort=True)["kg"].sum()


def pareto(current: pd.DataFrame, previous: pd.DataFrame | None = None, *, period_start: datetime | pd.Timestamp,
           period_end: datetime | pd.Timestamp, share: float = 0.8, top_growth: int = 5) -> list[Hotspot]:
    """Emission-total hotspots of a period: ``pareto`` = the smallest set of (site, category) making up at
    least ``share`` of the current positive emissions (largest first); ``growth`` = the ``top_growth``
    (site, category) whose kg grew most vs ``previous`` (positive growth only; absent before = 0 kg).

    ``current``/``previous``: columns site, category, kg (several rows of a key are summed). The category
    is reported in ``activity_type``; ``period_start``/``period_end`` (UTC) are the current period."""
    if not 0 < share <= 1:
        raise ValueError("share must be in (0, 1]")
    cur = _totals(current, "current")
    prev = _totals(previous, "previous") if previous is not None else None
    start, end = _utc(period_start, "period_start"), _utc(period_end, "period_end")
    out: list[Hotspot] = []
    positive = cur[cur > 0].sort_values(ascending=False, kind="stable")
    total = float(positive.sum())
    if total > 0:
        cum = positive.cumsum() / total
        n_top = int(np.searchsorted(cum.to_numpy(), share - 1e-12, side="left")) + 1
        top = positive.iloc[:n_top]
        sites, cats = top.index.get_level_values(0), top.index.get_level_values(1)
        for rank, (site, category, kg) in enumerate(zip(sites, cats, top.to_numpy(), strict=True), start=1):
            out.append(Hotspot("pareto", str(site), "", str(category), start, end, False, "low",
                               0.0, None, None, {"kg": _r(kg, 3), "share": _r(kg / total), "rank": rank,
                                                 "cumulative_share": _r(cum.iloc[rank - 1]),
                                                 "total_kg": _r(total, 3), "target_share": share,
                                                 "items": n_top, "category": str(category)}))
    if prev is not None and top_growth > 0:
        both = pd.concat({"current": cur, "previous": prev}, axis=1).fillna(0.0)
        both["growth"] = both["current"] - both["previous"]
        grew = both[both["growth"] > 0].sort_values("growth", ascending=False, kind="stable").head(top_growth)
        rows = zip(grew.index.get_level_values(0), grew.index.get_level_values(1), grew["previous"].to_numpy(),
                   grew["current"].to_numpy(), grew["growth"].to_numpy(), strict=True)
        for rank, (site, category, before, now, growth) in enumerate(rows, start=1):
            out.append(Hotspot("growth", str(site), "", str(category), start, end, False,
                               _severity(growth / before if before > 0 else math.inf, (0.25, 0.5, 1.0)),
                               0.0, round(growth, 3), None,
                               {"current_kg": _r(now, 3), "previous_kg": _r(before, 3), "growth_kg": _r(growth, 3),
                                "growth_ratio": _r(growth / before) if before > 0 else None, "rank": rank,
                                "category": str(category)}))
    return out

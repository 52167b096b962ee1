"""The hourly grid of every series, end to end in one flat array, and the array helpers the detectors share.

Every series (site, meter, activity type) is laid out on a complete hourly grid from its first reading to
``as_of`` (exclusive), all series end to end in one flat array, so that rolling sums, runs and gaps are
cumulative sums and diffs over one array with per-series boundaries.

Rows of one series within one hour (a half-hourly or 15-minute meter's readings) are summed into that hour;
a series with two rows at the same timestamp (a replayed reading) is left out of the scan with a warning
naming it, never an error for the whole frame (issue #17).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from services.common.contracts import SEVERITIES
from services.lib.hotspots.config import HOUR_NS, REQUIRED_COLUMNS, Hotspot

log = logging.getLogger(__name__)


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


def _refuse_replays(frame: pd.DataFrame, stamp: np.ndarray) -> pd.DataFrame:
    """Drop the series in which one timestamp appears twice (the same reading sent twice: summing it would
    count it double), with a warning naming each; the other series are kept."""
    keyed = frame[["site", "meter", "activity_type"]].assign(_t=stamp)
    twice = keyed.duplicated(keep=False).to_numpy()
    if not twice.any():
        return frame
    bad = keyed[twice].drop_duplicates(["site", "meter", "activity_type"])
    for site, meter, activity_type, t in bad.itertuples(index=False):  # one line per refused series (few)
        log.warning("series (%s, %s, %s) left out of the scan: two readings at %s (a replay would count twice)",
                    site, meter, activity_type, pd.Timestamp(int(t), tz="UTC").isoformat())
    refused = frame.set_index(["site", "meter", "activity_type"]).index.isin(
        pd.MultiIndex.from_frame(bad[["site", "meter", "activity_type"]]))
    return frame[~refused]


def _per_hour(frame: pd.DataFrame) -> pd.DataFrame:
    """Readings of one series within one hour (sub-hourly meters) are parts of that hour: actual, expected
    and upper are summed (an hour's part with no expected value leaves the hour without one), the intensity
    averaged."""
    if not frame.duplicated(["site", "meter", "activity_type", "hour"]).any():
        return frame
    keys = ["site", "meter", "activity_type", "hour"]
    values = ["actual", "expected", "upper"]
    grouped = frame.groupby(keys, sort=False)
    parts = frame[values].isna().groupby([frame[k] for k in keys], sort=False).any()
    out = grouped[values].sum().mask(parts)
    out["kg"] = grouped["kg"].mean()
    out["model_version"] = grouped["model_version"].last()
    return out.reset_index()


def _grid(residuals: pd.DataFrame, as_of: pd.Timestamp | None) -> _Grid | None:
    ts = pd.DatetimeIndex(residuals["timestamp"])
    if ts.tz is None:
        raise ValueError("timestamp must be timezone-aware (UTC)")
    if ts.hasnans:
        raise ValueError("timestamp must not be empty")
    stamp = ts.tz_convert("UTC").as_unit("ns").asi8
    hours = stamp // HOUR_NS   # floor to the hour start: sub-hourly readings join their hour
    if as_of is None:
        end_hour = int(hours.max()) + 1
    else:
        when = pd.Timestamp(as_of)
        if when.tzinfo is None:
            raise ValueError("as_of must be timezone-aware (UTC)")
        end_hour = -(-int(when.tz_convert("UTC").as_unit("ns").value) // HOUR_NS)  # ceil: exclusive end
    n = len(residuals)
    meter = (residuals["meter"].fillna("").astype(str).to_numpy() if "meter" in residuals.columns
             else np.full(n, "", dtype=object))
    frame = pd.DataFrame({"site": residuals["site"].astype(str).to_numpy(), "meter": meter,
                          "activity_type": residuals["activity_type"].astype(str).to_numpy(), "hour": hours})
    frame["model_version"] = residuals["model_version"].to_numpy() if "model_version" in residuals.columns else None
    for c in ("actual", "expected", "upper"):
        frame[c] = pd.to_numeric(residuals[c], errors="raise").to_numpy(dtype=float)
    frame["kg"] = (pd.to_numeric(residuals["kg_per_kwh"], errors="raise").to_numpy(dtype=float)
                   if "kg_per_kwh" in residuals.columns else np.nan)
    keep = hours < end_hour
    frame = _per_hour(_refuse_replays(frame[keep], stamp[keep]))
    if frame.empty:
        return None
    sid_rows = frame.groupby(["site", "meter", "activity_type"], sort=True).ngroup().to_numpy()
    order = np.lexsort((frame["hour"].to_numpy(), sid_rows))
    frame, sid_rows = frame.iloc[order], sid_rows[order]
    h = frame["hour"].to_numpy(dtype=np.int64)
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

    def place(column: str) -> np.ndarray:
        out = np.full(total, np.nan)
        out[pos] = frame[column].to_numpy(dtype=float)
        return out

    actual = place("actual")
    return _Grid(keys=keys.reset_index(drop=True)[["site", "meter", "activity_type", "model_version"]],
                 offset=offset, first_hour=first_hour, end_hour=end_hour, sid=sid, hour=hour,
                 present=~np.isnan(actual), actual=actual, expected=place("expected"),
                 upper=place("upper"), kg=place("kg"), has_kg="kg_per_kwh" in residuals.columns)


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

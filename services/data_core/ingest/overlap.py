"""Overlapping readings are refused: a reading whose period overlaps another reading of the same site,
meter, activity type (and NAICS code) would count its energy and emissions twice.

Exact replays (same key and period) are judged before this, as duplicates or conflicts
(``compute.split_existing``); what reaches these checks overlaps without being the same period, such
as 10:07-11:07 over the hourly 10:00-11:00, or a monthly bill over the hourly readings of that month.

Both checks are vectorised:

* :func:`within` sorts one chunk by key and start and compares each row's start with the running maximum
  end of the rows before it (the earlier row that holds that end is named);
* :func:`against` finds, per new row, the stored interval of the same key that starts last before the new
  row ends (``merge_asof``) and compares its running maximum end with the new row's start.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from services.data_core.ingest.parse import ROW
from services.data_core.ingest.validate import ERROR_COLUMNS, TIME_COLUMN

OVERLAP_KEY = ["site_id", "meter", "activity_type", "naics_code"]


def key_hash(frame: pd.DataFrame) -> np.ndarray:
    """64-bit hash of the overlap key of each row (series identity)."""
    if frame.empty:
        return np.empty(0, dtype=np.uint64)
    # few distinct keys (sites x meters): factorize each column, hash each distinct combination once
    codes = np.zeros(len(frame), dtype=np.int64)
    for c in OVERLAP_KEY:
        column_codes, uniques = pd.factorize(frame[c])
        codes = codes * (len(uniques) + 1) + column_codes
    combo, first = np.unique(codes, return_index=True)
    keyed = pd.DataFrame({c: frame[c].iloc[first].astype(str).to_numpy(dtype=object) for c in OVERLAP_KEY})
    hashed = pd.util.hash_pandas_object(keyed, index=False).to_numpy()
    return hashed[np.searchsorted(combo, codes)]


def _fmt(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values).dt.strftime("%Y-%m-%dT%H:%M:%S")


def _column(frame: pd.DataFrame) -> np.ndarray:
    if TIME_COLUMN in frame.columns:
        return frame[TIME_COLUMN].astype(str).replace("", "period_start").to_numpy()
    return np.full(len(frame), "period_start", dtype=object)


def _no_errors() -> pd.DataFrame:
    return pd.DataFrame(columns=ERROR_COLUMNS)


def _running_end(key: np.ndarray, end: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows sorted by (key, start): the running maximum end within each key and the label of the
    row holding it."""
    frame = pd.DataFrame({"k": key, "e": end, "l": label})
    frame["m"] = frame.groupby("k", sort=False)["e"].cummax()
    frame["h"] = frame["l"].where(frame["e"] == frame["m"])
    frame["h"] = frame.groupby("k", sort=False)["h"].ffill()
    return frame["m"].to_numpy(), frame["h"].to_numpy()


def within(good: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Rows of one chunk overlapping an earlier (by start) accepted row of the same key: (mask over ``good``
    in its order, reject records naming the earlier row's number).

    A row starting at or after the end of every earlier row of its key is accepted for certain (one
    vectorised pass). Only the other rows (the candidates, as few as the file's overlaps) are decided in
    start order against the certain rows and the candidates accepted before them, so a row overlapping
    only a rejected row is kept."""
    n = len(good)
    if n < 2:
        return np.zeros(n, dtype=bool), _no_errors()
    key = key_hash(good)
    start = good["period_start"].astype("datetime64[us]").to_numpy().astype(np.int64)
    end = good["period_end"].astype("datetime64[us]").to_numpy().astype(np.int64)
    rows = good[ROW].to_numpy()
    order = np.lexsort((rows, start, key))
    # r: positions in ``good`` (a file row of the wide layouts makes many readings, so rows are not unique)
    k, s, e, r = key[order], start[order], end[order], order.astype(np.int64)
    low = np.iinfo(np.int64).min
    run_end, _ = _running_end(k, e, r)
    same_key = np.r_[False, k[1:] == k[:-1]]
    candidate = same_key & (s < np.r_[low, run_end[:-1]])
    if not candidate.any():
        return np.zeros(n, dtype=bool), _no_errors()
    # the running end of the certain rows only (a candidate's own end does not count)
    sure_end, sure_row = _running_end(k, np.where(candidate, low, e), r)
    best: dict[int, tuple[int, int]] = {}  # key -> (end, row) of the latest-ending accepted candidate
    rejected, named = [], []
    for i in np.flatnonzero(candidate):  # the candidates only: as many as the file's overlaps
        bound, holder = int(sure_end[i]), int(sure_row[i])
        other = best.get(int(k[i]))
        if other is not None and other[0] > bound:
            bound, holder = other
        if s[i] < bound:
            rejected.append(i)
            named.append(holder)
        elif other is None or e[i] > other[0]:
            best[int(k[i])] = (int(e[i]), int(r[i]))
    mask = np.zeros(n, dtype=bool)
    if not rejected:
        return mask, _no_errors()
    pos = order[np.asarray(rejected)]
    mask[pos] = True
    bad = good.iloc[pos]
    earlier = good.iloc[np.asarray(named, dtype=np.int64)]
    reason = ("overlaps row " + earlier[ROW].astype(str).to_numpy() + " of this file ("
              + _fmt(earlier["period_start"]).to_numpy() + " to " + _fmt(earlier["period_end"]).to_numpy()
              + ") of the same site, meter and activity type; its energy would count twice")
    errors = pd.DataFrame({"row": bad[ROW].to_numpy(), "column": _column(bad), "reason": reason,
                           "value": (_fmt(bad["period_start"]) + "/" + _fmt(bad["period_end"])).to_numpy()})
    return mask, errors


_BASE_US = np.datetime64("1990-01-01T00:00:00", "us").astype(np.int64)  # validation refuses earlier dates
_BITS = 32  # seconds since 1990 in the low 32 bits (to 2126), the series id above them


def _seconds(values: Any, *, up: bool) -> np.ndarray:
    """Seconds since 1990 (starts rounded down, ends up: a sub-second touch counts as an overlap)."""
    us = pd.to_datetime(values).astype("datetime64[us]").to_numpy().astype(np.int64) - _BASE_US
    secs = -(-us // 1_000_000) if up else us // 1_000_000
    return np.clip(secs, 0, (1 << _BITS) - 1)


class Periods:
    """Accepted periods of many series, sorted by (series, start) in one int64 array (series id in the high
    bits), with the running maximum end: one ``searchsorted`` per checked row. Adding a sorted batch merges two
    sorted runs (a stable sort of the concatenation)."""

    def __init__(self) -> None:
        self.ids: dict[int, int] = {}
        self.start = np.empty(0, dtype=np.int64)
        self.run_end = np.empty(0, dtype=np.int64)
        self.holder = np.empty(0, dtype=np.int64)  # position (in ``rows``) of the row holding the running end
        self.end = np.empty(0, dtype=np.int64)
        self.rows: list[pd.DataFrame] = []  # label, period_start, period_end of every added row, in add order
        self.order = np.empty(0, dtype=np.int64)  # add-order position of each sorted entry

    def _series(self, frame: pd.DataFrame, *, new: bool) -> np.ndarray:
        keys, inverse = np.unique(key_hash(frame), return_inverse=True)
        out = np.empty(len(keys), dtype=np.int64)
        for i, k in enumerate(keys.tolist()):  # once per distinct series (sites x meters), not per row
            if k not in self.ids and new:
                self.ids[k] = len(self.ids)
            out[i] = self.ids.get(k, -1)
        return out[inverse]

    def add(self, frame: pd.DataFrame, labels: Any) -> None:
        if frame.empty:
            return
        sid = self._series(frame, new=True) << _BITS
        start = sid | _seconds(frame["period_start"], up=False)
        end = sid | _seconds(frame["period_end"], up=True)
        base = sum(len(r) for r in self.rows)
        self.rows.append(pd.DataFrame({"label": np.asarray(labels), "period_start": frame["period_start"].to_numpy(),
                                       "period_end": frame["period_end"].to_numpy()}))
        starts = np.concatenate([self.start, start])
        order = np.argsort(starts, kind="stable")
        self.start = starts[order]
        self.end = np.concatenate([self.end, end])[order]
        self.order = np.concatenate([self.order, np.arange(base, base + len(frame))])[order]
        # a series' ends sit above every earlier series' (its id is in the high bits): one running maximum
        self.run_end = np.maximum.accumulate(self.end)
        self.holder = np.maximum.accumulate(np.where(self.end == self.run_end, np.arange(len(self.end)), 0))

    def check(self, new: pd.DataFrame, *, what: str, after: str) -> tuple[np.ndarray, pd.DataFrame]:
        """Rows of ``new`` overlapping an added period: (mask over ``new``, reject records)."""
        n = len(new)
        if n == 0 or not len(self.start):
            return np.zeros(n, dtype=bool), _no_errors()
        series = self._series(new, new=False)
        known = series >= 0
        sid = np.where(known, series, 0) << _BITS
        last = np.searchsorted(self.start, sid | _seconds(new["period_end"], up=True), side="left") - 1
        at = np.clip(last, 0, None)
        hit = known & (last >= 0) & ((self.start[at] >> _BITS) == series) & (
            self.run_end[at] > (sid | _seconds(new["period_start"], up=False)))
        if not hit.any():
            return hit, _no_errors()
        rows = pd.concat(self.rows, ignore_index=True) if len(self.rows) > 1 else self.rows[0]
        other = rows.iloc[self.order[self.holder[at[hit]]]]
        bad = new[hit]
        reason = (f"overlaps {what}" + other["label"].astype(str).to_numpy() + after + " ("
                  + _fmt(other["period_start"]).to_numpy() + " to " + _fmt(other["period_end"]).to_numpy()
                  + ") of the same site, meter and activity type; its energy would count twice (stored data is "
                  "never overwritten silently)")
        errors = pd.DataFrame({"row": bad[ROW].to_numpy(), "column": _column(bad), "reason": reason,
                               "value": (_fmt(bad["period_start"]) + "/" + _fmt(bad["period_end"])).to_numpy()})
        return hit, errors


def against(new: pd.DataFrame, stored: pd.DataFrame, *, what: str = "the stored reading ",
            after: str = "") -> tuple[np.ndarray, pd.DataFrame]:
    """Rows of ``new`` overlapping a row of ``stored`` (columns OVERLAP_KEY, period_start, period_end,
    ``label`` naming it, e.g. its id): (mask over ``new`` in its order, reject records)."""
    if new.empty or stored.empty:
        return np.zeros(len(new), dtype=bool), _no_errors()
    periods = Periods()
    periods.add(stored, stored["label"].to_numpy())
    return periods.check(new, what=what, after=after)

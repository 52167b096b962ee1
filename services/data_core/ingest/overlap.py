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
# added to computed chunks by the worker (series_columns): the writer reuses them
SERIES, START_S, END_S = "_series", "_start_s", "_end_s"
_BASE_US = np.datetime64("1990-01-01T00:00:00", "us").astype(np.int64)  # validation refuses earlier dates
_BITS = 32  # seconds since 1990 in the low 32 bits (to 2126), the series id above them


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


def prepared(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Series hash and start/end seconds of each row: the columns ``series_columns`` adds (the ingest worker
    computes them once per chunk, so the writer does not), or computed here."""
    if SERIES in frame.columns:
        return (frame[SERIES].to_numpy(dtype=np.int64), frame[START_S].to_numpy(dtype=np.int64),
                frame[END_S].to_numpy(dtype=np.int64))
    return (key_hash(frame).view(np.int64), _seconds(frame["period_start"], up=False),
            _seconds(frame["period_end"], up=True))


def series_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its series hash and start/end seconds (``SERIES``, ``START_S``, ``END_S``)."""
    series, start, end = prepared(frame.drop(columns=[SERIES, START_S, END_S], errors="ignore"))
    return frame.assign(**{SERIES: series, START_S: start, END_S: end})


def _dense(series: np.ndarray) -> np.ndarray:
    """Series hashes as 0, 1, 2 ... in order of first appearance in sorted order (rows sorted by series)."""
    return np.cumsum(np.r_[False, series[1:] != series[:-1]])


def within(good: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Rows of one chunk overlapping an earlier (by start) accepted row of the same key: (mask over ``good``
    in its order, reject records naming the earlier row's number).

    First a conservative pass on whole seconds (starts rounded down, ends up, series rank in the high bits:
    one sort and one running maximum): a row starting at or after the end of every earlier row of its key
    cannot overlap, and when every row is such a row (files without overlaps) nothing more is done.
    Otherwise the exact decision (:func:`_within_exact`, to the microsecond)."""
    n = len(good)
    if n < 2:
        return np.zeros(n, dtype=bool), _no_errors()
    series, s_sec, e_sec = prepared(good)
    order = np.lexsort((s_sec, series))
    k = series[order]
    g = _dense(k) << _BITS
    run_end = np.maximum.accumulate(g | e_sec[order])
    if not ((g | s_sec[order])[1:] < run_end[:-1]).any():  # an earlier row of another series ends below g
        return np.zeros(n, dtype=bool), _no_errors()
    return _within_exact(good, series)


def _within_exact(good: pd.DataFrame, key: np.ndarray) -> tuple[np.ndarray, pd.DataFrame]:
    """A row starting at or after the end of every earlier row of its key is accepted for certain (one
    vectorised pass). Only the other rows (the candidates, as few as the file's overlaps) are decided in
    start order against the certain rows and the candidates accepted before them, so a row overlapping
    only a rejected row is kept."""
    n = len(good)
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


def _seconds(values: Any, *, up: bool) -> np.ndarray:
    """Seconds since 1990 (starts rounded down, ends up: a sub-second touch counts as an overlap)."""
    us = pd.to_datetime(values).astype("datetime64[us]").to_numpy().astype(np.int64) - _BASE_US
    secs = -(-us // 1_000_000) if up else us // 1_000_000
    return np.clip(secs, 0, (1 << _BITS) - 1)


def from_seconds(seconds: np.ndarray) -> pd.Series:
    """Seconds since 1990 (as :func:`_seconds` gives them) as datetimes."""
    return pd.Series((seconds * 1_000_000 + _BASE_US).astype("datetime64[us]"))


class Periods:
    """Accepted periods of many series, checked in two steps:

    * a time box per series (first start, last end of what was added): a row outside its series' box (or of a
      series never added) cannot overlap, which is every row when a file comes in time order per series;
    * for the other rows, every added period sorted by (series, start) in one int64 array (dense series id in
      the high bits) with the running maximum end: one ``searchsorted`` per checked row. It is built only when
      a check needs it, and added batches are merged into it then (two sorted runs, linear)."""

    def __init__(self) -> None:
        self.ids: dict[int, int] = {}
        self.lo = np.empty(0, dtype=np.int64)  # per dense series id: first start, last end (seconds)
        self.hi = np.empty(0, dtype=np.int64)
        self.start = np.empty(0, dtype=np.int64)
        self.end = np.empty(0, dtype=np.int64)
        self.run_end = np.empty(0, dtype=np.int64)
        self.holder = np.empty(0, dtype=np.int64)  # sorted position of the entry holding the running end
        self.order = np.empty(0, dtype=np.int64)  # add-order position of each sorted entry
        self.pending: list[tuple[np.ndarray, np.ndarray]] = []  # (start, end) keyed, added since the last merge
        self.rows: list[pd.DataFrame] = []  # label, period_start, period_end of every added row, in add order
        self.added = 0

    def _series(self, series: np.ndarray, *, new: bool) -> np.ndarray:
        keys, inverse = np.unique(series, return_inverse=True)
        out = np.empty(len(keys), dtype=np.int64)
        for i, k in enumerate(keys.tolist()):  # once per distinct series (sites x meters), not per row
            if k not in self.ids and new:
                self.ids[k] = len(self.ids)
            out[i] = self.ids.get(k, -1)
        return out[inverse]

    def add(self, frame: pd.DataFrame, labels: Any) -> None:
        if frame.empty:
            return
        series, s_sec, e_sec = prepared(frame)
        sid = self._series(series, new=True)
        grow = len(self.ids) - len(self.lo)
        if grow:
            self.lo = np.r_[self.lo, np.full(grow, np.iinfo(np.int64).max)]
            self.hi = np.r_[self.hi, np.full(grow, np.iinfo(np.int64).min)]
        np.minimum.at(self.lo, sid, s_sec)
        np.maximum.at(self.hi, sid, e_sec)
        self.pending.append(((sid << _BITS) | s_sec, (sid << _BITS) | e_sec))
        self.rows.append(pd.DataFrame({"label": np.asarray(labels), "period_start": frame["period_start"].to_numpy(),
                                       "period_end": frame["period_end"].to_numpy()}))

    def _merge(self) -> None:
        if not self.pending:
            return
        start = np.concatenate([p[0] for p in self.pending])
        end = np.concatenate([p[1] for p in self.pending])
        added = np.arange(self.added, self.added + len(start))
        self.added += len(start)
        self.pending = []
        sort = np.argsort(start, kind="stable")
        start, end, added = start[sort], end[sort], added[sort]
        # merge two sorted runs: where each new entry goes among the old ones (after equal starts: stable)
        at = np.searchsorted(self.start, start, side="right") + np.arange(len(start))
        total = len(self.start) + len(start)
        new = np.zeros(total, dtype=bool)
        new[at] = True
        merged = {}
        for name, old, fresh in (("start", self.start, start), ("end", self.end, end), ("order", self.order, added)):
            out = np.empty(total, dtype=np.int64)
            out[new], out[~new] = fresh, old
            merged[name] = out
        self.start, self.end, self.order = merged["start"], merged["end"], merged["order"]
        # a series' ends sit above every earlier series' (its id is in the high bits): one running maximum
        self.run_end = np.maximum.accumulate(self.end)
        self.holder = np.maximum.accumulate(np.where(self.end == self.run_end, np.arange(total), 0))

    def _inside(self, new: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(rows inside the time box of their series, dense series id (0 when unknown), start and end seconds)."""
        series, s_sec, e_sec = prepared(new)
        sid = self._series(series, new=False)
        known = sid >= 0
        box = np.where(known, sid, 0)
        return known & (s_sec < self.hi[box]) & (e_sec > self.lo[box]), box, s_sec, e_sec

    def inside(self, new: pd.DataFrame) -> np.ndarray:
        """Rows of ``new`` inside the time box of what was added of their series (only those can repeat or
        overlap an added period)."""
        if new.empty or not self.ids:
            return np.zeros(len(new), dtype=bool)
        return self._inside(new)[0]

    def check(self, new: pd.DataFrame, *, what: str, after: str) -> tuple[np.ndarray, pd.DataFrame]:
        """Rows of ``new`` overlapping an added period: (mask over ``new``, reject records)."""
        n = len(new)
        if n == 0 or not self.ids:
            return np.zeros(n, dtype=bool), _no_errors()
        maybe, box, s_sec, e_sec = self._inside(new)
        if not maybe.any():  # every row outside its series' box
            return maybe, _no_errors()
        self._merge()
        key = box << _BITS
        last = np.searchsorted(self.start, key | e_sec, side="left") - 1
        at = np.clip(last, 0, None)
        hit = maybe & (last >= 0) & ((self.start[at] >> _BITS) == box) & (self.run_end[at] > (key | s_sec))
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

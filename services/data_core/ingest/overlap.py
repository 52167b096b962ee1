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

import numpy as np
import pandas as pd

from services.data_core.ingest.parse import ROW
from services.data_core.ingest.validate import ERROR_COLUMNS, TIME_COLUMN

OVERLAP_KEY = ["site_id", "meter", "activity_type", "naics_code"]


OKEY = "_okey"  # a precomputed key_hash column (kept instead of the key's strings)


def key_hash(frame: pd.DataFrame) -> np.ndarray:
    """64-bit hash of the overlap key of each row (series identity)."""
    if frame.empty:
        return np.empty(0, dtype=np.uint64)
    if OKEY in frame.columns:
        return frame[OKEY].to_numpy(dtype=np.uint64)
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


def against(new: pd.DataFrame, stored: pd.DataFrame, *, what: str = "the stored reading ",
            after: str = "") -> tuple[np.ndarray, pd.DataFrame]:
    """Rows of ``new`` overlapping a row of ``stored`` (columns OVERLAP_KEY or OKEY, period_start, period_end,
    ``label`` naming it, e.g. its id): (mask over ``new`` in its order, reject records)."""
    n = len(new)
    if n == 0 or stored.empty:
        return np.zeros(n, dtype=bool), _no_errors()
    st = pd.DataFrame({"k": key_hash(stored), "s": stored["period_start"].astype("datetime64[us]").to_numpy(),
                       "e": stored["period_end"].astype("datetime64[us]").to_numpy(),
                       "l": np.arange(len(stored))})
    st = st.sort_values(["k", "s"], kind="stable").reset_index(drop=True)
    run_end, holder = _running_end(st["k"].to_numpy(), st["e"].to_numpy().astype(np.int64), st["l"].to_numpy())
    st["run_end"], st["holder"] = run_end, holder.astype(np.int64)
    probe = pd.DataFrame({"k": key_hash(new), "pos": np.arange(n),
                          "s": new["period_start"].astype("datetime64[us]").to_numpy(),
                          # the last stored interval starting before this one ends
                          "t": new["period_end"].astype("datetime64[us]").to_numpy() - np.timedelta64(1, "us")})
    probe = probe.sort_values("t", kind="stable")
    found = pd.merge_asof(probe, st.sort_values("s", kind="stable")[["k", "s", "run_end", "holder"]].rename(
        columns={"s": "t"}), on="t", by="k", direction="backward")
    hit = found["run_end"].notna().to_numpy() & (
        found["run_end"].fillna(np.iinfo(np.int64).min).to_numpy(dtype=np.int64) > found["s"].astype(
            "datetime64[us]").to_numpy().astype(np.int64))
    mask = np.zeros(n, dtype=bool)
    pos = found["pos"].to_numpy()[hit]
    mask[pos] = True
    if not hit.any():
        return mask, _no_errors()
    bad = new.iloc[pos]
    other = stored.iloc[found["holder"].to_numpy()[hit].astype(np.int64)]
    reason = (f"overlaps {what}" + other["label"].astype(str).to_numpy() + after + " ("
              + _fmt(other["period_start"]).to_numpy() + " to " + _fmt(other["period_end"]).to_numpy()
              + ") of the same site, meter and activity type; its energy would count twice (stored data is never "
              "overwritten silently)")
    errors = pd.DataFrame({"row": bad[ROW].to_numpy(), "column": _column(bad), "reason": reason,
                           "value": (_fmt(bad["period_start"]) + "/" + _fmt(bad["period_end"])).to_numpy()})
    return mask, errors

"""The time box of each stored series (``activity_series``: first start, last end, longest reading), kept by
ingest and corrections, so that the lookup of stored readings a chunk may repeat or overlap

* is skipped when no row of the chunk falls inside its series' box (data arriving in time order: the usual
  case), and
* otherwise reads the natural-key index (site, period start, ...) from ``first new start - longest stored
  reading`` on: a stored reading overlapping a new one cannot start earlier.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Connection, and_, select

from services.data_core.bulk import _datetime_strings
from services.data_core.ingest import overlap
from services.data_core.ingest.overlap import OVERLAP_KEY
from services.data_core.models import Activity, ActivitySeries

STORED = ["id_db", "site_id", "meter", "activity_type", "naics_code", "period_start", "period_end",
          "quantity_db", "unit_db", "batch_db", "superseded_db", "revision_db"]


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=STORED)


def _per_series(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per series of ``frame``: its key, first start, last end (whole seconds: starts rounded down,
    ends up, so the box holds the readings) and longest reading in seconds."""
    series, start, end = overlap.prepared(frame)
    keys, first, inverse = np.unique(series, return_index=True, return_inverse=True)
    lo = np.full(len(keys), np.iinfo(np.int64).max)
    hi = np.full(len(keys), np.iinfo(np.int64).min)
    longest = np.zeros(len(keys), dtype=np.int64)
    np.minimum.at(lo, inverse, start)
    np.maximum.at(hi, inverse, end)
    np.maximum.at(longest, inverse, end - start)
    out = frame[OVERLAP_KEY].iloc[first].reset_index(drop=True)
    for col in OVERLAP_KEY:
        out[col] = out[col].astype(str)
    out["first_start"] = overlap.from_seconds(lo)
    out["last_end"] = overlap.from_seconds(hi)
    out["longest_s"] = longest.astype(float)
    return out


def stored_near(conn: Connection, frame: pd.DataFrame) -> pd.DataFrame:
    """Stored readings that may share a natural key with a row of ``frame`` or overlap one (current and
    superseded: ``superseded_db`` names the replacement), columns ``STORED``."""
    if frame.empty:
        return _empty()
    s = ActivitySeries.__table__.c
    boxes = pd.read_sql(select(s.site_id, s.meter, s.activity_type, s.naics_code, s.first_start.label("box_start"),
                               s.last_end.label("box_end"), s.longest_s.label("box_longest"))
                        .where(s.site_id.in_(sorted(frame["site_id"].unique())),
                               s.activity_type.in_(sorted(frame["activity_type"].unique()))), conn)
    if boxes.empty:  # nothing stored yet for these sites
        return _empty()
    new = _per_series(frame)
    for col in ("box_start", "box_end"):
        boxes[col] = pd.to_datetime(boxes[col]).astype("datetime64[us]")
    hit = new.merge(boxes, on=OVERLAP_KEY, how="inner")
    hit = hit[(hit["first_start"] < hit["box_end"]) & (hit["last_end"] > hit["box_start"])]
    if hit.empty:
        return _empty()
    longest = timedelta(seconds=float(hit["box_longest"].max()) + 1.0)
    lower = (hit["first_start"].min() - longest).to_pydatetime()
    a = Activity.__table__.c
    stmt = select(a.id.label("id_db"), a.site_id, a.meter, a.activity_type, a.naics_code, a.period_start,
                  a.period_end, a.quantity.label("quantity_db"), a.unit.label("unit_db"), a.batch_id.label("batch_db"),
                  a.superseded_by.label("superseded_db"), a.revision.label("revision_db")).where(and_(
        a.site_id.in_(sorted(hit["site_id"].unique())),
        a.period_start >= lower, a.period_start < hit["last_end"].max().to_pydatetime(),
        a.period_end > hit["first_start"].min().to_pydatetime(),
        a.meter.in_(sorted(hit["meter"].unique())), a.activity_type.in_(sorted(hit["activity_type"].unique()))))
    found = pd.read_sql(stmt, conn)
    found["period_start"] = pd.to_datetime(found["period_start"]).astype("datetime64[us]")
    found["period_end"] = pd.to_datetime(found["period_end"]).astype("datetime64[us]")
    for col in OVERLAP_KEY:
        found[col] = found[col].fillna("").astype(str)
    return found[STORED]


def widen(conn: Connection, frame: pd.DataFrame) -> int:
    """Grow the boxes of the series of ``frame`` (rows just written in this transaction) to hold them."""
    if frame.empty:
        return 0
    new = _per_series(frame)
    columns = [*OVERLAP_KEY, "first_start", "last_end", "longest_s"]
    postgres = conn.dialect.name == "postgresql"
    marker = "%s" if postgres else "?"
    least, greatest = ("LEAST", "GREATEST") if postgres else ("MIN", "MAX")
    sql = (f"INSERT INTO activity_series ({', '.join(columns)}) VALUES ({', '.join([marker] * len(columns))}) "
           f"ON CONFLICT ({', '.join(OVERLAP_KEY)}) DO UPDATE SET "
           f"first_start = {least}(activity_series.first_start, excluded.first_start), "
           f"last_end = {greatest}(activity_series.last_end, excluded.last_end), "
           f"longest_s = {greatest}(activity_series.longest_s, excluded.longest_s)")
    values = []
    for c in columns:
        if c in ("first_start", "last_end"):
            values.append(new[c].dt.to_pydatetime().tolist() if postgres else _datetime_strings(new[c]).tolist())
        else:
            values.append(new[c].astype(float if c == "longest_s" else str).tolist())
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, list(zip(*values, strict=True)))
    finally:
        cursor.close()
    return len(new)


__all__ = ["STORED", "stored_near", "widen"]

"""The per-meter hourly grid the expectation and hotspot layer works on, built from readings of any interval.

Readings are stored as given (1, 5, 15, 30 minutes, hours, days, monthly bills). The expected values,
residuals and hotspots work per (site, meter, activity type, hour):

* a reading of one hour or less belongs to the hour it starts in; the readings of one hour are summed
  (``readings`` counts them, ``seconds`` adds up their lengths: 3600 when the hour is complete);
* a reading longer than an hour is not an hourly slot (it gets no expected value and no residual); energy
  views may prorate it by time over its hours (:func:`prorated`, ``/readings?prorate=true``).

Ingest refuses overlapping readings of one meter, so a complete hour is exactly covered once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, Connection, Float, Subquery, extract, func, literal, select, text, type_coerce

from services.data_core.models import Activity, UtcDateTime

HOUR_S = 3600.0
COMPLETE = HOUR_S - 1e-3  # an hour whose readings cover at least this many seconds is complete
_A = Activity.__table__.c


def hour_of(dialect: str, column: Any) -> ColumnElement[datetime]:
    """The start of the hour ``column`` falls in (a UTC datetime, as stored)."""
    if dialect == "postgresql":
        return type_coerce(func.date_trunc(literal("hour"), column), UtcDateTime)
    return type_coerce(func.strftime("%Y-%m-%dT%H:00:00.000000", column), UtcDateTime)


def seconds_of(dialect: str) -> ColumnElement[float]:
    """The length of each activity's period in seconds."""
    if dialect == "postgresql":
        return type_coerce(extract("epoch", _A.period_end - _A.period_start), Float)
    return (func.julianday(_A.period_end) - func.julianday(_A.period_start)) * 86400.0


def naive(value: datetime) -> datetime:
    """UTC without a zone, as the database stores times."""
    return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)


def filters(dialect: str, site: list[str], activity_type: list[str], start: datetime | None,
            end: datetime | None, *, longer: bool = False) -> list[Any]:
    """Filters for readings of one hour or less (``longer``: of more than an hour) of these sites and types
    starting in [start, end) (``longer``: overlapping it)."""
    if dialect == "postgresql":
        short = _A.period_end - _A.period_start <= text("interval '1 hour'")
    else:
        short = func.julianday(_A.period_end) - func.julianday(_A.period_start) <= 1.0 / 24 + 1e-9
    # a reading a correction superseded is history: the views use its replacement (corrections.py)
    clauses: list[Any] = [~short if longer else short, _A.superseded_by.is_(None)]
    if site:
        clauses.append(_A.site_id.in_(site))
    if activity_type:
        clauses.append(_A.activity_type.in_(activity_type))
    if start:
        clauses.append(_A.period_end > naive(start) if longer else _A.period_start >= naive(start))
    if end:
        clauses.append(_A.period_start < naive(end))
    return clauses


def grid(dialect: str, clauses: list[Any]) -> Subquery:
    """Readings of one hour or less summed per (site, meter, activity type, unit, hour), with how many
    readings made the hour and how many seconds they cover."""
    hour = hour_of(dialect, _A.period_start)
    return (select(_A.site_id, _A.meter, _A.activity_type, _A.unit, hour.label("hour"),
                   func.sum(_A.quantity).label("quantity"), func.count().label("readings"),
                   func.sum(seconds_of(dialect)).label("seconds"))
            .where(*clauses).group_by(_A.site_id, _A.meter, _A.activity_type, _A.unit, hour)
            .subquery("hourly"))


def prorated(conn: Connection, clauses: list[Any], start: datetime | None, end: datetime | None) -> pd.DataFrame:
    """Readings longer than an hour (``filters(..., longer=True)``) spread over their hours by time:
    columns site_id, meter, activity_type, unit, hour, quantity (the hour's share), within [start, end)."""
    stmt = select(_A.site_id, _A.meter, _A.activity_type, _A.unit, _A.period_start, _A.period_end,
                  _A.quantity).where(*clauses)
    rows = pd.DataFrame(conn.execute(stmt).mappings().all(),
                        columns=["site_id", "meter", "activity_type", "unit", "period_start", "period_end", "quantity"])
    columns = ["site_id", "meter", "activity_type", "unit", "hour", "quantity"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    s = pd.to_datetime(rows["period_start"]).astype("datetime64[us]").to_numpy()
    e = pd.to_datetime(rows["period_end"]).astype("datetime64[us]").to_numpy()
    lo, hi = s, e
    if start is not None:
        lo = np.maximum(lo, np.datetime64(naive(start), "us"))
    if end is not None:
        hi = np.minimum(hi, np.datetime64(naive(end), "us"))
    first = lo.astype("datetime64[h]")
    count = np.maximum(((hi - np.timedelta64(1, "us")).astype("datetime64[h]") - first).astype(np.int64) + 1, 0)
    count = np.where(hi > lo, count, 0)
    which = np.repeat(np.arange(len(rows)), count)
    step = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    hour = first[which] + step.astype("timedelta64[h]")
    h0 = hour.astype("datetime64[us]")
    part = (np.minimum(h0 + np.timedelta64(1, "h"), e[which]) - np.maximum(h0, s[which])).astype(np.int64)
    share = part / (e - s).astype(np.int64)[which]
    out = rows.iloc[which][["site_id", "meter", "activity_type", "unit"]].reset_index(drop=True)
    out["hour"] = h0
    out["quantity"] = rows["quantity"].to_numpy(dtype=float)[which] * share
    return out[columns]

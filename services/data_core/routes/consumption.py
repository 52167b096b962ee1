"""Consumption from the readings (issue #19): energy in kWh and demand in kW of a selection of sites, activity
types and a period, summed in the database instead of shipped hour by hour (``/readings`` serves the hours).

* Readings of one hour or less are summed per site, activity type and hour (the hourly grid of ``/readings``);
  a group's ``kwh`` is the sum of its hours, its ``avg_kw`` the mean of its hourly kWh over the hours with a
  reading (an hour's kWh is its average kW) and ``peak_kw`` their maximum; ``hours`` counts them. The hourly
  series of a group is summed over what the group does not split (two sites together: their summed hours).
* Readings longer than an hour (a monthly or annual bill) are spread over their hours by time and only the
  part inside the period counts (``prorated_kwh``, as ``/readings?prorate=true``). They add to ``kwh`` but not
  to the demand figures: a bill says nothing about the peak of an hour.
* Readings in a unit that is not an energy (litres of diesel) are left out and counted in ``non_energy_rows``.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pandas as pd
from fastapi import APIRouter, Query
from sqlalchemy import case, func, literal_column, select, type_coerce
from sqlalchemy.types import String

from services.common.errors import Unprocessable
from services.data_core import hourly
from services.data_core.deps import ConnDep
from services.data_core.models import Activity
from services.data_core.routes.predictions import KWH, kwh_factors

router = APIRouter(prefix="/api/v1", tags=["consumption"])
GROUPS = ("site", "activity_type", "month", "quarter")


def _month(dialect: str, hour: Any) -> Any:
    if dialect == "postgresql":
        # an inline constant: a bound one differs between SELECT and GROUP BY for PostgreSQL
        return type_coerce(func.to_char(hour, literal_column("'YYYY-MM'")), String)
    return type_coerce(func.substr(hour, 1, 7), String)


def _bucket(frame: pd.DataFrame, group: list[str]) -> pd.DataFrame:
    """``month`` (YYYY-MM) and ``quarter`` (YYYY-Qn) from the ``month`` column, as the grouping asks."""
    if "quarter" in group:
        q = (frame["month"].str[5:7].astype(int) - 1) // 3 + 1
        frame = frame.assign(quarter=frame["month"].str[:4] + "-Q" + q.astype(str))
    return frame


@router.get("/consumption", summary="Energy (kWh) and demand (average and peak kW) from the readings, grouped")
def consumption(conn: ConnDep, site: list[str] = Query(default=[], max_length=1000),
                activity_type: list[str] = Query(default=["electricity", "natural_gas"], max_length=50),
                start: datetime | None = None, end: datetime | None = None,
                group_by: str = Query(default="", max_length=60, description="comma-separated: site, "
                                      "activity_type, month, quarter"),
                demand: bool = Query(default=True, description="also the demand (avg_kw, peak_kw, hours: the "
                                     "readings summed per hour first); false: energy only, in one pass")
                ) -> dict[str, Any]:
    group = [g.strip() for g in group_by.split(",") if g.strip()]
    bad = [g for g in group if g not in GROUPS]
    if bad:
        raise Unprocessable(f"unknown group_by '{bad[0]}' (one of {', '.join(GROUPS)})", field="group_by")
    if start and end and end <= start:
        raise Unprocessable("end must be after start", field="end")
    a = Activity.__table__.c
    dialect = conn.dialect.name
    short = hourly.filters(dialect, site, activity_type, start, end)
    longer = hourly.filters(dialect, site, activity_type, start, end, longer=True)
    factors = kwh_factors(u for c in (short, longer) for u in conn.execute(select(a.unit).where(*c).distinct()).scalars())
    energy = {unit: f for unit, f in factors.items() if not math.isnan(f)}
    other = sorted(set(factors) - set(energy))
    non_energy = sum(conn.execute(select(func.count()).where(*c, a.unit.in_(other))).scalar_one()
                     for c in (short, longer)) if other else 0
    keys = [k for k in ("site", "activity_type") if k in group]
    timed = "month" in group or "quarter" in group

    def metered(split: list[str], by_time: bool) -> pd.DataFrame:
        """Hourly kWh summed per ``split`` (and hour), then per group: kwh, avg_kw, peak_kw, hours (without
        ``demand``: the kWh per group in one pass, no hours)."""
        cols = {"site": a.site_id, "activity_type": a.activity_type}
        hour = hourly.hour_of(dialect, a.period_start)
        kwh = a.quantity * case(energy, value=a.unit) if energy else a.quantity
        names = [*split, *(["month"] if by_time else [])]
        if not demand:
            keys = [cols[k].label(k) for k in split] + ([_month(dialect, a.period_start).label("month")] if by_time else [])
            flat = (select(*keys, func.sum(kwh).label("kwh")).where(*short, a.unit.in_(sorted(energy)))
                    .group_by(*[cols[k] for k in split], *([_month(dialect, a.period_start)] if by_time else [])))
            frame = pd.DataFrame(conn.execute(flat).mappings().all(), columns=[*names, "kwh"])
            return frame.assign(avg_kw=None, peak_kw=None, hours=0)
        inner = (select(*[cols[k].label(k) for k in split], hour.label("hour"), func.sum(kwh).label("q"))
                 .where(*short, a.unit.in_(sorted(energy))).group_by(*[cols[k] for k in split], hour).subquery())
        outer_keys = [inner.c[k] for k in split] + ([_month(dialect, inner.c.hour).label("month")] if by_time else [])
        stmt = select(*outer_keys, func.sum(inner.c.q).label("kwh"), func.avg(inner.c.q).label("avg_kw"),
                      func.max(inner.c.q).label("peak_kw"), func.count().label("hours")).group_by(*outer_keys)
        return pd.DataFrame(conn.execute(stmt).mappings().all(), columns=[*names, "kwh", "avg_kw", "peak_kw", "hours"])

    spread = hourly.prorated(conn, [*longer, a.unit.in_(sorted(energy))], start, end) if energy else pd.DataFrame()
    if not spread.empty:
        spread = spread.rename(columns={"site_id": "site"}).assign(
            kwh=spread["quantity"].astype(float) * spread["unit"].map(energy).astype(float),
            month=pd.to_datetime(spread["hour"]).dt.strftime("%Y-%m"))

    def combine(split: list[str], by_time: bool, names: list[str]) -> pd.DataFrame:
        rows = metered(split, by_time)
        if by_time:
            rows = _bucket(rows, names)
            if "quarter" in names:  # a quarter's figures from its months: sums, the mean over its hours, the max
                rows = rows.assign(weighted=pd.to_numeric(rows["avg_kw"]) * rows["hours"],
                                   peak_kw=pd.to_numeric(rows["peak_kw"]))
                rows = rows.groupby(names, as_index=False).agg(kwh=("kwh", "sum"), weighted=("weighted", "sum"),
                                                               peak_kw=("peak_kw", "max"), hours=("hours", "sum"))
                rows = rows.assign(avg_kw=(rows["weighted"] / rows["hours"]).where(rows["hours"] > 0)).drop(columns="weighted")
        rows = rows.assign(metered_kwh=rows["kwh"].astype(float))
        if not spread.empty:
            extra = _bucket(spread, names) if by_time else spread
            extra = (extra.groupby(names, as_index=False)["kwh"].sum() if names
                     else pd.DataFrame({"kwh": [extra["kwh"].sum()]})).rename(columns={"kwh": "prorated_kwh"})
            rows = rows.merge(extra, on=names, how="outer") if names else pd.concat([rows, extra], axis=1)
        if "prorated_kwh" not in rows:
            rows["prorated_kwh"] = 0.0
        rows["prorated_kwh"] = rows["prorated_kwh"].astype(float).fillna(0.0)
        rows["metered_kwh"] = rows["metered_kwh"].astype(float).fillna(0.0)
        rows["hours"] = rows["hours"].fillna(0).astype(int)
        rows["kwh"] = rows["metered_kwh"] + rows["prorated_kwh"]
        return rows.sort_values(names).reset_index(drop=True) if names else rows

    names = [*keys, *(["quarter"] if "quarter" in group else ["month"] if "month" in group else [])]
    grouped = combine(keys, timed, names) if group else None
    if grouped is not None and not demand:  # the total is the sum of the groups
        total = pd.DataFrame([{"kwh": grouped["kwh"].sum(), "metered_kwh": grouped["metered_kwh"].sum(),
                               "prorated_kwh": grouped["prorated_kwh"].sum(), "avg_kw": None, "peak_kw": None,
                               "hours": 0}])
    else:
        total = combine([], False, [])
    out_cols = [*names, "kwh", "metered_kwh", "prorated_kwh", "avg_kw", "peak_kw", "hours"]

    def records(frame: pd.DataFrame, cols: list[str]) -> list[dict[str, Any]]:
        frame = frame[cols]
        return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
                for r in frame.astype(object).where(frame.notna(), None).to_dict("records")]

    head = records(total, out_cols[len(names):])[0] if len(total) else {}
    return {"unit": KWH, "demand_unit": "kW", "group_by": names,
            "filters": {"site": site, "activity_type": activity_type,
                        "start": start.isoformat() if start else None, "end": end.isoformat() if end else None},
            "total_kwh": float(head.get("kwh") or 0.0), "prorated_kwh": float(head.get("prorated_kwh") or 0.0),
            "avg_kw": head.get("avg_kw"), "peak_kw": head.get("peak_kw"), "hours": int(head.get("hours") or 0),
            "rows": records(grouped, out_cols) if grouped is not None else [], "non_energy_rows": int(non_energy)}

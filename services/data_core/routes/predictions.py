"""Expected values next to actuals: the ML engine stores its predictions here, the predict flow
asks which hourly readings still lack one, and anyone can read the residuals.

Readings and residuals are answered in kWh: quantities are converted here, once, with pint (one factor per
distinct unit, :mod:`services.data_core.units`); rows in a unit that is not an energy are left out of
those two answers and counted in the ``X-Non-Energy-Rows`` header. A residual is actual minus expected, both kWh."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

import pandas as pd
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import and_, case, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from services.common.auth import WriteAuth
from services.common.errors import Unprocessable
from services.data_core import hourly, paging
from services.data_core.deps import ConnDep
from services.data_core.exports import arrow_csv_response, frame_response
from services.data_core.models import Activity, Prediction, Site
from services.data_core.paging import LimitQ, OffsetQ, link_header, page, settle
from services.data_core.units import IncompatibleUnits, UnknownUnit, conversion_factor

router = APIRouter(prefix="/api/v1", tags=["predictions"])
KWH = "kWh"
NON_ENERGY_HEADER = "X-Non-Energy-Rows"


def kwh_factors(units: Iterable[Any]) -> dict[Any, float]:
    """The factor to kWh of each distinct unit (pint, once per unit); NaN for a unit that is not an energy
    (or that pint does not know)."""
    factors: dict[Any, float] = {}
    for unit in set(units):
        try:
            factors[unit] = conversion_factor(str(unit), KWH)
        except (IncompatibleUnits, UnknownUnit):
            factors[unit] = math.nan
    return factors


def in_kwh(frame: pd.DataFrame, columns: dict[str, str]) -> tuple[pd.DataFrame, int]:
    """``frame`` with each value column converted to kWh by the factor of its unit column
    (``{value column: unit column}``), the unit columns dropped and ``unit`` = "kWh"; rows with a
    non-energy unit are left out and counted."""
    factors = {unit: frame[unit].map(kwh_factors(frame[unit].dropna().unique())).astype(float)
               for unit in set(columns.values())}
    energy = pd.concat(factors.values(), axis=1).notna().all(axis=1) if factors else pd.Series(True, frame.index)
    out = frame.assign(**{value: frame[value].astype(float) * factors[unit] for value, unit in columns.items()})
    out = out[energy].drop(columns=[u for u in set(columns.values()) if u != "unit"]).assign(unit=KWH)
    return out, int((~energy).sum())


class PredictionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site: str = Field(min_length=1, max_length=64)
    meter: str = Field(default="", max_length=120)
    activity_type: str = Field(min_length=1, max_length=80)
    period_start: datetime
    expected: float
    lower: float | None = None
    upper: float | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PredictionIn:
        values = [v for v in (self.expected, self.lower, self.upper) if v is not None]
        if not all(math.isfinite(v) for v in values):
            raise ValueError("expected, lower and upper must be finite numbers")
        if self.lower is not None and self.lower > self.expected:
            raise ValueError("lower must not be above expected")
        if self.upper is not None and self.upper < self.expected:
            raise ValueError("upper must not be below expected")
        return self


class PredictionsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())
    model_name: str = Field(min_length=1, max_length=120)
    model_version: str = Field(min_length=1, max_length=40)
    unit: str = Field(default="kWh", min_length=1, max_length=60)
    predictions: list[PredictionIn] = Field(min_length=1, max_length=100_000)


@router.put("/predictions", dependencies=[WriteAuth], summary="Store expected values (re-sending replaces them)")
def put_predictions(body: PredictionsIn, conn: ConnDep) -> dict[str, Any]:
    sites = {p.site for p in body.predictions}
    known = set(conn.execute(select(Site.id).where(Site.id.in_(sorted(sites)))).scalars())
    unknown = sorted(sites - known)
    if unknown:
        raise Unprocessable(f"unknown site(s): {', '.join(unknown[:10])}", field="predictions.site")
    rows = [{"site_id": p.site, "meter": p.meter, "activity_type": p.activity_type,
             "period_start": hourly.naive(p.period_start), "expected": p.expected, "lower": p.lower, "upper": p.upper,
             "unit": body.unit, "model_name": body.model_name, "model_version": body.model_version}
            for p in body.predictions]
    table = Prediction.__table__
    insert = pg_insert(table) if conn.dialect.name == "postgresql" else sqlite_insert(table)
    stmt = insert.on_conflict_do_update(
        index_elements=["site_id", "meter", "activity_type", "period_start"],
        set_={c: insert.excluded[c] for c in ("expected", "lower", "upper", "unit", "model_name", "model_version")}
        | {"predicted_at": func.current_timestamp()})
    for start in range(0, len(rows), 5000):
        conn.execute(stmt, rows[start : start + 5000])
    return {"stored": len(rows), "model_name": body.model_name, "model_version": body.model_version}


@router.get("/predictions/pending", summary="Hourly grid slots (site, meter, activity type, hour) without an expected "
            "value")
def pending(conn: ConnDep, site: list[str] = Query(default=[], max_length=1000),
            activity_type: list[str] = Query(default=["electricity", "natural_gas"], max_length=50),
            start: datetime | None = None, end: datetime | None = None,
            limit: int = Query(default=10_000, ge=1, le=100_000)) -> dict[str, Any]:
    """Readings of one hour or less, summed per meter and hour (a half-hourly meter's two readings make one
    slot; ``readings`` counts them, ``complete`` says whether they cover the whole hour). Readings longer
    than an hour (daily, monthly) are not hourly slots and are not listed (services/data_core/hourly.py)."""
    p = Prediction.__table__.c
    g = hourly.grid(conn.dialect.name, hourly.filters(conn.dialect.name, site, activity_type, start, end))
    stmt = (select(g.c.site_id.label("site"), g.c.meter, g.c.activity_type, g.c.hour.label("period_start"),
                   g.c.quantity, g.c.unit, g.c.readings, g.c.seconds)
            .select_from(g.outerjoin(Prediction.__table__, and_(
                p.site_id == g.c.site_id, p.meter == g.c.meter, p.activity_type == g.c.activity_type,
                p.period_start == g.c.hour)))
            .where(p.expected.is_(None))
            .order_by(g.c.hour, g.c.site_id, g.c.meter).limit(limit))
    rows = [dict(r) for r in conn.execute(stmt).mappings()]
    for r in rows:
        r["period_start"] = r["period_start"].isoformat()
        r["complete"] = float(r.pop("seconds")) >= hourly.COMPLETE
    return {"count": len(rows), "readings": rows}


@router.get("/residuals", summary="Actual against expected for hourly readings (paged: limit, offset, Link)")
def residuals(request: Request, response: Response, conn: ConnDep, site: list[str] = Query(default=[], max_length=1000),
              activity_type: list[str] = Query(default=[], max_length=50),
              start: datetime | None = None, end: datetime | None = None,
              format: Literal["json", "csv"] = "json",
              limit: int | None = LimitQ, offset: int = OffsetQ) -> Any:
    """Complete hours of the per-meter hourly grid (sub-hourly readings summed into their hour) that have an
    expected value, oldest first. At most 100,000 rows in JSON and 2,000,000
    in CSV (what the hotspot scan reads) per answer; larger answers are paged (services/data_core/paging.py)."""
    pg = page(limit, offset, paging.cap(format))
    if start and end and end <= start:
        raise Unprocessable("end must be after start", field="end")
    p = Prediction.__table__.c
    g = hourly.grid(conn.dialect.name, hourly.filters(conn.dialect.name, site, activity_type, start, end))
    stmt = (select(g.c.site_id.label("site"), g.c.meter, g.c.activity_type, g.c.hour.label("period_start"),
                   g.c.quantity.label("actual"), g.c.unit, p.expected, p.lower, p.upper, p.model_name,
                   p.model_version, p.unit.label("expected_unit"))
            .join_from(g, Prediction.__table__, and_(
                p.site_id == g.c.site_id, p.meter == g.c.meter, p.activity_type == g.c.activity_type,
                p.period_start == g.c.hour))
            .where(g.c.seconds >= hourly.COMPLETE)  # an hour half metered would look like a drop
            .order_by(g.c.hour, g.c.site_id, g.c.meter, g.c.activity_type)
            .limit(pg.fetch).offset(pg.offset))
    columns = ["site", "meter", "activity_type", "period_start", "actual", "unit", "expected", "lower", "upper",
               "model_name", "model_version"]
    frame = pd.DataFrame(conn.execute(stmt).mappings().all(), columns=[*columns, "expected_unit"])
    next_url = settle(request, pg, len(frame), "the residuals answer")
    frame, non_energy = in_kwh(frame.iloc[: pg.limit], {"actual": "unit", "expected": "expected_unit",
                                                        "lower": "expected_unit", "upper": "expected_unit"})
    frame = frame[columns]
    frame["period_start"] = pd.to_datetime(frame["period_start"]).dt.strftime("%Y-%m-%dT%H:%M:%S")
    headers = link_header(next_url) | {NON_ENERGY_HEADER: str(non_energy)}
    if format == "csv":  # pyarrow writes it ~10x faster than to_csv (bench/scan: 0.07 vs 0.85 s per 150k rows)
        answer = arrow_csv_response(frame, name="residuals")
        answer.headers.update(headers)
        return answer
    frame = frame.assign(residual=frame["actual"] - frame["expected"],
                         above_upper=frame["upper"].notna() & (frame["actual"] > frame["upper"]),
                         below_lower=frame["lower"].notna() & (frame["actual"] < frame["lower"]))
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    response.headers.update(headers)
    return {"count": len(rows), "rows": rows} | ({"next": next_url} if next_url else {})


@router.get("/readings/extent", summary="First and last hour of hourly readings, and the sites that have them")
def readings_extent(conn: ConnDep, activity_type: list[str] = Query(default=["electricity", "natural_gas"],
                                                                   max_length=50)) -> dict[str, Any]:
    a = Activity.__table__.c
    clauses = hourly.filters(conn.dialect.name, [], activity_type, None, None)
    first, last = conn.execute(select(func.min(a.period_start), func.max(a.period_start)).where(*clauses)).one()
    sites = conn.execute(select(a.site_id).where(*clauses).distinct().order_by(a.site_id)).scalars().all()
    return {"first": first.isoformat() + "Z" if first else None, "last": last.isoformat() + "Z" if last else None,
            "sites": list(sites)}


@router.get("/readings", summary="Hourly kWh per site (or meter) and activity type (the history the ML engine trains "
            "and predicts on; paged)")
def readings(request: Request, response: Response, conn: ConnDep, site: list[str] = Query(default=[], max_length=1000),
             activity_type: list[str] = Query(default=["electricity", "natural_gas"], max_length=50),
             start: datetime | None = None, end: datetime | None = None,
             format: Literal["json", "csv"] = "json", by_meter: bool = False, prorate: bool = False,
             limit: int | None = LimitQ, offset: int = OffsetQ) -> Any:
    """Readings of one hour or less summed per site, activity type and hour (``by_meter``: per meter too, with
    the number of readings in the hour), in kWh (each unit's factor from pint, applied in the query; readings
    in a non-energy unit are left out and counted in ``X-Non-Energy-Rows``). Sub-hourly readings are summed
    into the hour they start in. ``prorate=true`` adds readings longer than an hour (daily, monthly bills)
    spread over their hours by time, with ``prorated_kwh`` = the part of the hour's kWh that is prorated;
    without it (the default, what the ML engine trains on) only metered hours are served.
    ``format=csv`` carries large ranges cheaply: up to 2,000,000 rows per answer (the training flow reads a
    year of 40 buildings, ~700,000 rows); JSON up to 100,000. Larger answers are paged
    (services/data_core/paging.py)."""
    p = page(limit, offset, paging.cap(format))
    if start and end and end <= start:
        raise Unprocessable("end must be after start", field="end")
    a = Activity.__table__.c
    dialect = conn.dialect.name
    clauses = hourly.filters(dialect, site, activity_type, start, end)
    longer = hourly.filters(dialect, site, activity_type, start, end, longer=True) if prorate else None
    unit_clauses = [clauses] + ([longer] if longer else [])
    factors = kwh_factors(u for c in unit_clauses for u in conn.execute(select(a.unit).where(*c).distinct()).scalars())
    energy = {unit: factor for unit, factor in factors.items() if not math.isnan(factor)}
    other = sorted(set(factors) - set(energy))
    non_energy = sum(conn.execute(select(func.count()).where(*c, a.unit.in_(other))).scalar_one()
                     for c in unit_clauses) if other else 0
    hour = hourly.hour_of(dialect, a.period_start)
    kwh = a.quantity * case(energy, value=a.unit) if energy else a.quantity
    keys = [a.site_id.label("site"), *([a.meter] if by_meter else []), a.activity_type]
    names = ["site", *(["meter"] if by_meter else []), "activity_type"]
    stmt = (select(*keys, hour.label("timestamp"), func.sum(kwh).label("quantity"), func.count().label("readings"))
            .where(*clauses, a.unit.in_(sorted(energy)))
            .group_by(*keys, hour).order_by(hour, *keys))
    stmt = stmt.limit(p.offset + p.fetch) if longer else stmt.limit(p.fetch).offset(p.offset)
    frame = pd.DataFrame(conn.execute(stmt).mappings().all(), columns=[*names, "timestamp", "quantity", "readings"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"]).astype("datetime64[us]")
    if longer:
        frame = _with_prorated(frame, hourly.prorated(conn, [*longer, a.unit.in_(sorted(energy))], start, end),
                               energy, names).iloc[p.offset : p.offset + p.fetch]
    next_url = settle(request, p, len(frame), "the readings answer")
    frame = frame.iloc[: p.limit].assign(unit=KWH)
    frame["timestamp"] = frame["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    columns = [*names, "timestamp", "quantity", "unit"] + (["readings"] if by_meter else []) + (
        ["prorated_kwh"] if longer else [])
    frame = frame[columns]
    headers = link_header(next_url) | {NON_ENERGY_HEADER: str(non_energy)}
    if format == "csv":
        answer = frame_response(frame, fmt="csv", name="readings")
        answer.headers.update(headers)
        return answer
    response.headers.update(headers)
    return {"count": len(frame), "readings": frame.to_dict("records")} | ({"next": next_url} if next_url else {})


def _with_prorated(metered: pd.DataFrame, spread: pd.DataFrame, energy: dict[Any, float],
                   names: list[str]) -> pd.DataFrame:
    """The metered hours and the prorated shares of longer readings, summed per key and hour, in order."""
    spread = spread.rename(columns={"site_id": "site", "hour": "timestamp"})
    spread = spread.assign(quantity=spread["quantity"].astype(float) * spread["unit"].map(energy).astype(float),
                           readings=0, prorated_kwh=lambda f: f["quantity"])
    both = pd.concat([metered.assign(prorated_kwh=0.0), spread[[*names, "timestamp", "quantity", "readings",
                                                                 "prorated_kwh"]]], ignore_index=True)
    both["timestamp"] = both["timestamp"].astype("datetime64[us]")
    out = both.groupby([*names, "timestamp"], as_index=False, sort=False)[["quantity", "readings",
                                                                           "prorated_kwh"]].sum()
    return out.sort_values(["timestamp", *names], kind="stable").reset_index(drop=True)

"""Bills (readings of a meter over days or months) against their expected values from the degree-day model
(ASHRAE Guideline 14 / IPMVP Option C, flow ``monthly-bills``): ``GET /api/v1/bills`` lists the bills in kWh
with their emissions and expected values, ``PUT /api/v1/bills/expected`` stores expected values.

A bill is a stored reading at least ``min_days`` long (default 20: monthly and quarterly bills; a daily reading
is not a bill). Hourly and shorter readings are the hourly grid's (``/predictions``, ``/residuals``)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

import pandas as pd
from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import and_, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from services.common.auth import WriteAuth
from services.common.errors import Unprocessable
from services.data_core import hourly
from services.data_core.deps import ConnDep
from services.data_core.exports import frame_response
from services.data_core.ledger import current_version
from services.data_core.models import Activity, BillExpectation, Emission
from services.data_core.routes.predictions import NON_ENERGY_HEADER, in_kwh

router = APIRouter(prefix="/api/v1", tags=["bills"])
MIN_DAYS = 20.0
COLUMNS = ["site", "meter", "activity_type", "period_start", "period_end", "days", "kwh", "kg_co2e", "expected",
           "lower", "upper", "level", "weather", "model_name", "model_version", "model", "reason", "above_upper"]


def _text(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values).dt.strftime("%Y-%m-%dT%H:%M:%SZ")


@router.get("/bills", summary="Bills (readings of min_days or more) in kWh with their degree-day expected values")
def bills(response: Response, conn: ConnDep, site: list[str] = Query(default=[], max_length=1000),
          activity_type: list[str] = Query(default=[], max_length=50),
          start: datetime | None = None, end: datetime | None = None,
          min_days: float = Query(default=MIN_DAYS, ge=1.0, le=400.0, description="shortest reading that is a bill"),
          format: Literal["json", "csv"] = "json",
          limit: int = Query(default=10_000, ge=1, le=100_000)) -> Any:
    """Bills overlapping [start, end), oldest first per meter: ``kwh`` (pint's factor of the bill's unit; bills
    in a unit that is not an energy are left out and counted in ``X-Non-Energy-Rows``), ``kg_co2e`` (the current
    ledger's, location-based), and the stored expected value, interval (``level``), weather coverage, model and
    ``reason`` (why a bill has no expected value), ``above_upper`` (the bill is above its interval). A bill not
    judged yet has nulls there."""
    if start and end and end <= start:
        raise Unprocessable("end must be after start", field="end")
    a, b, e = Activity.__table__.c, BillExpectation.__table__.c, Emission.__table__.c
    dialect = conn.dialect.name
    clauses = [*hourly.filters(dialect, site, activity_type, start, end, longer=True),
               hourly.seconds_of(dialect) >= min_days * 86400.0 - 1e-3]
    version = current_version(conn)
    stmt = (select(a.site_id.label("site"), a.meter, a.activity_type, a.period_start, a.period_end, a.quantity, a.unit,
                   e.kg_co2e, b.expected, b.lower, b.upper, b.level, b.weather, b.model_name, b.model_version, b.model,
                   b.reason)
            .select_from(Activity.__table__)
            .outerjoin(Emission.__table__, and_(e.activity_id == a.id, e.version_id == version))
            .outerjoin(BillExpectation.__table__, and_(
                b.site_id == a.site_id, b.meter == a.meter, b.activity_type == a.activity_type,
                b.period_start == a.period_start, b.period_end == a.period_end))
            .where(*clauses).order_by(a.site_id, a.meter, a.activity_type, a.period_start).limit(limit))
    names = ["site", "meter", "activity_type", "period_start", "period_end", "quantity", "unit", "kg_co2e",
             "expected", "lower", "upper", "level", "weather", "model_name", "model_version", "model", "reason"]
    frame = pd.DataFrame(conn.execute(stmt).mappings().all(), columns=names)
    frame, non_energy = in_kwh(frame, {"quantity": "unit"})
    frame = frame.rename(columns={"quantity": "kwh"})
    starts, ends = pd.to_datetime(frame["period_start"]), pd.to_datetime(frame["period_end"])
    frame["days"] = ((ends - starts) / pd.Timedelta(days=1)).astype(float)
    frame["above_upper"] = frame["upper"].notna() & (frame["kwh"] > frame["upper"].astype(float))
    frame["period_start"], frame["period_end"] = _text(starts), _text(ends)
    frame["model"] = frame["model"].map(lambda m: m or None)  # a bill judged without a baseline has no model
    frame = frame[COLUMNS]
    response.headers[NON_ENERGY_HEADER] = str(non_energy)
    if format == "csv":
        answer = frame_response(frame.assign(model=frame["model"].map(lambda m: "" if m is None else str(m))),
                                fmt="csv", name="bills")
        answer.headers[NON_ENERGY_HEADER] = str(non_energy)
        return answer
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return {"count": len(rows), "min_days": min_days, "bills": rows}


class BillExpectedIn(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())
    site: str = Field(min_length=1, max_length=64)
    meter: str = Field(default="", max_length=120)
    activity_type: str = Field(min_length=1, max_length=80)
    period_start: datetime
    period_end: datetime
    expected: float | None = Field(default=None, ge=0)
    lower: float | None = Field(default=None, ge=0)
    upper: float | None = Field(default=None, ge=0)
    weather: float | None = Field(default=None, ge=0, le=1)
    model: dict[str, Any] = Field(default_factory=dict, description="the fitted model: kind, coefficients, bases, "
                                                                    "baseline bills, CV(RMSE), NMBE")
    reason: str = Field(default="", max_length=500, description="why the bill has no expected value")

    @model_validator(mode="after")
    def _consistent(self) -> BillExpectedIn:
        if hourly.naive(self.period_end) <= hourly.naive(self.period_start):
            raise ValueError("period_end must be after period_start")
        values = [v for v in (self.expected, self.lower, self.upper) if v is not None]
        if not all(math.isfinite(v) for v in values):
            raise ValueError("expected, lower and upper must be finite numbers")
        if self.expected is None:
            if self.lower is not None or self.upper is not None or not self.reason:
                raise ValueError("a bill without an expected value has no interval and needs a reason")
        elif (self.lower is not None and self.lower > self.expected) or \
                (self.upper is not None and self.upper < self.expected):
            raise ValueError("lower <= expected <= upper")
        return self


class BillsExpectedIn(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())
    model_name: str = Field(default="degree-days", min_length=1, max_length=120)
    model_version: str = Field(min_length=1, max_length=40)
    level: float = Field(gt=0, lt=1, description="two-sided level of the prediction intervals")
    expectations: list[BillExpectedIn] = Field(min_length=1, max_length=100_000)


@router.put("/bills/expected", dependencies=[WriteAuth],
            summary="Store expected values of bills (re-sending replaces them); every bill must be stored")
def put_bill_expected(body: BillsExpectedIn, conn: ConnDep) -> dict[str, Any]:
    a = Activity.__table__.c
    keys = {(x.site, x.meter, x.activity_type, hourly.naive(x.period_start), hourly.naive(x.period_end))
            for x in body.expectations}
    stored: set[tuple[Any, ...]] = set()
    wanted = sorted(keys)
    for i in range(0, len(wanted), 500):  # tuple IN lists of a bounded size on both dialects
        part = wanted[i : i + 500]
        stored.update(tuple(r) for r in conn.execute(
            select(a.site_id, a.meter, a.activity_type, a.period_start, a.period_end)
            .where(tuple_(a.site_id, a.meter, a.activity_type, a.period_start, a.period_end).in_(part))))
    missing = sorted(keys - stored)
    if missing:
        s, m, t, p0, p1 = missing[0]
        raise Unprocessable(f"{len(missing)} bill(s) are not stored readings, e.g. site {s!r} meter {m!r} {t} "
                            f"{p0.isoformat()} to {p1.isoformat()}", field="expectations")
    rows = [{"site_id": x.site, "meter": x.meter, "activity_type": x.activity_type,
             "period_start": hourly.naive(x.period_start), "period_end": hourly.naive(x.period_end),
             "expected": x.expected, "lower": x.lower, "upper": x.upper, "level": body.level, "weather": x.weather,
             "model_name": body.model_name, "model_version": body.model_version, "model": x.model, "reason": x.reason}
            for x in body.expectations]
    table = BillExpectation.__table__
    insert = pg_insert(table) if conn.dialect.name == "postgresql" else sqlite_insert(table)
    stmt = insert.on_conflict_do_update(
        index_elements=["site_id", "meter", "activity_type", "period_start"],
        set_={c: insert.excluded[c] for c in ("period_end", "expected", "lower", "upper", "level", "weather",
                                              "model_name", "model_version", "model", "reason")}
        | {"predicted_at": func.current_timestamp()})
    for i in range(0, len(rows), 5000):
        conn.execute(stmt, rows[i : i + 5000])
    judged = sum(x.expected is not None for x in body.expectations)
    return {"stored": len(rows), "with_expected": judged, "without": len(rows) - judged,
            "model_name": body.model_name, "model_version": body.model_version}

"""Emission queries, aggregated in SQL: totals, time series, top contributors, inventory, audit.

Queries at day resolution or coarser whose time filters fall on midnight read the daily rollup
(``rollups.py``: tens of thousands of rows); hourly queries and the audit trail read the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any, Literal

import pandas as pd
from sqlalchemy import ColumnElement, Connection, Select, Table, and_, cast, func, literal, select
from sqlalchemy.types import Integer

from services.common.errors import Unprocessable
from services.data_core.ledger import resolve_version
from services.data_core.models import Activity, Emission, EmissionFactor, EmissionRollup, Site
from services.data_core.rollups import NO_CATEGORY

Interval = Literal["hour", "day", "week", "month", "quarter", "year"]
Method = Literal["location", "market"]
GROUPS = {"scope", "category", "site", "activity_type", "country", "org", "edition"}
# the ledger as queries see it: each row with its activity's site, type and period start
_A = Activity.__table__.c
LEDGER: Table = (select(*Emission.__table__.c, _A.site_id, _A.activity_type, _A.period_start,  # type: ignore[assignment]
                        _A.period_end, _A.meter, _A.quantity, _A.unit, _A.batch_id)
                 .join_from(Emission.__table__, Activity.__table__, _A.id == Emission.__table__.c.activity_id)
                 .subquery("ledger"))
E = LEDGER.c
ROLLUP: Table = EmissionRollup.__table__  # type: ignore[assignment]


@dataclass
class Filters:
    version: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    scopes: list[int] = field(default_factory=list)
    sites: list[str] = field(default_factory=list)
    activity_types: list[str] = field(default_factory=list)
    categories: list[int] = field(default_factory=list)
    org: str | None = None
    method: Method = "location"

    def check(self) -> None:
        if self.start and self.end and self.end <= self.start:
            raise Unprocessable("end must be after start", field="end")

    def day_aligned(self) -> bool:
        return all(t is None or t.time() == time(0) for t in (self.start, self.end))


def source_for(f: Filters, interval: Interval | None = None) -> Table:
    """The rollup when it can answer exactly, else the ledger."""
    return ROLLUP if interval != "hour" and f.day_aligned() else LEDGER


def value_column(method: Method, t: Table = LEDGER) -> ColumnElement[float]:
    return t.c.kg_co2e_market if method == "market" else t.c.kg_co2e


def _count(t: Table) -> ColumnElement[int]:
    return func.sum(t.c.rows) if t is ROLLUP else func.count()


def _category(t: Table) -> ColumnElement[Any]:
    return func.nullif(t.c.category, NO_CATEGORY).label("category") if t is ROLLUP else t.c.category


def _where(conn: Connection, f: Filters, t: Table = LEDGER) -> tuple[list[ColumnElement[bool]], int, bool]:
    f.check()
    version = resolve_version(conn, f.version)
    c = t.c
    clauses: list[ColumnElement[bool]] = [c.version_id == version]
    if f.start:
        clauses.append(c.period_start >= f.start.replace(tzinfo=None))
    if f.end:
        clauses.append(c.period_start < f.end.replace(tzinfo=None))
    if f.scopes:
        clauses.append(c.scope.in_(f.scopes))
    if f.sites:
        clauses.append(c.site_id.in_(f.sites))
    if f.activity_types:
        clauses.append(c.activity_type.in_(f.activity_types))
    if f.categories:
        clauses.append(c.category.in_(f.categories))
    needs_site = bool(f.org)
    return clauses, version, needs_site


def _group_columns(groups: list[str], t: Table = LEDGER) -> tuple[list[ColumnElement[Any]], bool, bool]:
    """Columns to group by, whether they need the sites table, and whether the factor table."""
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise Unprocessable(f"cannot group by {', '.join(unknown)}; choose from {', '.join(sorted(GROUPS))}",
                            field="group_by")
    s = Site.__table__.c
    edition = (t.c.edition_key if t is ROLLUP else EmissionFactor.__table__.c.edition_key).label("edition")
    mapping: dict[str, ColumnElement[Any]] = {
        "scope": t.c.scope, "category": _category(t), "site": t.c.site_id.label("site"),
        "activity_type": t.c.activity_type, "country": s.country, "org": s.org_id.label("org"), "edition": edition,
    }
    return ([mapping[g] for g in groups], any(g in ("country", "org") for g in groups),
            "edition" in groups and t is LEDGER)


def bucket(conn: Connection, interval: Interval, t: Table = LEDGER) -> ColumnElement[Any]:
    col = t.c.period_start
    if conn.dialect.name == "postgresql":
        return func.date_trunc(literal(interval), col).label("period")
    formats = {"hour": "%Y-%m-%dT%H:00:00", "day": "%Y-%m-%dT00:00:00", "month": "%Y-%m-01T00:00:00",
               "year": "%Y-01-01T00:00:00"}
    if interval in formats:
        return func.strftime(formats[interval], col).label("period")
    if interval == "week":  # Monday of the week
        return func.strftime("%Y-%m-%dT00:00:00", col, "weekday 0", "-6 days").label("period")
    month = cast(func.strftime("%m", col), Integer)
    first = ((month - 1) // 3) * 3 + 1
    return func.printf("%s-%02d-01T00:00:00", func.strftime("%Y", col), first).label("period")


def _base(stmt: Select[Any], clauses: list[ColumnElement[bool]], join_site: bool, f: Filters,
          t: Table = LEDGER, join_factor: bool = False) -> Select[Any]:
    if join_site or f.org:
        stmt = stmt.join_from(t, Site.__table__, Site.__table__.c.id == t.c.site_id)
        if f.org:
            clauses = [*clauses, Site.__table__.c.org_id == f.org]
    if join_factor:
        stmt = stmt.join_from(t, EmissionFactor.__table__, EmissionFactor.__table__.c.factor_id == t.c.factor_id)
    return stmt.where(and_(*clauses))


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def totals(conn: Connection, f: Filters, groups: list[str]) -> dict[str, Any]:
    t = source_for(f)
    clauses, version, _ = _where(conn, f, t)
    cols, join_site, join_factor = _group_columns(groups, t)
    value = value_column(f.method, t)
    stmt = select(*cols, func.sum(value).label("kg_co2e"), _count(t).label("rows"))
    stmt = _base(stmt, clauses, join_site, f, t, join_factor)
    if cols:
        stmt = stmt.group_by(*cols).order_by(func.sum(value).desc())
    rows = [dict(r) for r in conn.execute(stmt).mappings()]
    total = sum(r["kg_co2e"] or 0.0 for r in rows)
    for r in rows:
        r["kg_co2e"] = float(r["kg_co2e"] or 0.0)
        r["rows"] = int(r["rows"] or 0)
        r["t_co2e"] = r["kg_co2e"] / 1000.0
    return {"ledger_version": version, "method": f.method, "group_by": groups, "total_kg_co2e": total,
            "total_t_co2e": total / 1000.0, "rows": rows}


def timeseries(conn: Connection, f: Filters, interval: Interval, groups: list[str], *, limit: int | None = None,
               offset: int = 0) -> dict[str, Any]:
    t = source_for(f, interval)
    clauses, version, _ = _where(conn, f, t)
    cols, join_site, join_factor = _group_columns(groups, t)
    period = bucket(conn, interval, t)
    value = value_column(f.method, t)
    stmt = select(period, *cols, func.sum(value).label("kg_co2e"))
    stmt = _base(stmt, clauses, join_site, f, t, join_factor).group_by(period, *cols).order_by(period, *cols)
    if limit is not None:  # a page (routes/emissions.py caps the answer; paging.py)
        stmt = stmt.limit(limit).offset(offset)
    rows = [{k: _iso(v) for k, v in r.items()} for r in conn.execute(stmt).mappings()]
    for r in rows:
        r["period"] = str(r["period"]).replace(" ", "T")[:19]
        r["kg_co2e"] = float(r["kg_co2e"] or 0.0)
    return {"ledger_version": version, "method": f.method, "interval": interval, "group_by": groups, "rows": rows}


def top(conn: Connection, f: Filters, by: str, limit: int) -> dict[str, Any]:
    """Contributors ranked, with share, cumulative share and whether they are in the 80 % Pareto set;
    with start and end given, also the change against the previous period of the same length."""
    t = source_for(f)
    clauses, version, _ = _where(conn, f, t)
    cols, join_site, join_factor = _group_columns([by], t)
    value = value_column(f.method, t)
    stmt = _base(select(*cols, func.sum(value).label("kg_co2e")), clauses, join_site, f, t, join_factor).group_by(*cols)
    frame = pd.DataFrame(conn.execute(stmt).mappings().all(), columns=[by, "kg_co2e"])
    frame["kg_co2e"] = frame["kg_co2e"].astype(float)
    frame = frame.sort_values("kg_co2e", ascending=False, kind="stable").reset_index(drop=True)
    total = float(frame["kg_co2e"].sum())
    frame["share"] = frame["kg_co2e"] / total if total else 0.0
    frame["cumulative_share"] = frame["share"].cumsum()
    # in the Pareto set: the contributors needed to reach 80 % (the one crossing the line included)
    frame["pareto"] = (frame["cumulative_share"] - frame["share"]) < 0.8
    previous = None
    if f.start and f.end:
        length = f.end - f.start
        prev = Filters(**{**f.__dict__, "start": f.start - length, "end": f.start})
        p_clauses, _, _ = _where(conn, prev, t)
        p_stmt = _base(select(*cols, func.sum(value).label("kg_prev")), p_clauses, join_site, prev, t,
                       join_factor).group_by(*cols)
        previous = pd.DataFrame(conn.execute(p_stmt).mappings().all(), columns=[by, "kg_prev"])
        frame = frame.merge(previous, on=by, how="left")
        frame["kg_prev"] = frame["kg_prev"].astype(float)
        frame["change_kg"] = frame["kg_co2e"] - frame["kg_prev"].fillna(0.0)
        frame["change_pct"] = (frame["change_kg"] / frame["kg_prev"]).where(frame["kg_prev"] > 0) * 100
    rows = frame.head(limit).astype(object).where(frame.head(limit).notna(), None).to_dict("records")
    return {"ledger_version": version, "method": f.method, "by": by, "total_kg_co2e": total,
            "pareto_count": int(frame["pareto"].sum()), "contributors": int(len(frame)), "rows": rows}


def inventory(conn: Connection, year: int, *, version: int | None, org: str | None) -> dict[str, Any]:
    """GHG inventory summary of a calendar year: scope 1; scope 2 location- and market-based; scope 3 by category."""
    f = Filters(version=version, start=datetime(year, 1, 1), end=datetime(year + 1, 1, 1), org=org)
    r_ = ROLLUP
    c = r_.c
    clauses, v, _ = _where(conn, f, r_)
    category = _category(r_)
    stmt = _base(select(c.scope, category, func.sum(c.kg_co2e).label("loc"), func.sum(c.kg_co2e_market).label("mkt"),
                        func.sum(c.kg_co2).label("co2"), func.sum(c.kg_ch4).label("ch4"),
                        func.sum(c.kg_n2o).label("n2o"), func.sum(c.rows).label("rows")), clauses, False, f, r_)
    rows = conn.execute(stmt.group_by(c.scope, category).order_by(c.scope, category)).mappings().all()
    t = lambda kg: round(float(kg or 0.0) / 1000.0, 6)  # noqa: E731
    scope1 = sum(float(r["loc"] or 0) for r in rows if r["scope"] == 1)
    s2_loc = sum(float(r["loc"] or 0) for r in rows if r["scope"] == 2)
    s2_mkt = sum(float(r["mkt"] or 0) for r in rows if r["scope"] == 2)
    s3 = [{"category": r["category"], "t_co2e": t(r["loc"]), "rows": int(r["rows"])} for r in rows if r["scope"] == 3]
    s3_total = sum(float(r["loc"] or 0) for r in rows if r["scope"] == 3)
    editions = conn.execute(
        _base(select(c.edition_key, func.sum(c.rows).label("rows"), func.sum(c.kg_co2e).label("kg_co2e")),
              clauses, False, f, r_).group_by(c.edition_key).order_by(c.edition_key)
    ).mappings().all()
    return {
        "year": year, "ledger_version": v, "organisation": org, "unit": "t CO2e",
        "scope1_t_co2e": t(scope1),
        "scope2_location_t_co2e": t(s2_loc),
        "scope2_market_t_co2e": t(s2_mkt),
        "scope3_t_co2e": t(s3_total),
        "scope3_by_category": s3,
        "total_location_t_co2e": t(scope1 + s2_loc + s3_total),
        "total_market_t_co2e": t(scope1 + s2_mkt + s3_total),
        "gases_kg": {"co2": sum(float(r["co2"] or 0) for r in rows), "ch4": sum(float(r["ch4"] or 0) for r in rows),
                     "n2o": sum(float(r["n2o"] or 0) for r in rows)},
        "factor_editions": [{"edition_key": e["edition_key"], "rows": int(e["rows"]),
                             "t_co2e": t(e["kg_co2e"])} for e in editions],
    }


def audit(conn: Connection, f: Filters, *, limit: int, offset: int) -> dict[str, Any]:
    """The trail of a total: its rows with their activity, factor and arithmetic; the sum of all rows
    (not only the page) equals the total of the same filters."""
    clauses, version, _ = _where(conn, f)
    value = value_column(f.method)
    total_stmt = _base(select(func.sum(value).label("kg"), func.count().label("n")), clauses, False, f)
    total = conn.execute(total_stmt).mappings().one()
    fc = EmissionFactor.__table__.c
    stmt = (select(E.activity_id, E.site_id, E.scope, E.category, E.activity_type, E.period_start, E.period_end,
                   E.meter, E.quantity, E.unit, E.batch_id, E.factor_id, E.selection, fc.source, fc.edition,
                   fc.edition_key, fc.table_ref, fc.region, fc.valid_from, fc.valid_to, E.gwp_set,
                   E.quantity_converted, fc.unit.label("factor_unit"), fc.co2_kg, fc.ch4_kg, fc.n2o_kg, fc.co2e_kg, E.kg_co2,
                   E.kg_ch4, E.kg_n2o, E.kg_co2e, E.market_factor_id, E.renewable_share, E.kg_co2e_market)
            .join_from(LEDGER, EmissionFactor.__table__, fc.factor_id == E.factor_id))
    stmt = _base(stmt, clauses, False, f).order_by(E.period_start, E.activity_id).limit(limit).offset(offset)
    rows = []
    for r in conn.execute(stmt).mappings():
        row = {k: _iso(v) for k, v in r.items()}
        row["arithmetic"] = arithmetic(row)
        row["activity_id"] = str(row["activity_id"])  # 63-bit: a string so JavaScript clients keep every digit
        rows.append(row)
    return {"ledger_version": version, "method": f.method, "total_kg_co2e": float(total["kg"] or 0.0),
            "row_count": int(total["n"]), "limit": limit, "offset": offset, "rows": rows}


def arithmetic(row: dict[str, Any]) -> str:
    conv = row["quantity_converted"] / row["quantity"] if row["quantity"] else 0.0
    head = (f"{row['quantity']:g} {row['unit']} x {conv:.6g} = {row['quantity_converted']:.6g} {row['factor_unit']}")
    if row["co2e_kg"] is not None:
        body = f"{row['quantity_converted']:.6g} x {row['co2e_kg']:.6g} kg CO2e/{row['factor_unit']} (published)"
    else:
        body = (f"{row['quantity_converted']:.6g} x ({row['co2_kg'] or 0:.6g} CO2 + GWP_CH4 x {row['ch4_kg'] or 0:.6g}"
                f" CH4 + GWP_N2O x {row['n2o_kg'] or 0:.6g} N2O) [{row['gwp_set']}]")
    return f"{head}; {body} = {row['kg_co2e']:.6g} kg CO2e"



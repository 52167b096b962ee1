"""Emission queries and exports."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Depends, Query, Request, Response

from services.common.errors import Unprocessable
from services.data_core import paging, queries
from services.data_core.deps import ConnDep
from services.data_core.exports import Format, frame_response, inventory_frame
from services.data_core.paging import MAX_JSON_ROWS, LimitQ, OffsetQ, link_header, page, settle

router = APIRouter(prefix="/api/v1/emissions", tags=["emissions"])


def _filters(
    version: int | None = Query(default=None, ge=1, le=1_000_000, description="ledger version (default: current)"),
    start: datetime | None = Query(default=None, description="period start >= (UTC)"),
    end: datetime | None = Query(default=None, description="period start < (UTC)"),
    scope: list[int] = Query(default=[], description="1, 2 or 3 (repeatable)"),
    site: list[str] = Query(default=[], max_length=1000),
    activity_type: list[str] = Query(default=[], max_length=200),
    category: list[int] = Query(default=[], description="GHG Protocol Scope 3 category (repeatable)"),
    org: str | None = Query(default=None, max_length=64),
    method: queries.Method = Query(default="location", description="scope 2 method"),
) -> queries.Filters:
    bad = [s for s in scope if s not in (1, 2, 3)]
    if bad:
        raise Unprocessable(f"scope must be 1, 2 or 3, not {bad[0]}", field="scope")
    bad = [c for c in category if not 1 <= c <= 15]
    if bad:
        raise Unprocessable(f"category must be a Scope 3 category 1..15, not {bad[0]}", field="category")
    return queries.Filters(version=version, start=start, end=end, scopes=scope, sites=site,
                           activity_types=activity_type, categories=category, org=org, method=method)


FiltersDep = Annotated[queries.Filters, Depends(_filters)]
FormatQ = Query(default="json", description="json, csv or xlsx")


def _groups(group_by: str) -> list[str]:
    return [g.strip() for g in group_by.split(",") if g.strip()]


def _maybe_export(result: dict[str, Any], rows: list[dict[str, Any]], fmt: Format, name: str) -> Any:
    if fmt == "json":
        return result
    meta = {k: v for k, v in result.items() if k != "rows"}
    return frame_response(pd.DataFrame(rows), fmt=fmt, name=name, meta=meta)


@router.get("/totals", summary="Totals grouped by scope, category, site, activity_type, country or org")
def totals(conn: ConnDep, f: FiltersDep, group_by: str = Query(default="scope", max_length=100),
           format: Format = FormatQ) -> Any:
    result = queries.totals(conn, f, _groups(group_by))
    return _maybe_export(result, result["rows"], format, "emissions_totals")


@router.get("/timeseries", summary="Time series by hour, day, week, month, quarter or year (paged: at most "
                                   "100,000 rows per answer)")
def timeseries(request: Request, response: Response, conn: ConnDep, f: FiltersDep,
               interval: queries.Interval = Query(default="month"),
               group_by: str = Query(default="", max_length=100), format: Format = FormatQ,
               limit: int | None = Query(default=None, ge=1, le=MAX_JSON_ROWS, description=LimitQ.description),
               offset: int = OffsetQ) -> Any:
    p = page(limit, offset, paging.cap(format, csv_cap=False))
    result = queries.timeseries(conn, f, interval, _groups(group_by), limit=p.fetch, offset=p.offset)
    next_url = settle(request, p, len(result["rows"]), "the time series")
    result["rows"] = result["rows"][: p.limit]
    if next_url:
        result["next"] = next_url
    response.headers.update(link_header(next_url))
    answer = _maybe_export(result, result["rows"], format, f"emissions_{interval}")
    if isinstance(answer, Response):
        answer.headers.update(link_header(next_url))
    return answer


@router.get("/top", summary="Top contributors with Pareto shares (and change against the previous period)")
def top(conn: ConnDep, f: FiltersDep, by: str = Query(default="site", max_length=20),
        limit: int = Query(default=20, ge=1, le=10_000), format: Format = FormatQ) -> Any:
    result = queries.top(conn, f, by, limit)
    return _maybe_export(result, result["rows"], format, f"top_{by}")


@router.get("/inventory", summary="GHG inventory summary of a year")
def inventory(conn: ConnDep, year: int = Query(ge=1990, le=2100), version: int | None = Query(default=None, ge=1),
              org: str | None = Query(default=None, max_length=64), format: Format = FormatQ) -> Any:
    result = queries.inventory(conn, year, version=version, org=org)
    if format == "json":
        return result
    return frame_response(inventory_frame(result), fmt=format, name=f"ghg_inventory_{year}",
                          meta={k: v for k, v in result.items() if k not in ("scope3_by_category",)})


@router.get("/audit", summary="The trail of a total: rows, factors and arithmetic")
def audit(conn: ConnDep, f: FiltersDep, limit: int = Query(default=100, ge=1, le=10_000),
          offset: int = Query(default=0, ge=0, le=100_000_000), format: Format = FormatQ) -> Any:
    result = queries.audit(conn, f, limit=limit, offset=offset)
    return _maybe_export(result, result["rows"], format, "emissions_audit")



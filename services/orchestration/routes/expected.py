"""``GET /expected``: actual against expected per interval for the dashboard's charts (the data core's
residuals, summed by :func:`services.orchestration.expected.aggregate_residuals`)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from fastapi import Query, Request

from services.common.errors import ServiceUnavailable, Unprocessable
from services.orchestration.expected import Interval, aggregate_residuals, utc_text
from services.orchestration.routes import api_router
from services.orchestration.routes.proxy import send

router = api_router(tags=["dashboard"])


@router.get("/expected", summary="Actual against expected per interval, activity type and unit (for charts)")
async def expected(request: Request, site: list[str] = Query(default=[], max_length=1000),
                   activity_type: list[str] = Query(default=[], max_length=50),
                   start: datetime | None = None, end: datetime | None = None,
                   interval: Interval = "day") -> dict[str, Any]:
    if start and end and utc_text(end) <= utc_text(start):
        raise Unprocessable("end must be after start", field="end")
    params: list[tuple[str, str]] = [("format", "csv")]
    params += [("site", s) for s in site] + [("activity_type", a) for a in activity_type]
    params += [(k, utc_text(v)) for k, v in (("start", start), ("end", end)) if v is not None]
    response = await send(request, "GET", "/api/v1/residuals", params=params)
    try:
        return await asyncio.to_thread(aggregate_residuals, response.content, interval)
    except (ValueError, KeyError, TypeError) as exc:  # pandas/pyarrow parse errors are ValueErrors
        raise ServiceUnavailable(f"the data core's residuals could not be read: {type(exc).__name__}: {exc}",
                                 service="data-core") from exc

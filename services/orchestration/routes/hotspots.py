"""Hotspots for the dashboard (stored by the data core)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Query, Request

from services.common.datacore import seg
from services.orchestration.routes import api_router, state

router = api_router()


@router.get("/hotspots", summary="Hotspots (from the data core)")
async def hotspots(request: Request, status: Literal["open", "closed"] | None = None,
                   site: list[str] = Query(default=[], max_length=1000), kind: list[str] = Query(default=[]),
                   limit: int = Query(default=200, ge=1, le=10_000)) -> Any:
    params: dict[str, Any] = {"site": site, "kind": kind, "limit": limit}
    if status:
        params["status"] = status
    return await state(request).dc.call("GET", "/api/v1/hotspots", params=params)


@router.get("/hotspots/{hotspot_id}", summary="One hotspot with its alert and recommendation")
async def hotspot(hotspot_id: str, request: Request) -> Any:
    return await state(request).dc.call("GET", f"/api/v1/hotspots/{seg(hotspot_id)}")

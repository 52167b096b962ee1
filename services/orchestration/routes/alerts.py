"""Alerts for the dashboard: the list, and acknowledge/resolve (stored by the data core, broadcast on
``/ws/alerts``)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Query, Request

from services.common.auth import WriteAuth
from services.common.contracts import AlertAction, AlertActionName
from services.orchestration.routes import api_router, state

router = api_router()


@router.get("/alerts", summary="Alerts with their hotspots")
async def alerts(request: Request, status: list[Literal["open", "acknowledged", "resolved"]] = Query(default=[]),
                 site: list[str] = Query(default=[], max_length=1000),
                 limit: int = Query(default=200, ge=1, le=10_000)) -> Any:
    return await state(request).dc.call("GET", "/api/v1/alerts", params={"status": status, "site": site,
                                                                          "limit": limit})


async def act(request: Request, alert_id: str, action: AlertActionName, body: AlertAction | None) -> Any:
    s = state(request)
    out = await s.dc.alert_action(alert_id, action, (body or AlertAction()).model_dump())
    s.hub.publish(out["events"])
    return out["alert"]


@router.post("/alerts/{alert_id}/acknowledge", dependencies=[WriteAuth], summary="Acknowledge an alert")
async def acknowledge(alert_id: str, request: Request, body: AlertAction | None = None) -> Any:
    return await act(request, alert_id, "acknowledge", body)


@router.post("/alerts/{alert_id}/resolve", dependencies=[WriteAuth], summary="Resolve an alert")
async def resolve(alert_id: str, request: Request, body: AlertAction | None = None) -> Any:
    return await act(request, alert_id, "resolve", body)

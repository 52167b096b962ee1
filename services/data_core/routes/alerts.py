"""Alerts: raised for hotspots (one per hotspot; a higher severity escalates it), acknowledged and resolved
by people (:mod:`services.data_core.alerting`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from services.common.auth import WriteAuth
from services.common.contracts import AlertAction, AlertIn
from services.data_core import alerting
from services.data_core.deps import ConnDep
from services.data_core.serialisers import alert_dict

router = APIRouter(prefix="/api/v1", tags=["hotspots"])


class AlertsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alerts: list[AlertIn] = Field(max_length=10_000)


@router.put("/alerts", dependencies=[WriteAuth], summary="Raise alerts for hotspots (one per hotspot; idempotent)")
def put_alerts(body: AlertsIn, conn: ConnDep) -> dict[str, Any]:
    return alerting.raise_alerts(conn, body.alerts)


@router.get("/alerts", summary="Alerts, newest first, with their hotspot")
def list_alerts(conn: ConnDep, status: list[alerting.AlertStatus] = Query(default=[]),
                site: list[str] = Query(default=[], max_length=1000),
                limit: int = Query(default=200, ge=1, le=10_000)) -> dict[str, Any]:
    items = alerting.listing(conn, statuses=status, sites=site, limit=limit)
    return {"count": len(items), "alerts": items}


@router.get("/alerts/{alert_id}", summary="One alert with its hotspot")
def get_alert(alert_id: str, conn: ConnDep) -> dict[str, Any]:
    row, hotspot = alerting.with_hotspot(conn, alert_id)
    return alert_dict(row, hotspot)


@router.post("/alerts/{alert_id}/acknowledge", dependencies=[WriteAuth], summary="Acknowledge an alert")
def acknowledge(alert_id: str, conn: ConnDep, body: AlertAction | None = None) -> dict[str, Any]:
    return alerting.transition(conn, alert_id, "acknowledged", body or AlertAction())


@router.post("/alerts/{alert_id}/resolve", dependencies=[WriteAuth], summary="Resolve an alert")
def resolve(alert_id: str, conn: ConnDep, body: AlertAction | None = None) -> dict[str, Any]:
    return alerting.transition(conn, alert_id, "resolved", body or AlertAction())

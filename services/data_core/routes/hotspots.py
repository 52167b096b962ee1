"""Hotspots: the system of record behind the orchestration engine.

``POST /hotspots/sync`` stores what a scan found (episodes continued rather than raised again, missing ones
closed, new ones queued for a recommendation; :mod:`services.data_core.episodes`) and, with ``alert_rules``,
raises the alerts the rules call for in the same transaction (:mod:`services.data_core.alerting`). The
answer carries the channel envelopes, which the orchestration engine broadcasts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from services.common.alert_rules import AlertRules
from services.common.auth import WriteAuth
from services.common.contracts import HotspotIn, Kind, ScanScope
from services.data_core import alerting, episodes, recommending, references
from services.data_core.deps import ConnDep
from services.data_core.serialisers import hotspot_dict

router = APIRouter(prefix="/api/v1", tags=["hotspots"])


class SyncIn(BaseModel):
    """A scan's findings, as the orchestration engine sends them to the data core."""

    model_config = ConfigDict(extra="forbid")
    scan_id: str | None = Field(default=None, max_length=100)
    scope: ScanScope = Field(default_factory=ScanScope)
    hotspots: list[HotspotIn] = Field(default_factory=list, max_length=10_000)
    alert_rules: AlertRules | None = Field(default=None, description="raise the alerts these rules call for, in "
                                                                     "the same transaction")


@router.post("/hotspots/sync", dependencies=[WriteAuth], summary="Store a scan's hotspots (idempotent)")
def sync_hotspots(body: SyncIn, conn: ConnDep) -> dict[str, Any]:
    episodes.lock(conn, alerts=body.alert_rules is not None)
    results, envelopes = episodes.sync(conn, body.hotspots, body.scope)
    alerts = alerting.raise_for_sync(conn, body.alert_rules, results)
    return {"scan_id": body.scan_id, "results": results, "events": envelopes, "alerts": alerts,
            "counts": episodes.counts(results)}


@router.get("/hotspots", summary="Hotspots, newest first")
def list_hotspots(conn: ConnDep, status: Literal["open", "closed"] | None = None,
                  site: list[str] = Query(default=[], max_length=1000), kind: list[Kind] = Query(default=[]),
                  since: datetime | None = None, limit: int = Query(default=200, ge=1, le=10_000)) -> dict[str, Any]:
    items = episodes.listing(conn, status=status, sites=site, kinds=kind, since=since, limit=limit)
    return {"count": len(items), "hotspots": items}


@router.get("/hotspots/verdicts", summary="People's verdicts on hotspots, counted (false alarms per kind, rule)")
def hotspot_verdicts(conn: ConnDep, since: datetime | None = None) -> dict[str, Any]:
    return references.verdict_counts(conn, since)


@router.get("/hotspots/{hotspot_id}", summary="One hotspot with its alert, recommendation and verdict")
def get_hotspot(hotspot_id: str, conn: ConnDep) -> dict[str, Any]:
    row = episodes.get(conn, hotspot_id)
    return {**hotspot_dict(row), "alert": alerting.of_hotspot(conn, hotspot_id),
            "recommendation": recommending.of_hotspot(conn, hotspot_id),
            "verdict": references.verdict_of(conn, hotspot_id)}


@router.post("/hotspots/{hotspot_id}/verdict", dependencies=[WriteAuth],
             summary="Mark a hotspot a false alarm, a confirmed fault or the new normal (asks for a re-baseline)")
def mark_hotspot(hotspot_id: str, body: references.VerdictIn, conn: ConnDep) -> dict[str, Any]:
    return references.mark(conn, hotspot_id, body, _now())


class BaselinesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    baselines: list[references.BaselineIn] = Field(max_length=10_000)


@router.put("/reference-baselines", dependencies=[WriteAuth],
            summary="Store (replace) the reference baselines of series: an explicit (re-)baseline")
def put_reference_baselines(body: BaselinesIn, conn: ConnDep) -> dict[str, Any]:
    return {"stored": references.put_baselines(conn, body.baselines, _now())}


@router.get("/reference-baselines", summary="The reference baselines of sites (all when no site is named)")
def get_reference_baselines(conn: ConnDep, site: list[str] = Query(default=[], max_length=1000)) -> dict[str, Any]:
    items = references.baselines(conn, site)
    return {"count": len(items), "baselines": items}


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)

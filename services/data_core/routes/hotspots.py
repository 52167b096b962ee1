"""Hotspots, alerts and recommendations: the system of record behind the orchestration engine.

* ``POST /hotspots/sync`` stores what a scan found. A hotspot that continues or overlaps an episode already
  stored updates it (``revision`` + 1 when something changed) instead of being raised again; with
  ``scope.close_missing`` the open hotspots of the scanned sites and kinds that the scan no longer finds
  are closed. New hotspots get a pending recommendation request in the same transaction.
* ``PUT /alerts`` raises alerts for hotspots (one per hotspot; a higher severity updates it); people
  acknowledge and resolve them.
* Every change appends its event to the channel log (``streams``) in the same transaction and the answer
  carries the envelopes, which the orchestration engine broadcasts.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Connection, insert, select, update

from services.common.alert_rules import AlertRules
from services.common.auth import WriteAuth
from services.common.errors import Conflict, NotFound, Unprocessable
from services.data_core import streams
from services.data_core.deps import ConnDep
from services.data_core.models import Alert, Hotspot, Recommendation

router = APIRouter(prefix="/api/v1", tags=["hotspots"])

Kind = Literal["above_expected", "spike", "level_shift", "silent_meter", "stuck_meter", "pareto", "growth"]
Severity = Literal["low", "medium", "high", "critical"]
SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
TOUCH = timedelta(hours=1)  # an episode that starts within an hour of another's end continues it


def _naive(value: datetime) -> datetime:
    return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)


def _finite_json(value: Any, name: str) -> None:
    """JSON without NaN or Infinity (PostgreSQL's json refuses them; NaN != NaN would also make every
    re-sent hotspot look changed)."""
    try:
        json.dumps(value, allow_nan=False)
    except ValueError as exc:
        raise ValueError(f"{name} must not contain NaN or Infinity") from exc


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class HotspotIn(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())
    kind: Kind
    site: str = Field(min_length=1, max_length=64)
    meter: str = Field(default="", max_length=120)
    activity_type: str = Field(default="", max_length=80, description="activity type, or category for Pareto")
    period_start: datetime
    period_end: datetime
    ongoing: bool = False
    severity: Severity
    excess_kwh: float = Field(default=0.0, allow_inf_nan=False)
    excess_kg: float | None = Field(default=None, allow_inf_nan=False)
    model_version: str | None = Field(default=None, max_length=40)
    evidence: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _period(self) -> HotspotIn:
        if _naive(self.period_end) <= _naive(self.period_start):
            raise ValueError("period_end must be after period_start")
        _finite_json(self.evidence, "evidence")
        return self


class ScanScope(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sites: list[str] = Field(default_factory=list, max_length=10_000, description="empty = every site")
    kinds: list[Kind] = Field(default_factory=list, description="empty = every kind")
    start: datetime | None = None
    end: datetime | None = None
    close_missing: bool = Field(default=False, description="close open hotspots of this scope the scan did not find")


class SyncIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scan_id: str | None = Field(default=None, max_length=100)
    scope: ScanScope = Field(default_factory=ScanScope)
    hotspots: list[HotspotIn] = Field(default_factory=list, max_length=10_000)
    alert_rules: AlertRules | None = Field(default=None, description="raise the alerts these rules call for, in "
                                                                     "the same transaction")


def hotspot_dict(row: Any) -> dict[str, Any]:
    return {"id": row["id"], "kind": row["kind"], "site": row["site_id"], "meter": row["meter"],
            "activity_type": row["activity_type"], "period_start": streams.utc_iso(row["period_start"]),
            "period_end": streams.utc_iso(row["period_end"]), "status": row["status"], "severity": row["severity"],
            "excess_kwh": row["excess_kwh"], "excess_kg": row["excess_kg"], "model_version": row["model_version"],
            "evidence": row["evidence"], "revision": row["revision"],
            "first_seen_at": streams.utc_iso(row["first_seen_at"]), "updated_at": streams.utc_iso(row["updated_at"]),
            "closed_at": streams.utc_iso(row["closed_at"])}


def _same_episode(row: Any, h: HotspotIn) -> bool:
    return (row["kind"] == h.kind and row["site_id"] == h.site and row["meter"] == h.meter
            and row["activity_type"] == h.activity_type
            and row["period_start"] <= _naive(h.period_end) and row["period_end"] + TOUCH >= _naive(h.period_start))


@router.post("/hotspots/sync", dependencies=[WriteAuth], summary="Store a scan's hotspots (idempotent)")
def sync_hotspots(body: SyncIn, conn: ConnDep) -> dict[str, Any]:
    streams.lock(conn, "hotspots")  # concurrent scans of the same site must not both create an episode
    if body.alert_rules is not None:
        streams.lock(conn, "alerts")  # always hotspots, then alerts: no lock-order deadlock
    t = Hotspot.__table__.c
    now = _now()
    results: list[dict[str, Any]] = []
    events: list[tuple[str, str, dict[str, Any]]] = []
    matched: set[str] = set()
    if body.hotspots:
        earliest = min(_naive(h.period_start) for h in body.hotspots) - TOUCH
        sites = sorted({h.site for h in body.hotspots})
        candidates = [dict(r) for r in conn.execute(select(Hotspot.__table__).where(
            t.site_id.in_(sites), t.period_end >= earliest).order_by(t.first_seen_at)).mappings()]
    else:
        candidates = []
    for h in body.hotspots:
        status = "open" if h.ongoing else "closed"
        row = next((c for c in candidates if c["id"] not in matched and _same_episode(c, h)), None)
        values = {"period_end": _naive(h.period_end), "status": status, "severity": h.severity,
                  "excess_kwh": h.excess_kwh, "excess_kg": h.excess_kg, "model_version": h.model_version,
                  "evidence": h.evidence}
        if row is None:
            hotspot_id = uuid.uuid4().hex
            new = {"id": hotspot_id, "kind": h.kind, "site_id": h.site, "meter": h.meter,
                   "activity_type": h.activity_type, "period_start": _naive(h.period_start), "revision": 1,
                   "first_seen_at": now, "updated_at": now, "closed_at": None if h.ongoing else now, **values}
            conn.execute(insert(Hotspot.__table__).values(**new))
            conn.execute(insert(Recommendation.__table__).values(hotspot_id=hotspot_id, status="pending",
                                                                 attempts=0, requested_at=now))
            candidates.append(new)
            matched.add(hotspot_id)
            results.append({"id": hotspot_id, "action": "created", "hotspot": hotspot_dict(new)})
            events.append((f"hotspot:{hotspot_id}:1", "hotspot.opened" if h.ongoing else "hotspot.found",
                           hotspot_dict(new)))
            continue
        matched.add(row["id"])
        values["period_start"] = min(row["period_start"], _naive(h.period_start))
        values["period_end"] = max(row["period_end"], _naive(h.period_end))
        if SEVERITY_RANK[row["severity"]] > SEVERITY_RANK[h.severity]:
            values["severity"] = row["severity"]  # an episode keeps the worst severity it reached
        changed = {k: v for k, v in values.items() if row[k] != v}
        if not changed:
            results.append({"id": row["id"], "action": "unchanged", "hotspot": hotspot_dict(row)})
            continue
        revision = row["revision"] + 1
        update_values = {**changed, "revision": revision, "updated_at": now,
                         "closed_at": now if status == "closed" else None}
        conn.execute(update(Hotspot.__table__).where(t.id == row["id"]).values(**update_values))
        row.update(update_values)
        kind = "hotspot.closed" if changed.get("status") == "closed" else "hotspot.updated"
        results.append({"id": row["id"], "action": "closed" if kind == "hotspot.closed" else "updated",
                        "hotspot": hotspot_dict(row)})
        events.append((f"hotspot:{row['id']}:{revision}", kind, hotspot_dict(row)))
    if body.scope.close_missing:
        results.extend(_close_missing(conn, body.scope, matched, events, now))
    envelopes = streams.append(conn, "hotspots", events)
    alerts: dict[str, Any] = {"results": [], "events": []}
    if body.alert_rules is not None:
        # every hotspot still found is evaluated, not only new ones: one alert per hotspot, escalated when
        # its severity rises
        wanted = [AlertIn(**alert) for r in results if r["action"] != "closed"
                  if (alert := body.alert_rules.evaluate(r["hotspot"])) is not None]
        alerts = _raise_alerts(conn, wanted) if wanted else alerts
    return {"scan_id": body.scan_id, "results": results, "events": envelopes, "alerts": alerts,
            "counts": {a: sum(r["action"] == a for r in results)
                       for a in ("created", "updated", "closed", "unchanged")}}


def _close_missing(conn: Connection, scope: ScanScope, matched: set[str],
                   events: list[tuple[str, str, dict[str, Any]]], now: datetime) -> list[dict[str, Any]]:
    t = Hotspot.__table__.c
    clauses: list[Any] = [t.status == "open"]
    if scope.sites:
        clauses.append(t.site_id.in_(scope.sites))
    if scope.kinds:
        clauses.append(t.kind.in_(scope.kinds))
    if scope.start:
        clauses.append(t.period_end > _naive(scope.start))  # only episodes the scan could see
    if scope.end:
        clauses.append(t.period_start < _naive(scope.end))
    out = []
    for row in conn.execute(select(Hotspot.__table__).where(*clauses)).mappings():
        if row["id"] in matched:
            continue
        closed = {**dict(row), "status": "closed", "closed_at": now, "updated_at": now, "revision": row["revision"] + 1}
        conn.execute(update(Hotspot.__table__).where(t.id == row["id"]).values(
            status="closed", closed_at=now, updated_at=now, revision=closed["revision"]))
        out.append({"id": row["id"], "action": "closed", "hotspot": hotspot_dict(closed)})
        events.append((f"hotspot:{row['id']}:{closed['revision']}", "hotspot.closed", hotspot_dict(closed)))
    return out


@router.get("/hotspots", summary="Hotspots, newest first")
def list_hotspots(conn: ConnDep, status: Literal["open", "closed"] | None = None,
                  site: list[str] = Query(default=[], max_length=1000), kind: list[Kind] = Query(default=[]),
                  since: datetime | None = None, limit: int = Query(default=200, ge=1, le=10_000)) -> dict[str, Any]:
    t = Hotspot.__table__.c
    clauses: list[Any] = []
    if status:
        clauses.append(t.status == status)
    if site:
        clauses.append(t.site_id.in_(site))
    if kind:
        clauses.append(t.kind.in_(kind))
    if since:
        clauses.append(t.updated_at >= _naive(since))
    rows = conn.execute(select(Hotspot.__table__).where(*clauses)
                        .order_by(t.updated_at.desc(), t.id).limit(limit)).mappings()
    items = [hotspot_dict(r) for r in rows]
    return {"count": len(items), "hotspots": items}


@router.get("/hotspots/{hotspot_id}", summary="One hotspot with its alert and recommendation")
def get_hotspot(hotspot_id: str, conn: ConnDep) -> dict[str, Any]:
    row = conn.execute(select(Hotspot.__table__).where(Hotspot.__table__.c.id == hotspot_id)).mappings().first()
    if row is None:
        raise NotFound(f"no hotspot {hotspot_id!r}")
    alert = conn.execute(select(Alert.__table__).where(Alert.__table__.c.hotspot_id == hotspot_id)).mappings().first()
    rec = conn.execute(select(Recommendation.__table__)
                       .where(Recommendation.__table__.c.hotspot_id == hotspot_id)).mappings().first()
    return {**hotspot_dict(row), "alert": alert_dict(alert) if alert else None,
            "recommendation": rec_dict(rec) if rec else None}


# ---------------------------------------------------------------- alerts

class AlertIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hotspot_id: str = Field(min_length=1, max_length=32)
    rule: str = Field(min_length=1, max_length=120)
    severity: Severity
    title: str = Field(min_length=1, max_length=300)


class AlertsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alerts: list[AlertIn] = Field(max_length=10_000)


class AlertAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str = Field(default="dashboard", min_length=1, max_length=120)
    note: str | None = Field(default=None, max_length=4000)


def alert_dict(row: Any, hotspot: Any | None = None) -> dict[str, Any]:
    out = {"id": row["id"], "hotspot_id": row["hotspot_id"], "rule": row["rule"], "severity": row["severity"],
           "title": row["title"], "status": row["status"], "created_at": streams.utc_iso(row["created_at"]),
           "updated_at": streams.utc_iso(row["updated_at"]),
           "acknowledged_at": streams.utc_iso(row["acknowledged_at"]), "acknowledged_by": row["acknowledged_by"],
           "resolved_at": streams.utc_iso(row["resolved_at"]), "resolved_by": row["resolved_by"], "note": row["note"]}
    if hotspot is not None:
        out["hotspot"] = hotspot_dict(hotspot)
    return out


def _alert_with_hotspot(conn: Connection, alert_id: str) -> tuple[Any, Any]:
    a, h = Alert.__table__.c, Hotspot.__table__.c
    row = conn.execute(select(Alert.__table__).where(a.id == alert_id)).mappings().first()
    if row is None:
        raise NotFound(f"no alert {alert_id!r}")
    hotspot = conn.execute(select(Hotspot.__table__).where(h.id == row["hotspot_id"])).mappings().first()
    return row, hotspot


@router.put("/alerts", dependencies=[WriteAuth], summary="Raise alerts for hotspots (one per hotspot; idempotent)")
def put_alerts(body: AlertsIn, conn: ConnDep) -> dict[str, Any]:
    return _raise_alerts(conn, body.alerts)


def _raise_alerts(conn: Connection, items: list[AlertIn]) -> dict[str, Any]:
    streams.lock(conn, "alerts")  # one alert per hotspot even when two requests race
    a, h = Alert.__table__.c, Hotspot.__table__.c
    ids = [x.hotspot_id for x in items]
    hotspots = {r["id"]: r for r in conn.execute(select(Hotspot.__table__).where(h.id.in_(ids))).mappings()}
    missing = [i for i in ids if i not in hotspots]
    if missing:
        raise Unprocessable(f"unknown hotspot ids: {missing[:10]}", field="hotspot_id")
    existing = {r["hotspot_id"]: dict(r) for r in conn.execute(select(Alert.__table__).where(a.hotspot_id.in_(ids))).mappings()}
    now = _now()
    results, events = [], []
    for item in items:
        row = existing.get(item.hotspot_id)
        if row is None:
            new = {"id": uuid.uuid4().hex, "hotspot_id": item.hotspot_id, "rule": item.rule, "severity": item.severity,
                   "title": item.title, "status": "open", "created_at": now, "updated_at": now,
                   "acknowledged_at": None, "acknowledged_by": None, "resolved_at": None, "resolved_by": None,
                   "note": None}
            conn.execute(insert(Alert.__table__).values(**new))
            existing[item.hotspot_id] = new
            payload = alert_dict(new, hotspots[item.hotspot_id])
            results.append({"id": new["id"], "action": "created", "alert": payload})
            events.append((f"alert:{new['id']}:raised", "alert.raised", payload))
        elif SEVERITY_RANK[item.severity] > SEVERITY_RANK[row["severity"]] and row["status"] != "resolved":
            row.update(severity=item.severity, title=item.title, rule=item.rule, updated_at=now)
            conn.execute(update(Alert.__table__).where(a.id == row["id"]).values(
                severity=item.severity, title=item.title, rule=item.rule, updated_at=now))
            payload = alert_dict(row, hotspots[item.hotspot_id])
            results.append({"id": row["id"], "action": "escalated", "alert": payload})
            events.append((f"alert:{row['id']}:{item.severity}", "alert.escalated", payload))
        else:
            results.append({"id": row["id"], "action": "unchanged", "alert": alert_dict(row)})
    return {"results": results, "events": streams.append(conn, "alerts", events)}


@router.get("/alerts", summary="Alerts, newest first, with their hotspot")
def list_alerts(conn: ConnDep, status: list[Literal["open", "acknowledged", "resolved"]] = Query(default=[]),
                site: list[str] = Query(default=[], max_length=1000),
                limit: int = Query(default=200, ge=1, le=10_000)) -> dict[str, Any]:
    a, h = Alert.__table__.c, Hotspot.__table__.c
    clauses: list[Any] = []
    if status:
        clauses.append(a.status.in_(status))
    if site:
        clauses.append(h.site_id.in_(site))
    rows = conn.execute(select(Alert.__table__, *[c.label(f"h_{c.name}") for c in Hotspot.__table__.c])
                        .join(Hotspot.__table__, h.id == a.hotspot_id).where(*clauses)
                        .order_by(a.created_at.desc(), a.id).limit(limit)).mappings()
    items = []
    for r in rows:
        hotspot = {c.name: r[f"h_{c.name}"] for c in Hotspot.__table__.c}
        items.append(alert_dict(r, hotspot))
    return {"count": len(items), "alerts": items}


@router.get("/alerts/{alert_id}", summary="One alert with its hotspot")
def get_alert(alert_id: str, conn: ConnDep) -> dict[str, Any]:
    row, hotspot = _alert_with_hotspot(conn, alert_id)
    return alert_dict(row, hotspot)


def _transition(conn: Connection, alert_id: str, target: Literal["acknowledged", "resolved"],
                action: AlertAction) -> dict[str, Any]:
    streams.lock(conn, "alerts")
    row, hotspot = _alert_with_hotspot(conn, alert_id)
    row = dict(row)
    if row["status"] == target:  # idempotent: doing it again changes nothing
        return {"alert": alert_dict(row, hotspot), "events": []}
    if row["status"] == "resolved":
        raise Conflict(f"alert {alert_id} is resolved; it cannot be {target}", status_now=row["status"])
    now = _now()
    values: dict[str, Any] = {"status": target, "updated_at": now}
    if target == "acknowledged":
        values.update(acknowledged_at=now, acknowledged_by=action.by)
    else:
        values.update(resolved_at=now, resolved_by=action.by)
    if action.note:
        values["note"] = action.note
    conn.execute(update(Alert.__table__).where(Alert.__table__.c.id == alert_id).values(**values))
    row.update(values)
    payload = alert_dict(row, hotspot)
    events = streams.append(conn, "alerts", [(f"alert:{alert_id}:{target}", f"alert.{target}", payload)])
    return {"alert": payload, "events": events}


@router.post("/alerts/{alert_id}/acknowledge", dependencies=[WriteAuth], summary="Acknowledge an alert")
def acknowledge(alert_id: str, conn: ConnDep, body: AlertAction | None = None) -> dict[str, Any]:
    return _transition(conn, alert_id, "acknowledged", body or AlertAction())


@router.post("/alerts/{alert_id}/resolve", dependencies=[WriteAuth], summary="Resolve an alert")
def resolve(alert_id: str, conn: ConnDep, body: AlertAction | None = None) -> dict[str, Any]:
    return _transition(conn, alert_id, "resolved", body or AlertAction())


# ---------------------------------------------------------------- recommendations

class RecommendationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["ready", "failed", "pending"]
    content: dict[str, Any] | None = None
    error: str | None = Field(default=None, max_length=4000)

    @model_validator(mode="after")
    def _content(self) -> RecommendationIn:
        if self.status == "ready" and not self.content:
            raise ValueError("a ready recommendation needs content")
        _finite_json(self.content, "content")
        return self


def rec_dict(row: Any, hotspot: Any | None = None) -> dict[str, Any]:
    out = {"hotspot_id": row["hotspot_id"], "status": row["status"], "attempts": row["attempts"],
           "last_error": row["last_error"], "requested_at": streams.utc_iso(row["requested_at"]),
           "answered_at": streams.utc_iso(row["answered_at"]), "content": row["content"]}
    if hotspot is not None:
        out["hotspot"] = hotspot_dict(hotspot)
    return out


@router.get("/recommendations", summary="Recommendations (status=pending is the request queue, oldest first)")
def list_recommendations(conn: ConnDep, status: Literal["pending", "ready", "failed"] | None = None,
                         hotspot_id: list[str] = Query(default=[], max_length=1000),
                         limit: int = Query(default=200, ge=1, le=10_000)) -> dict[str, Any]:
    r, h = Recommendation.__table__.c, Hotspot.__table__.c
    clauses: list[Any] = []
    if status:
        clauses.append(r.status == status)
    if hotspot_id:
        clauses.append(r.hotspot_id.in_(hotspot_id))
    order = r.requested_at.asc() if status == "pending" else r.requested_at.desc()
    rows = conn.execute(select(Recommendation.__table__, *[c.label(f"h_{c.name}") for c in Hotspot.__table__.c])
                        .join(Hotspot.__table__, h.id == r.hotspot_id).where(*clauses)
                        .order_by(order, r.hotspot_id).limit(limit)).mappings()
    items = [rec_dict(x, {c.name: x[f"h_{c.name}"] for c in Hotspot.__table__.c}) for x in rows]
    return {"count": len(items), "recommendations": items}


@router.put("/recommendations/{hotspot_id}", dependencies=[WriteAuth],
            summary="Store the chatbot's answer for a hotspot (or a failed attempt)")
def put_recommendation(hotspot_id: str, body: RecommendationIn, conn: ConnDep) -> dict[str, Any]:
    streams.lock(conn, "recs")
    r = Recommendation.__table__.c
    row = conn.execute(select(Recommendation.__table__).where(r.hotspot_id == hotspot_id)).mappings().first()
    if row is None:
        raise NotFound(f"no recommendation request for hotspot {hotspot_id!r}")
    row = dict(row)
    if row["status"] == "ready" and body.status == "ready" and row["content"] == body.content:
        return {"recommendation": rec_dict(row), "events": []}
    now = _now()
    values: dict[str, Any] = {"status": body.status, "attempts": row["attempts"] + 1, "last_error": body.error}
    if body.status != "pending":
        values["answered_at"] = now
    if body.content is not None:
        values["content"] = body.content
    conn.execute(update(Recommendation.__table__).where(r.hotspot_id == hotspot_id).values(**values))
    row.update(values)
    events = []
    if body.status == "ready":
        hotspot = conn.execute(select(Hotspot.__table__).where(Hotspot.__table__.c.id == hotspot_id)).mappings().first()
        payload = rec_dict(row, hotspot)
        events = streams.append(conn, "recs", [(f"rec:{hotspot_id}:{row['attempts']}", "rec.ready", payload)])
    return {"recommendation": rec_dict(row), "events": events}


# ---------------------------------------------------------------- the channel log

@router.get("/streams/{channel}", summary="The event log of a WebSocket channel (after a seq, or the newest)")
def read_stream(channel: Literal["hotspots", "alerts", "recs"], conn: ConnDep, after: int | None = Query(default=None, ge=0),
                limit: int = Query(default=1000, ge=1, le=10_000)) -> dict[str, Any]:
    return streams.read(conn, channel, after=after, limit=limit)


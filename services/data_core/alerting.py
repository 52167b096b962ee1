"""Alerts: raised for hotspots (one per hotspot; a higher severity escalates it), acknowledged and resolved
by people. The alert rules (:class:`services.common.alert_rules.AlertRules`) are evaluated here and nowhere
else. Every change appends its event to the ``alerts`` channel log in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, insert, select, update

from services.common.alert_rules import AlertRules
from services.common.contracts import SEVERITY_RANK, AlertAction, AlertIn
from services.common.errors import Conflict, NotFound, Unprocessable
from services.data_core import streams
from services.data_core.models import Alert, Hotspot
from services.data_core.serialisers import alert_dict, hotspot_columns, joined_hotspot

Target = Literal["acknowledged", "resolved"]
AlertStatus = Literal["open", "acknowledged", "resolved"]


def none_raised() -> dict[str, Any]:
    return {"results": [], "events": []}


def alerts_for(rules: AlertRules, hotspots: Iterable[dict[str, Any]]) -> list[AlertIn]:
    """The alerts ``rules`` call for among ``hotspots`` (as the API answers them)."""
    return [AlertIn(**alert) for h in hotspots if (alert := rules.evaluate(h)) is not None]


def raise_for_sync(conn: Connection, rules: AlertRules | None, results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Raise the alerts ``rules`` call for among a sync's results. Every hotspot still found is evaluated,
    not only new ones: one alert per hotspot, escalated when its severity rises."""
    if rules is None:
        return none_raised()
    wanted = alerts_for(rules, (r["hotspot"] for r in results if r["action"] != "closed"))
    return raise_alerts(conn, wanted) if wanted else none_raised()


def escalates(row: Any, item: AlertIn) -> bool:
    """Whether ``item`` escalates the stored alert ``row`` (a higher severity, not yet resolved)."""
    return SEVERITY_RANK[item.severity] > SEVERITY_RANK[row["severity"]] and row["status"] != "resolved"


def new_alert(item: AlertIn, now: datetime) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex, "hotspot_id": item.hotspot_id, "rule": item.rule, "severity": item.severity,
            "title": item.title, "status": "open", "created_at": now, "updated_at": now,
            "acknowledged_at": None, "acknowledged_by": None, "resolved_at": None, "resolved_by": None, "note": None}


def raise_alerts(conn: Connection, items: Sequence[AlertIn], now: datetime | None = None) -> dict[str, Any]:
    """Raise (or escalate) an alert per item; unknown hotspot ids are Unprocessable. Idempotent."""
    streams.lock(conn, "alerts")  # one alert per hotspot even when two requests race
    a, h = Alert.__table__.c, Hotspot.__table__.c
    ids = [x.hotspot_id for x in items]
    hotspots = {r["id"]: r for r in conn.execute(select(Hotspot.__table__).where(h.id.in_(ids))).mappings()}
    missing = [i for i in ids if i not in hotspots]
    if missing:
        raise Unprocessable(f"unknown hotspot ids: {missing[:10]}", field="hotspot_id")
    existing = {r["hotspot_id"]: dict(r)
                for r in conn.execute(select(Alert.__table__).where(a.hotspot_id.in_(ids))).mappings()}
    now = now or streams.utc_now()
    results, events = [], []
    for item in items:
        row = existing.get(item.hotspot_id)
        if row is None:
            new = new_alert(item, now)
            conn.execute(insert(Alert).values(**new))
            existing[item.hotspot_id] = new
            payload = alert_dict(new, hotspots[item.hotspot_id])
            results.append({"id": new["id"], "action": "created", "alert": payload})
            events.append((f"alert:{new['id']}:raised", "alert.raised", payload))
        elif escalates(row, item):
            values = {"severity": item.severity, "title": item.title, "rule": item.rule, "updated_at": now}
            row.update(values)
            conn.execute(update(Alert).where(a.id == row["id"]).values(**values))
            payload = alert_dict(row, hotspots[item.hotspot_id])
            results.append({"id": row["id"], "action": "escalated", "alert": payload})
            events.append((f"alert:{row['id']}:{item.severity}", "alert.escalated", payload))
        else:
            results.append({"id": row["id"], "action": "unchanged", "alert": alert_dict(row)})
    return {"results": results, "events": streams.append(conn, "alerts", events)}


def transition_values(row: Any, target: Target, action: AlertAction, now: datetime) -> dict[str, Any] | None:
    """The columns moving the alert ``row`` to ``target`` set: None when it is there already (doing it again
    changes nothing); Conflict when it is resolved."""
    if row["status"] == target:
        return None
    if row["status"] == "resolved":
        raise Conflict(f"alert {row['id']} is resolved; it cannot be {target}", status_now=row["status"])
    values: dict[str, Any] = {"status": target, "updated_at": now}
    if target == "acknowledged":
        values.update(acknowledged_at=now, acknowledged_by=action.by)
    else:
        values.update(resolved_at=now, resolved_by=action.by)
    if action.note:
        values["note"] = action.note
    return values


def transition(conn: Connection, alert_id: str, target: Target, action: AlertAction) -> dict[str, Any]:
    """Acknowledge or resolve an alert: ``{"alert", "events"}``."""
    streams.lock(conn, "alerts")
    stored, hotspot = with_hotspot(conn, alert_id)
    row = dict(stored)
    values = transition_values(row, target, action, streams.utc_now())
    if values is None:
        return {"alert": alert_dict(row, hotspot), "events": []}
    conn.execute(update(Alert).where(Alert.__table__.c.id == alert_id).values(**values))
    row.update(values)
    payload = alert_dict(row, hotspot)
    events = streams.append(conn, "alerts", [(f"alert:{alert_id}:{target}", f"alert.{target}", payload)])
    return {"alert": payload, "events": events}


def with_hotspot(conn: Connection, alert_id: str) -> tuple[Any, Any]:
    """An alert's row and its hotspot's, or NotFound."""
    a, h = Alert.__table__.c, Hotspot.__table__.c
    row = conn.execute(select(Alert.__table__).where(a.id == alert_id)).mappings().first()
    if row is None:
        raise NotFound(f"no alert {alert_id!r}")
    hotspot = conn.execute(select(Hotspot.__table__).where(h.id == row["hotspot_id"])).mappings().first()
    return row, hotspot


def of_hotspot(conn: Connection, hotspot_id: str) -> dict[str, Any] | None:
    """A hotspot's alert (without the hotspot), or None."""
    row = conn.execute(select(Alert.__table__).where(Alert.__table__.c.hotspot_id == hotspot_id)).mappings().first()
    return alert_dict(row) if row else None


def listing(conn: Connection, *, statuses: Sequence[AlertStatus], sites: Sequence[str],
            limit: int) -> list[dict[str, Any]]:
    """Alerts with their hotspot, newest first."""
    a, h = Alert.__table__.c, Hotspot.__table__.c
    clauses: list[Any] = []
    if statuses:
        clauses.append(a.status.in_(statuses))
    if sites:
        clauses.append(h.site_id.in_(sites))
    rows = conn.execute(select(Alert.__table__, *hotspot_columns())
                        .join(Hotspot.__table__, h.id == a.hotspot_id).where(*clauses)
                        .order_by(a.created_at.desc(), a.id).limit(limit)).mappings()
    return [alert_dict(r, joined_hotspot(r)) for r in rows]

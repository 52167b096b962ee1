"""Hotspot episodes: what a scan's findings do to the stored hotspots.

A finding that continues or overlaps a stored episode (same kind, site, meter and activity type, starting
at most ``TOUCH`` after the episode's end) updates it, ``revision`` + 1 when something changed, instead of
being raised again; an episode keeps the worst severity it reached. A new episode gets a pending
recommendation request in the same transaction. With ``scope.close_missing`` the open hotspots of the
scanned sites and kinds that the scan no longer finds are closed. Every change appends its event to the
``hotspots`` channel log (:mod:`services.data_core.streams`) in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, insert, select, update

from services.common.contracts import SEVERITY_RANK, HotspotIn, Kind, ScanScope, naive_utc
from services.common.errors import NotFound
from services.data_core import recommending, streams
from services.data_core.models import Hotspot
from services.data_core.serialisers import hotspot_dict

TOUCH = timedelta(hours=1)  # an episode that starts within an hour of another's end continues it
ACTIONS = ("created", "updated", "closed", "unchanged")

Event = tuple[str, str, dict[str, Any]]


def same_episode(row: Any, h: HotspotIn) -> bool:
    """Whether the finding ``h`` is (a continuation of) the stored episode ``row``."""
    return (row["kind"] == h.kind and row["site_id"] == h.site and row["meter"] == h.meter
            and row["activity_type"] == h.activity_type
            and row["period_start"] <= naive_utc(h.period_end)
            and row["period_end"] + TOUCH >= naive_utc(h.period_start))


def found_values(h: HotspotIn) -> dict[str, Any]:
    """The columns a finding sets on its episode, new or continued."""
    return {"period_end": naive_utc(h.period_end), "status": "open" if h.ongoing else "closed",
            "severity": h.severity, "excess_kwh": h.excess_kwh, "excess_kg": h.excess_kg,
            "model_version": h.model_version, "evidence": h.evidence}


def new_episode(h: HotspotIn, now: datetime) -> dict[str, Any]:
    """The row of a finding that continues no stored episode."""
    return {"id": uuid.uuid4().hex, "kind": h.kind, "site_id": h.site, "meter": h.meter,
            "activity_type": h.activity_type, "period_start": naive_utc(h.period_start), "revision": 1,
            "first_seen_at": now, "updated_at": now, "closed_at": None if h.ongoing else now, **found_values(h)}


def changes(row: Any, h: HotspotIn) -> dict[str, Any]:
    """What the finding ``h`` changes on its stored episode ``row`` (empty: nothing). The period only
    grows and the severity never falls."""
    values = found_values(h)
    values["period_start"] = min(row["period_start"], naive_utc(h.period_start))
    values["period_end"] = max(row["period_end"], values["period_end"])
    if SEVERITY_RANK[row["severity"]] > SEVERITY_RANK[h.severity]:
        values["severity"] = row["severity"]  # an episode keeps the worst severity it reached
    return {k: v for k, v in values.items() if row[k] != v}


def lock(conn: Connection, *, alerts: bool) -> None:
    """Serialise a sync with other writers: concurrent scans of one site must not both create an episode.
    Always hotspots, then alerts: no lock-order deadlock."""
    streams.lock(conn, "hotspots")
    if alerts:
        streams.lock(conn, "alerts")


def _candidates(conn: Connection, hotspots: Sequence[HotspotIn]) -> list[dict[str, Any]]:
    """Stored episodes the findings could continue, oldest first."""
    if not hotspots:
        return []
    t = Hotspot.__table__.c
    earliest = min(naive_utc(h.period_start) for h in hotspots) - TOUCH
    sites = sorted({h.site for h in hotspots})
    return [dict(r) for r in conn.execute(select(Hotspot.__table__).where(
        t.site_id.in_(sites), t.period_end >= earliest).order_by(t.first_seen_at)).mappings()]


def sync(conn: Connection, hotspots: Sequence[HotspotIn], scope: ScanScope,
         now: datetime | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Store a scan's findings: ``(results, envelopes)``, a result per finding (and per episode closed
    as missing) with its action, and the channel events appended. The caller holds :func:`lock`."""
    now = now or streams.utc_now()
    t = Hotspot.__table__.c
    candidates = _candidates(conn, hotspots)
    results: list[dict[str, Any]] = []
    events: list[Event] = []
    matched: set[str] = set()
    for h in hotspots:
        row = next((c for c in candidates if c["id"] not in matched and same_episode(c, h)), None)
        if row is None:
            new = new_episode(h, now)
            conn.execute(insert(Hotspot).values(**new))
            recommending.request(conn, new["id"], now)
            candidates.append(new)
            matched.add(new["id"])
            results.append({"id": new["id"], "action": "created", "hotspot": hotspot_dict(new)})
            events.append((f"hotspot:{new['id']}:1", "hotspot.opened" if h.ongoing else "hotspot.found",
                           hotspot_dict(new)))
            continue
        matched.add(row["id"])
        changed = changes(row, h)
        if not changed:
            results.append({"id": row["id"], "action": "unchanged", "hotspot": hotspot_dict(row)})
            continue
        revision = row["revision"] + 1
        closing = not h.ongoing
        update_values = {**changed, "revision": revision, "updated_at": now, "closed_at": now if closing else None}
        conn.execute(update(Hotspot).where(t.id == row["id"]).values(**update_values))
        row.update(update_values)
        kind = "hotspot.closed" if changed.get("status") == "closed" else "hotspot.updated"
        results.append({"id": row["id"], "action": "closed" if kind == "hotspot.closed" else "updated",
                        "hotspot": hotspot_dict(row)})
        events.append((f"hotspot:{row['id']}:{revision}", kind, hotspot_dict(row)))
    if scope.close_missing:
        results.extend(close_missing(conn, scope, matched, events, now))
    return results, streams.append(conn, "hotspots", events)


def close_missing(conn: Connection, scope: ScanScope, matched: set[str], events: list[Event],
                  now: datetime) -> list[dict[str, Any]]:
    """Close the open episodes of ``scope`` that the scan did not find (not in ``matched``); their events
    are added to ``events``."""
    t = Hotspot.__table__.c
    clauses: list[Any] = [t.status == "open"]
    if scope.sites:
        clauses.append(t.site_id.in_(scope.sites))
    if scope.kinds:
        clauses.append(t.kind.in_(scope.kinds))
    if scope.start:
        clauses.append(t.period_end > naive_utc(scope.start))  # only episodes the scan could see
    if scope.end:
        clauses.append(t.period_start < naive_utc(scope.end))
    out = []
    for row in conn.execute(select(Hotspot.__table__).where(*clauses)).mappings():
        if row["id"] in matched:
            continue
        closed = {**dict(row), "status": "closed", "closed_at": now, "updated_at": now, "revision": row["revision"] + 1}
        conn.execute(update(Hotspot).where(t.id == row["id"]).values(
            status="closed", closed_at=now, updated_at=now, revision=closed["revision"]))
        out.append({"id": row["id"], "action": "closed", "hotspot": hotspot_dict(closed)})
        events.append((f"hotspot:{row['id']}:{closed['revision']}", "hotspot.closed", hotspot_dict(closed)))
    return out


def counts(results: Sequence[dict[str, Any]]) -> dict[str, int]:
    return {a: sum(r["action"] == a for r in results) for a in ACTIONS}


def listing(conn: Connection, *, status: Literal["open", "closed"] | None, sites: Sequence[str],
            kinds: Sequence[Kind], since: datetime | None, limit: int) -> list[dict[str, Any]]:
    """Hotspots, most recently updated first."""
    t = Hotspot.__table__.c
    clauses: list[Any] = []
    if status:
        clauses.append(t.status == status)
    if sites:
        clauses.append(t.site_id.in_(sites))
    if kinds:
        clauses.append(t.kind.in_(kinds))
    if since:
        clauses.append(t.updated_at >= naive_utc(since))
    rows = conn.execute(select(Hotspot.__table__).where(*clauses)
                        .order_by(t.updated_at.desc(), t.id).limit(limit)).mappings()
    return [hotspot_dict(r) for r in rows]


def find(conn: Connection, hotspot_id: str) -> Any | None:
    """The stored row of a hotspot, or None."""
    return conn.execute(select(Hotspot.__table__).where(Hotspot.__table__.c.id == hotspot_id)).mappings().first()


def get(conn: Connection, hotspot_id: str) -> Any:
    """The stored row of a hotspot, or NotFound."""
    row = find(conn, hotspot_id)
    if row is None:
        raise NotFound(f"no hotspot {hotspot_id!r}")
    return row

"""Recommendations: a pending request is queued with each new hotspot (in the same transaction, so a request
made while the chatbot is down is not lost); the chatbot's answer, or a failed attempt, is stored against it.
A ready answer appends ``rec.ready`` to the ``recs`` channel log in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, insert, select, update

from services.common.contracts import RecommendationIn
from services.common.errors import NotFound
from services.data_core import streams
from services.data_core.models import Hotspot, Recommendation
from services.data_core.serialisers import hotspot_columns, joined_hotspot, rec_dict

RecStatus = Literal["pending", "ready", "failed"]


def request(conn: Connection, hotspot_id: str, now: datetime) -> None:
    """Queue a pending recommendation request for a new hotspot."""
    conn.execute(insert(Recommendation).values(hotspot_id=hotspot_id, status="pending", attempts=0,
                                                         requested_at=now))


def answer_values(row: Any, body: RecommendationIn, now: datetime) -> dict[str, Any] | None:
    """The columns an answer sets on the stored request ``row``: None when it repeats the ready answer
    already stored. Every other answer counts as an attempt."""
    if row["status"] == "ready" and body.status == "ready" and row["content"] == body.content:
        return None
    values: dict[str, Any] = {"status": body.status, "attempts": row["attempts"] + 1, "last_error": body.error}
    if body.status != "pending":
        values["answered_at"] = now
    if body.content is not None:
        values["content"] = body.content
    return values


def store(conn: Connection, hotspot_id: str, body: RecommendationIn) -> dict[str, Any]:
    """Store an answer for a hotspot's request: ``{"recommendation", "events"}``; NotFound without a request."""
    streams.lock(conn, "recs")
    r = Recommendation.__table__.c
    stored = conn.execute(select(Recommendation.__table__).where(r.hotspot_id == hotspot_id)).mappings().first()
    if stored is None:
        raise NotFound(f"no recommendation request for hotspot {hotspot_id!r}")
    row = dict(stored)
    values = answer_values(row, body, streams.utc_now())
    if values is None:
        return {"recommendation": rec_dict(row), "events": []}
    conn.execute(update(Recommendation).where(r.hotspot_id == hotspot_id).values(**values))
    row.update(values)
    events: list[dict[str, Any]] = []
    if body.status == "ready":
        hotspot = conn.execute(select(Hotspot.__table__).where(Hotspot.__table__.c.id == hotspot_id)).mappings().first()
        payload = rec_dict(row, hotspot)
        events = streams.append(conn, "recs", [(f"rec:{hotspot_id}:{row['attempts']}", "rec.ready", payload)])
    return {"recommendation": rec_dict(row), "events": events}


def of_hotspot(conn: Connection, hotspot_id: str) -> dict[str, Any] | None:
    """A hotspot's recommendation (without the hotspot), or None."""
    row = conn.execute(select(Recommendation.__table__)
                       .where(Recommendation.__table__.c.hotspot_id == hotspot_id)).mappings().first()
    return rec_dict(row) if row else None


def listing(conn: Connection, *, status: RecStatus | None, hotspot_ids: Sequence[str],
            limit: int) -> list[dict[str, Any]]:
    """Recommendations with their hotspot; the pending ones (the request queue) oldest first, else newest."""
    r, h = Recommendation.__table__.c, Hotspot.__table__.c
    clauses: list[Any] = []
    if status:
        clauses.append(r.status == status)
    if hotspot_ids:
        clauses.append(r.hotspot_id.in_(hotspot_ids))
    order = r.requested_at.asc() if status == "pending" else r.requested_at.desc()
    rows = conn.execute(select(Recommendation.__table__, *hotspot_columns())
                        .join(Hotspot.__table__, h.id == r.hotspot_id).where(*clauses)
                        .order_by(order, r.hotspot_id).limit(limit)).mappings()
    return [rec_dict(x, joined_hotspot(x)) for x in rows]

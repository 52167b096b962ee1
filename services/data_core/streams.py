"""The durable event log behind the orchestration engine's WebSocket channels.

A change (a hotspot opened, an alert acknowledged, a recommendation ready) and the event announcing it
are written in one transaction; ``seq`` rises by one per channel under a row lock on ``streams``, so two
writers never take the same number. Event ids are unique: appending an id that exists returns nothing
new, which makes every producer idempotent.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from services.common.contracts import CHANNELS, naive_utc
from services.data_core.models import Stream, StreamEvent


def utc_now() -> datetime:
    """Now as a naive UTC datetime (how the data core stores times)."""
    return datetime.now(UTC).replace(tzinfo=None)


def utc_iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return naive_utc(value).isoformat(timespec="seconds") + "Z"


def _stream(conn: Connection, channel: str, *, lock: bool = True) -> tuple[str, int]:
    """(epoch, last_seq) of a channel (migration 0003 creates the rows). With ``lock`` the caller holds the
    channel until its transaction ends: writers of a channel are serialised, so what they read before
    writing (stored episodes, alerts) cannot change under them, and seq order is commit order."""
    t = Stream.__table__.c
    stmt = select(t.epoch, t.last_seq).where(t.channel == channel)
    if lock:  # a no-op write takes the row lock (PostgreSQL) or the database write lock (SQLite) until commit
        conn.execute(update(Stream).where(t.channel == channel).values(last_seq=t.last_seq))
    row = conn.execute(stmt).first()
    if row is None:
        conn.execute(insert(Stream).values(channel=channel, epoch=uuid.uuid4().hex, last_seq=0))
        row = conn.execute(stmt).first()
    assert row is not None
    return str(row.epoch), int(row.last_seq)


def append(conn: Connection, channel: str, events: Sequence[tuple[str, str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Append ``(id, type, payload)`` events to a channel; returns the new envelopes (ids already in the
    log are skipped)."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if not events:
        return []
    epoch, last = _stream(conn, channel)
    e = StreamEvent.__table__.c
    ids = [event_id for event_id, _, _ in events]
    known = set(conn.execute(select(e.id).where(e.id.in_(ids))).scalars())
    fresh, seen = [], set()
    for event in events:
        if event[0] not in known and event[0] not in seen:
            fresh.append(event)
            seen.add(event[0])
    if not fresh:
        return []
    now = utc_now()
    rows = [{"channel": channel, "seq": last + i, "id": event_id, "type": kind, "ts": now, "payload": payload}
            for i, (event_id, kind, payload) in enumerate(fresh, start=1)]
    conn.execute(insert(StreamEvent), rows)
    conn.execute(update(Stream).where(Stream.__table__.c.channel == channel)
                 .values(last_seq=last + len(fresh)))
    return [envelope(r, epoch) for r in rows]


def envelope(row: Any, epoch: str) -> dict[str, Any]:
    return {"channel": row["channel"], "seq": int(row["seq"]), "epoch": epoch, "id": row["id"],
            "type": row["type"], "ts": utc_iso(row["ts"]), "payload": row["payload"]}


def read(conn: Connection, channel: str, *, after: int | None, limit: int) -> dict[str, Any]:
    """Events with ``seq > after`` (oldest first), or the newest ``limit`` when ``after`` is None."""
    epoch, last = _stream(conn, channel, lock=False)
    e = StreamEvent.__table__.c
    stmt = select(StreamEvent.__table__).where(e.channel == channel)
    if after is None:
        rows = list(conn.execute(stmt.order_by(e.seq.desc()).limit(limit)).mappings())[::-1]
    else:
        rows = list(conn.execute(stmt.where(e.seq > after).order_by(e.seq).limit(limit)).mappings())
    return {"channel": channel, "epoch": epoch, "last_seq": last, "events": [envelope(r, epoch) for r in rows]}


def lock(conn: Connection, channel: str) -> None:
    """Serialise this transaction with every other writer of ``channel``: call it before reading what
    the write depends on."""
    _stream(conn, channel, lock=True)

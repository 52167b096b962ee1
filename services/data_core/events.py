"""Transactional outbox: ingestion events are written in the ingest's own transaction and delivered
to ``ORCHESTRATION_URL`` afterwards, retried with backoff until the receiver accepts them. An event
that cannot be delivered is kept, never dropped. Receivers de-duplicate by ``event_id``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, and_, or_, select, update

from services.data_core.models import OutboxEvent

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=30)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Outbox:
    def __init__(self, engine: Engine, *, url: str, token: str, retry_seconds: float, max_backoff_seconds: float,
                 path: str = "/api/v1/events") -> None:
        self.engine = engine
        self.endpoint = url.rstrip("/") + path
        self.token = token
        self.retry_seconds = retry_seconds
        self.max_backoff = max_backoff_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def kick(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=10.0, trust_env=False) as client:
            while True:
                try:
                    await self.deliver_due(client)
                except Exception:  # a broken database or receiver must not kill the loop; it retries
                    log.exception("outbox delivery round failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.retry_seconds)
                self._wake.clear()

    def _claim(self, limit: int = 100) -> list[dict[str, Any]]:
        now = _now()
        t = OutboxEvent.__table__.c
        with self.engine.begin() as conn:
            rows = conn.execute(select(t.id, t.type, t.payload, t.attempts).where(and_(
                t.delivered_at.is_(None), or_(t.next_attempt_at.is_(None), t.next_attempt_at <= now)))
                .order_by(t.created_at, t.id).limit(limit)).mappings().all()
            if rows:  # lease them so another replica does not send them at the same time
                conn.execute(update(OutboxEvent).where(OutboxEvent.id.in_([r["id"] for r in rows]))
                             .values(next_attempt_at=now + LEASE))
        return [dict(r) for r in rows]

    def _mark(self, event_id: str, *, ok: bool, attempts: int, error: str | None) -> None:
        values: dict[str, Any] = {"attempts": attempts + 1, "last_error": error}
        if ok:
            values["delivered_at"] = _now()
        else:
            delay = min(self.retry_seconds * (2 ** attempts), self.max_backoff)
            values["next_attempt_at"] = _now() + timedelta(seconds=delay)
        with self.engine.begin() as conn:
            conn.execute(update(OutboxEvent).where(OutboxEvent.id == event_id).values(**values))

    async def deliver_due(self, client: httpx.AsyncClient) -> int:
        events = await asyncio.to_thread(self._claim)
        delivered = 0
        for event in events:
            try:
                response = await client.post(self.endpoint, json=event["payload"],
                                             headers={"Authorization": f"Bearer {self.token}",
                                                      "Idempotency-Key": event["id"]})
                ok = response.status_code < 300 or response.status_code == 409
                error = None if ok else f"HTTP {response.status_code}: {response.text[:300]}"
            except httpx.HTTPError as exc:
                ok, error = False, f"{type(exc).__name__}: {exc}"
            await asyncio.to_thread(self._mark, event["id"], ok=ok, attempts=int(event["attempts"]), error=error)
            delivered += int(ok)
            if not ok:
                log.warning("event not delivered; will retry", extra={"event_id": event["id"], "error": error})
        return delivered

"""What the flows and the data core send in: scan results (stored, alerts raised, broadcast) and
ingestion events (``ingestion.committed`` starts a targeted scan of its sites)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from fastapi import FastAPI, Header, Request

from services.common.auth import WriteAuth
from services.common.contracts import IngestionEvent, ScanResult
from services.orchestration.event_scan import targeted_scan
from services.orchestration.results import store_scan
from services.orchestration.routes import api_router, state
from services.orchestration.settings import OrchestrationSettings

log = logging.getLogger(__name__)
router = api_router()
SEEN_EVENTS = 10_000  # event ids remembered for de-duplication
METERED = ("electricity", "natural_gas")


@router.post("/results", dependencies=[WriteAuth], summary="A scan's hotspots: stored, alerts raised, broadcast")
async def results(body: ScanResult, request: Request) -> dict[str, Any]:
    s = state(request)
    return await store_scan(s.dc, s.hub, s.rules, body)


@router.post("/events", dependencies=[WriteAuth], status_code=202,
             summary="Data-core events (ingestion.committed starts a targeted scan of its sites)")
async def events(event: IngestionEvent, request: Request,
                 idempotency_key: str | None = Header(default=None, alias="Idempotency-Key", max_length=200)
                 ) -> dict[str, Any]:
    s = state(request)
    if event.event_id in s.seen_events:
        return {"event_id": event.event_id, "accepted": False, "duplicate": True}
    s.seen_events[event.event_id] = time.time()
    while len(s.seen_events) > SEEN_EVENTS:
        s.seen_events.popitem(last=False)
    scheduled = s.settings.event_scan and any(t in METERED for t in event.activity_types)
    if scheduled:
        task = asyncio.create_task(event_scan(request.app, event.model_dump(mode="json")))
        s.tasks.add(task)
        task.add_done_callback(s.tasks.discard)
    return {"event_id": event.event_id, "accepted": True, "scan": "scheduled" if scheduled else "not needed"}


def scan_body(found: dict[str, Any]) -> ScanResult:
    """A targeted scan's result as a scan result (its summary members, ``filled`` and ``rows``, left out)."""
    return ScanResult.model_validate({k: found[k] for k in ScanResult.model_fields if k in found})


async def event_scan(app: FastAPI, event: dict[str, Any]) -> None:
    s = app.state
    settings: OrchestrationSettings = s.settings
    async with s.scan_lock:  # one targeted scan at a time: they share the ML engine and the database
        try:
            found = await asyncio.to_thread(
                targeted_scan, event, data_core_url=settings.data_core_url, ml_engine_url=settings.ml_engine_url,
                token=settings.api_token.get_secret_value(), context_hours=settings.event_scan_context_hours,
                max_hours=settings.event_scan_max_hours)
            if found is not None:
                outcome = await store_scan(s.dc, s.hub, s.rules, scan_body(found))
                s.event_scans.append({"event_id": event["event_id"], "at": time.time(), **outcome,
                                      "skipped": found.get("skipped", [])})
        except Exception as exc:  # noqa: BLE001 - the hourly scan covers what this one could not do
            log.warning("event scan of %s failed (%s: %s); the scheduled scan will cover it", event.get("event_id"),
                        type(exc).__name__, exc)
            s.event_scans.append({"event_id": event["event_id"], "at": time.time(),
                                  "error": f"{type(exc).__name__}: {exc}"})
        del s.event_scans[:-50]

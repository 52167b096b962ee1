"""The orchestration engine (port 8003), thin by design: the app factory.

In (authenticated): scan results from the flows (``POST /api/v1/results``), ingestion events from the data
core's outbox (``POST /api/v1/events``), recommendations (``POST /api/v1/recommendations/{hotspot_id}``).
Everything is stored through the data core, whose answer carries the logged events; those are broadcast.

Out: WebSockets ``/ws/hotspots``, ``/ws/alerts``, ``/ws/recs`` (:mod:`.ws`, fan-out in :mod:`.hub`) with the
envelope of ../shared/DESIGN.md.

REST for the dashboard, which talks to this engine and the chatbot only (all under ``/api/v1``, one router
per resource in :mod:`.routes`; reads open, writes need the bearer token; every error is
application/problem+json, an absent dependency 503):

- hotspots, alerts (``POST .../acknowledge``, ``.../resolve``), recommendations, ``links``, ``streams``;
- Prefect: ``deployments``, ``flow-runs``, ``flow-runs/{id}``, ``POST deployments/{name}/run``;
- from the data core (:mod:`.routes.proxy`; query strings passed on as sent, a data-core 4xx passed on as the
  same problem): ``emissions/{totals|timeseries|top|inventory|audit}`` (JSON, or a CSV/XLSX file with
  ``format=``), ``sites``, ``sites/{id}``, ``organisations``, ``readings/extent``, ``POST ingest`` (upload:
  multipart, text/csv or JSON; ``Idempotency-Key`` and ``Idempotent-Replayed`` passed on), ``ingest/batches``,
  ``ingest/batches/{id}``, ``ingest/batches/{id}/rejects``, ``ingest/rejects``;
- ``expected``: actual against expected summed per hour, day, week or month (the data core's residuals);
- ``models``: the ML engine's registered versions and what it serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from services.common.alert_rules import AlertRules
from services.common.app import create_app as base_app
from services.common.app import serve
from services.common.datacore import AsyncDataCoreClient
from services.common.ratelimit import (
    PathBodyLimitMiddleware,
    RateLimitMiddleware,
    export_rules,
    raise_app_body_limit,
)
from services.orchestration.hub import Connections, Hub
from services.orchestration.results import Tail
from services.orchestration.routes import routers
from services.orchestration.settings import OrchestrationSettings, get_settings
from services.orchestration.tickets import Tickets
from services.orchestration.ws import websocket_endpoint

__all__ = ["add_limits", "create_app", "get_settings", "main", "uvicorn_options"]


def _open(app: FastAPI, settings: OrchestrationSettings) -> None:
    """The state every route reads: hub, connection caps, clients of the data core and the ML engine."""
    s = app.state
    token = settings.api_token.get_secret_value()
    s.hub = Hub(history_size=settings.ws_history, queue_size=settings.ws_queue)
    s.ws_connections = Connections(settings.ws_max_connections, settings.ws_max_connections_per_client)
    s.dc = AsyncDataCoreClient(settings.data_core_url, token, timeout=settings.data_core_timeout_seconds)
    s.ml = AsyncDataCoreClient(settings.ml_engine_url, token, timeout=settings.ml_engine_timeout_seconds,
                               service="ml-engine")
    s.rules = AlertRules.from_json(settings.alert_rules)
    s.tickets = Tickets(token, settings.ws_ticket_seconds)
    s.seen_events = OrderedDict()
    s.tasks = set()
    s.event_scans = []
    s.scan_lock = asyncio.Lock()
    s.tail = Tail(s.dc, s.hub, poll=settings.stream_poll_seconds, history=settings.ws_history)


def create_app(settings: OrchestrationSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _open(app, settings)
        s = app.state
        with contextlib.suppress(Exception):  # the data core may start later; the tail keeps trying
            await s.tail.load()
        tail = asyncio.create_task(s.tail.run())
        # everything imported so far (prefect, pandas, ...) is long-lived: keep it out of the collector so a
        # full collection does not pause the fan-out for tens of milliseconds
        gc.freeze()
        try:
            yield
        finally:
            tail.cancel()
            for task in list(s.tasks):
                task.cancel()
            await s.hub.close_all()
            await asyncio.sleep(0.05)
            await s.dc.aclose()
            await s.ml.aclose()

    async def channels_check(app: FastAPI) -> tuple[bool, dict[str, Any]]:
        tail: Tail = app.state.tail
        return tail.ready, {"loaded": tail.ready, "data_core": "unreachable" if tail.last_error else "ok",
                            "clients": {k: v["clients"] for k, v in app.state.hub.stats().items()}}

    app = base_app(
        settings,
        title="Carbon Nexus orchestration engine",
        description="Flow results and data-core events in; hotspots, alerts and recommendations out on "
                    "WebSockets; REST for the dashboard (its only way to the data core and the ML engine); "
                    "Prefect deployments triggered.",
        routers=routers(),
        lifespan=lifespan,
        health_checks={"channels": channels_check},
        read_posts=["/api/v1/ws-tickets"],
    )
    app.add_api_websocket_route("/ws/{channel}", websocket_endpoint)
    add_limits(app, settings)
    return app


def add_limits(app: FastAPI, settings: OrchestrationSettings) -> None:
    """Body limits per path (1 MiB; uploads and scan results larger) and a rate limit on exports."""
    raise_app_body_limit(app, max(settings.ingest_max_body_bytes, settings.results_max_body_bytes))
    app.add_middleware(PathBodyLimitMiddleware, limit=settings.max_body_bytes,
                       overrides={r"/api/v1/ingest": settings.ingest_max_body_bytes,
                                  r"/api/v1/results": settings.results_max_body_bytes})
    app.add_middleware(RateLimitMiddleware, rules=export_rules([r"/api/v1/emissions/[a-z]+"]),
                       per_minute=settings.rate_limit_per_minute, write_token=settings.api_token.get_secret_value(),
                       write_per_minute=settings.rate_limit_write_per_minute)


def uvicorn_options(settings: OrchestrationSettings) -> dict[str, Any]:
    """What uvicorn is told besides the common options: the largest WebSocket frame a client may send."""
    return {"ws_max_size": settings.ws_max_bytes}


def main() -> None:
    settings = get_settings()
    serve(create_app(settings), settings, **uvicorn_options(settings))


if __name__ == "__main__":
    main()

"""The orchestration engine (port 8003), thin by design.

In (authenticated): scan results from the flows (``POST /api/v1/results``), ingestion events from the data
core's outbox (``POST /api/v1/events``), recommendations (``POST /api/v1/recommendations/{hotspot_id}``).
Everything is stored through the data core, whose answer carries the logged events; those are broadcast.

Out: WebSockets ``/ws/hotspots``, ``/ws/alerts``, ``/ws/recs`` with the envelope of ../shared/DESIGN.md.
Connect, then authenticate with a short-lived single-use ticket (``POST /api/v1/ws-tickets``, passed as
``?ticket=``) or with a first message ``{"type": "auth", "token": ...}``; resume with ``?last_seq=N&epoch=E``.
The server sends ``hello`` (and ``resync`` when it cannot resume), then events; ``ping`` every
``WS_PING_SECONDS`` (answer ``{"type": "pong"}``; a peer silent for 2.5 pings is closed).

REST for the dashboard, which talks to this engine and the chatbot only (all under ``/api/v1``; reads open,
writes need the bearer token; every error is application/problem+json, an absent dependency 503):

- hotspots, alerts (``POST .../acknowledge``, ``.../resolve``), recommendations, ``links``, ``streams``;
- Prefect: ``deployments``, ``flow-runs``, ``flow-runs/{id}``, ``POST deployments/{name}/run``;
- from the data core (dashboard.py; query strings passed on as sent, a data-core 4xx passed on as the same
  problem): ``emissions/{totals|timeseries|top|inventory|audit}`` (JSON, or a CSV/XLSX file with
  ``format=``), ``sites``, ``sites/{id}``, ``organisations``, ``readings/extent``, ``POST ingest`` (upload:
  multipart, text/csv or JSON; ``Idempotency-Key`` and ``Idempotent-Replayed`` passed on), ``ingest/batches``,
  ``ingest/batches/{id}``, ``ingest/batches/{id}/rejects``, ``ingest/rejects``;
- ``expected``: actual against expected summed per hour, day, week or month (the data core's residuals);
- ``models``: the ML engine's registered versions and what it serves.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import hashlib
import hmac
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal
from urllib.parse import quote

import orjson
from fastapi import APIRouter, FastAPI, Header, Query, Request, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field

from services.common.app import create_app as base_app
from services.common.app import serve
from services.common.auth import ReadAuth, Role, Tokens, WriteAuth
from services.common.contracts import IngestionEvent
from services.common.errors import DomainError, ServiceUnavailable, problem_response
from services.common.ratelimit import (
    PathBodyLimitMiddleware,
    RateLimitMiddleware,
    export_rules,
    raise_app_body_limit,
)
from services.common.alert_rules import AlertRules
from services.orchestration import dashboard, prefect_api
from services.orchestration.event_scan import targeted_scan
from services.orchestration.hub import (
    CHANNELS,
    CLOSE_FORBIDDEN_ORIGIN,
    CLOSE_NO_PONG,
    CLOSE_NOT_READY,
    CLOSE_TOO_BIG,
    CLOSE_UNAUTHORISED,
    Connections,
    Hub,
)
from services.orchestration.results import DataCore, Tail, store_scan
from services.orchestration.settings import OrchestrationSettings, get_settings

log = logging.getLogger(__name__)
api = APIRouter(prefix="/api/v1")
Channel = Literal["hotspots", "alerts", "recs"]


# --------------------------------------------------------------------------- tickets
class Tickets:
    """Short-lived, single-use WebSocket tickets signed with the API token (HMAC): a browser never
    carries the long-lived token in a URL. A ticket records the role of the token that asked for it."""

    def __init__(self, secret: str, ttl: int) -> None:
        self.key = hashlib.sha256(b"ws-ticket:" + secret.encode()).digest()
        self.ttl = ttl
        self.used: OrderedDict[str, float] = OrderedDict()

    def issue(self, role: str = "write") -> tuple[str, int]:
        expires = int(time.time()) + self.ttl
        body = f"{expires}.{role}.{secrets.token_urlsafe(12)}"
        sig = base64.urlsafe_b64encode(hmac.new(self.key, body.encode(), hashlib.sha256).digest()[:18]).decode()
        return f"{body}.{sig}", expires

    def redeem(self, ticket: str) -> str | None:
        """The role the ticket was issued for, once; None if it is forged, expired or already used."""
        try:
            expires_s, role, nonce, sig = ticket.split(".")
            expires = int(expires_s)
        except ValueError:
            return None
        good = base64.urlsafe_b64encode(hmac.new(self.key, f"{expires_s}.{role}.{nonce}".encode(),
                                                 hashlib.sha256).digest()[:18]).decode()
        now = time.time()
        while self.used and next(iter(self.used.values())) < now:
            self.used.popitem(last=False)
        if not hmac.compare_digest(sig.encode(), good.encode()) or expires < now or nonce in self.used \
                or role not in ("read", "write"):
            return None
        self.used[nonce] = expires
        return role


def _q(path_part: str) -> str:
    """An id as one path segment of a data-core URL (no '..', '/', '?' games)."""
    return quote(path_part, safe="")


def _state(request: Request | WebSocket) -> Any:
    return request.app.state


# --------------------------------------------------------------------------- inputs
class ScanResult(BaseModel):
    model_config = ConfigDict(extra="allow")
    scan_id: str | None = Field(default=None, max_length=100)
    scope: dict[str, Any] = Field(default_factory=dict)
    hotspots: list[dict[str, Any]] = Field(default_factory=list, max_length=10_000)


class AlertAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str = Field(default="dashboard", min_length=1, max_length=120)
    note: str | None = Field(default=None, max_length=4000)


class RecommendationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["ready", "failed", "pending"]
    content: dict[str, Any] | None = None
    error: str | None = Field(default=None, max_length=4000)


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parameters: dict[str, Any] = Field(default_factory=dict)


# --------------------------------------------------------------------------- flow results and events in
@api.post("/results", dependencies=[WriteAuth], summary="A scan's hotspots: stored, alerts raised, broadcast")
async def results(body: ScanResult, request: Request) -> dict[str, Any]:
    s = _state(request)
    return await store_scan(s.dc, s.hub, s.rules, body.model_dump())


@api.post("/events", dependencies=[WriteAuth], status_code=202,
          summary="Data-core events (ingestion.committed starts a targeted scan of its sites)")
async def events(event: IngestionEvent, request: Request,
                 idempotency_key: str | None = Header(default=None, alias="Idempotency-Key", max_length=200)
                 ) -> dict[str, Any]:
    s = _state(request)
    if event.event_id in s.seen_events:
        return {"event_id": event.event_id, "accepted": False, "duplicate": True}
    s.seen_events[event.event_id] = time.time()
    while len(s.seen_events) > 10_000:
        s.seen_events.popitem(last=False)
    scheduled = s.settings.event_scan and any(t in ("electricity", "natural_gas") for t in event.activity_types)
    if scheduled:
        task = asyncio.create_task(_event_scan(request.app, event.model_dump(mode="json")))
        s.tasks.add(task)
        task.add_done_callback(s.tasks.discard)
    return {"event_id": event.event_id, "accepted": True, "scan": "scheduled" if scheduled else "not needed"}


async def _event_scan(app: FastAPI, event: dict[str, Any]) -> None:
    s = app.state
    settings: OrchestrationSettings = s.settings
    async with s.scan_lock:  # one targeted scan at a time: they share the ML engine and the database
        try:
            body = await asyncio.to_thread(
                targeted_scan, event, data_core_url=settings.data_core_url, ml_engine_url=settings.ml_engine_url,
                token=settings.api_token.get_secret_value(), context_hours=settings.event_scan_context_hours,
                max_hours=settings.event_scan_max_hours)
            if body is not None:
                outcome = await store_scan(s.dc, s.hub, s.rules, body)
                s.event_scans.append({"event_id": event["event_id"], "at": time.time(), **outcome})
        except Exception as exc:  # noqa: BLE001 - the hourly scan covers what this one could not do
            log.warning("event scan of %s failed (%s: %s); the scheduled scan will cover it", event.get("event_id"),
                        type(exc).__name__, exc)
            s.event_scans.append({"event_id": event["event_id"], "at": time.time(),
                                  "error": f"{type(exc).__name__}: {exc}"})
        del s.event_scans[:-50]


@api.post("/recommendations/{hotspot_id}", dependencies=[WriteAuth],
          summary="The chatbot's answer for a hotspot: stored and broadcast on /ws/recs")
async def post_recommendation(hotspot_id: str, body: RecommendationIn, request: Request) -> dict[str, Any]:
    s = _state(request)
    out = await s.dc.call("PUT", f"/api/v1/recommendations/{_q(hotspot_id)}", json=body.model_dump())
    s.hub.publish(out["events"])
    return out


# --------------------------------------------------------------------------- REST for the dashboard
@api.get("/hotspots", summary="Hotspots (from the data core)")
async def hotspots(request: Request, status: Literal["open", "closed"] | None = None,
                   site: list[str] = Query(default=[], max_length=1000), kind: list[str] = Query(default=[]),
                   limit: int = Query(default=200, ge=1, le=10_000)) -> Any:
    params: dict[str, Any] = {"site": site, "kind": kind, "limit": limit}
    if status:
        params["status"] = status
    return await _state(request).dc.call("GET", "/api/v1/hotspots", params=params)


@api.get("/hotspots/{hotspot_id}", summary="One hotspot with its alert and recommendation")
async def hotspot(hotspot_id: str, request: Request) -> Any:
    return await _state(request).dc.call("GET", f"/api/v1/hotspots/{_q(hotspot_id)}")


@api.get("/alerts", summary="Alerts with their hotspots")
async def alerts(request: Request, status: list[Literal["open", "acknowledged", "resolved"]] = Query(default=[]),
                 site: list[str] = Query(default=[], max_length=1000),
                 limit: int = Query(default=200, ge=1, le=10_000)) -> Any:
    return await _state(request).dc.call("GET", "/api/v1/alerts", params={"status": status, "site": site,
                                                                           "limit": limit})


async def _alert_action(request: Request, alert_id: str, action: str, body: AlertAction | None) -> Any:
    s = _state(request)
    out = await s.dc.call("POST", f"/api/v1/alerts/{_q(alert_id)}/{action}", json=(body or AlertAction()).model_dump())
    s.hub.publish(out["events"])
    return out["alert"]


@api.post("/alerts/{alert_id}/acknowledge", dependencies=[WriteAuth], summary="Acknowledge an alert")
async def acknowledge(alert_id: str, request: Request, body: AlertAction | None = None) -> Any:
    return await _alert_action(request, alert_id, "acknowledge", body)


@api.post("/alerts/{alert_id}/resolve", dependencies=[WriteAuth], summary="Resolve an alert")
async def resolve(alert_id: str, request: Request, body: AlertAction | None = None) -> Any:
    return await _alert_action(request, alert_id, "resolve", body)


@api.get("/recommendations", summary="Recommendations (status=pending: the queue)")
async def recommendations(request: Request, status: Literal["pending", "ready", "failed"] | None = None,
                          limit: int = Query(default=200, ge=1, le=10_000)) -> Any:
    params: dict[str, Any] = {"limit": limit}
    if status:
        params["status"] = status
    return await _state(request).dc.call("GET", "/api/v1/recommendations", params=params)


@api.get("/deployments", summary="Prefect deployments with schedules and parameters")
async def deployments(request: Request) -> dict[str, Any]:
    s: OrchestrationSettings = _state(request).settings
    return {"deployments": await _prefect(prefect_api.deployments(s))}


@api.get("/flow-runs", summary="Recent flow runs (newest first)")
async def flow_runs(request: Request, limit: int = Query(default=20, ge=1, le=200)) -> dict[str, Any]:
    s: OrchestrationSettings = _state(request).settings
    return {"flow_runs": await _prefect(prefect_api.flow_runs(s, limit))}


@api.get("/flow-runs/{run_id}", summary="One flow run (404 if the id is not a UUID or unknown)")
async def flow_run(run_id: str, request: Request) -> dict[str, Any]:
    s: OrchestrationSettings = _state(request).settings
    return await _prefect(prefect_api.flow_run(s, run_id))


@api.post("/deployments/{name:path}/run", dependencies=[WriteAuth], status_code=201,
          summary="Trigger a deployment ('flow/deployment' or a unique deployment name)")
async def run_deployment(name: str, request: Request, body: RunRequest | None = None,
                         idempotency_key: str | None = Header(default=None, alias="Idempotency-Key", max_length=200)
                         ) -> dict[str, Any]:
    s: OrchestrationSettings = _state(request).settings
    params = (body or RunRequest()).parameters
    return await _prefect(prefect_api.trigger(s, name, params, idempotency_key))


async def _prefect(call: Any) -> Any:
    import httpx

    try:
        return await call
    except DomainError:
        raise
    except ValueError as exc:  # e.g. a deployment name with more than one '/'
        raise DomainError(f"not a deployment name: {exc}", status=404) from exc
    except httpx.HTTPStatusError as exc:
        if 400 <= exc.response.status_code < 500:  # Prefect refused the request (bad parameter values, ...)
            raise DomainError(f"Prefect refused the request: {exc.response.text[:500]}", status=422) from exc
        raise ServiceUnavailable(f"the Prefect API failed ({exc.response.status_code})", service="prefect") from exc
    except Exception as exc:  # noqa: BLE001 - Prefect being down is a 503 answer, not a 500
        raise ServiceUnavailable(f"the Prefect API is unavailable: {type(exc).__name__}", service="prefect") from exc


@api.get("/links", summary="Where the Prefect and MLflow UIs are")
async def links(request: Request) -> dict[str, str]:
    s: OrchestrationSettings = _state(request).settings
    return {"prefect": s.prefect_ui_url, "mlflow": s.mlflow_ui_url, "data_core": s.data_core_url,
            "ml_engine": s.ml_engine_url}


@api.post("/ws-tickets", summary="A short-lived single-use WebSocket ticket (read or write token)")
async def ws_ticket(request: Request, role: Role = ReadAuth) -> dict[str, Any]:
    ticket, expires = _state(request).tickets.issue(role)
    return {"ticket": ticket, "expires_at": expires, "expires_in": _state(request).tickets.ttl, "role": role}


@api.get("/whoami", summary="The role of the token sent: read or write")
async def whoami(role: Role = ReadAuth) -> dict[str, str]:
    return {"role": role}


@api.get("/streams", summary="Channel state: epoch, last seq, clients, history")
async def stream_stats(request: Request) -> dict[str, Any]:
    s = _state(request)
    return {"channels": s.hub.stats(), "event_scans": s.event_scans[-10:], "tail_error": s.tail.last_error}


# --------------------------------------------------------------------------- WebSockets
def _int(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


async def _authenticate(ws: WebSocket, settings: OrchestrationSettings, tickets: Tickets) -> dict[str, Any] | None:
    """The resume position if the client is who it says, else None (the socket is then closed)."""
    query = ws.query_params
    resume: dict[str, Any] = {"last_seq": _int(query.get("last_seq")), "epoch": query.get("epoch")}
    ticket = query.get("ticket")
    if ticket is not None:
        return resume if tickets.redeem(ticket) else None  # a read or a write ticket
    try:
        text = await asyncio.wait_for(ws.receive_text(), timeout=settings.ws_auth_seconds)
        if _too_big(text, settings):
            await ws.close(code=CLOSE_TOO_BIG, reason=f"a message may have at most {settings.ws_max_bytes} bytes")
            return None
        first = orjson.loads(text)
    except (TimeoutError, orjson.JSONDecodeError, WebSocketDisconnect, KeyError, RuntimeError):
        return None
    if not isinstance(first, dict) or first.get("type") != "auth":
        return None
    token = str(first.get("token") or "")
    good = Tokens.of(settings).role(token) or (first.get("ticket") and tickets.redeem(str(first["ticket"])))
    if not good:  # every channel is a read: either role will do
        return None
    if "last_seq" in first:
        resume["last_seq"] = _int(first.get("last_seq"))
    if first.get("epoch"):
        resume["epoch"] = str(first["epoch"])
    return resume


async def websocket_endpoint(ws: WebSocket, channel: str) -> None:
    s = ws.app.state
    settings: OrchestrationSettings = s.settings
    if channel not in CHANNELS:
        await ws.close(code=4404, reason="unknown channel")
        return
    origin = ws.headers.get("origin")
    if origin is not None and origin not in settings.ws_allowed_origins:
        await ws.close(code=CLOSE_FORBIDDEN_ORIGIN, reason="origin not allowed")  # before accept: HTTP 403
        return
    address = ws.client.host if ws.client else "unknown"
    refused = s.ws_connections.reserve(address)
    if refused is not None:  # over the connection cap: refused before the handshake is accepted
        await _deny(ws, *refused)
        return
    try:
        await _session(ws, channel, s, settings)
    finally:
        s.ws_connections.release(address)


async def _deny(ws: WebSocket, status: int, detail: str) -> None:
    response = problem_response(status=status, title="Too many WebSocket connections", detail=detail,
                                type_suffix="too-many-connections", headers={"Retry-After": "5"})
    try:
        await ws.send_denial_response(response)
    except RuntimeError:  # a server without the denial-response extension: close before accept (HTTP 403)
        await ws.close(code=CLOSE_NOT_READY, reason=detail[:120])


def _too_big(text: str, settings: OrchestrationSettings) -> bool:
    """A message over ``ws_max_bytes`` (uvicorn refuses such frames already; this holds under any server)."""
    return len(text) > settings.ws_max_bytes or len(text.encode()) > settings.ws_max_bytes


async def _session(ws: WebSocket, channel: str, s: Any, settings: OrchestrationSettings) -> None:
    await ws.accept()
    if not s.tail.ready:  # the channel logs are not loaded yet (data core unreachable): no seq to give
        await ws.close(code=CLOSE_NOT_READY, reason="channels not loaded yet; try again shortly")
        return
    resume = await _authenticate(ws, settings, s.tickets)
    if resume is None:
        with contextlib.suppress(Exception):
            await ws.close(code=CLOSE_UNAUTHORISED, reason="authenticate with a ticket or a first auth message")
        return
    hub: Hub = s.hub
    client, first = hub.attach(ws, channel, last_seq=resume["last_seq"], epoch=resume["epoch"])
    writer = asyncio.create_task(client.run_writer(first))
    beat = asyncio.create_task(_heartbeat(client, hub, channel, settings.ws_ping_seconds))
    try:
        while not client.closed:
            text = await ws.receive_text()
            if _too_big(text, settings):
                client.close_soon(CLOSE_TOO_BIG, f"a message may have at most {settings.ws_max_bytes} bytes")
                break
            client.last_seen = time.monotonic()
            with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
                message = orjson.loads(text)
                if isinstance(message, dict) and message.get("type") == "ping":
                    client.offer(None, hub.channels[channel].control("pong", {}))
                elif isinstance(message, dict) and message.get("type") == "pong":
                    client.answers_pings = True
    except (WebSocketDisconnect, RuntimeError, KeyError):  # KeyError: a binary frame where text was expected
        pass
    finally:
        client.close_soon(1000, "bye")
        beat.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer, timeout=3.0)


async def _heartbeat(client: Any, hub: Hub, channel: str, every: float) -> None:
    """An application ping every ``every`` seconds (browsers cannot see protocol pings). A client that has
    answered one is expected to keep answering, and is closed after 2.5 silent intervals; a passive client
    is watched by the protocol-level ping/pong of the server (uvicorn's ws_ping_interval)."""
    while not client.closed:
        await asyncio.sleep(every)
        if client.answers_pings and time.monotonic() - client.last_seen > 2.5 * every:
            client.close_soon(CLOSE_NO_PONG, "no pong: the peer looks dead")
            return
        client.offer(None, hub.channels[channel].control("ping", {}))


# --------------------------------------------------------------------------- app
def create_app(settings: OrchestrationSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        s = app.state
        s.hub = Hub(history_size=settings.ws_history, queue_size=settings.ws_queue)
        s.ws_connections = Connections(settings.ws_max_connections, settings.ws_max_connections_per_client)
        s.dc = DataCore(settings.data_core_url, settings.api_token.get_secret_value(),
                        settings.data_core_timeout_seconds)
        s.rules = AlertRules.from_json(settings.alert_rules)
        s.tickets = Tickets(settings.api_token.get_secret_value(), settings.ws_ticket_seconds)
        s.seen_events = OrderedDict()
        s.tasks = set()
        s.event_scans = []
        s.scan_lock = asyncio.Lock()
        s.ml = dashboard.ml_client(settings.ml_engine_url, settings.ml_engine_timeout_seconds,
                                   settings.api_token.get_secret_value())
        s.tail = Tail(s.dc, s.hub, poll=settings.stream_poll_seconds, history=settings.ws_history)
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
        routers=[api, dashboard.router],
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


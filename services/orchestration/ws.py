"""The WebSocket endpoint ``/ws/{hotspots|alerts|recs}``.

Connect, then authenticate with a short-lived single-use ticket (``POST /api/v1/ws-tickets``, passed as
``?ticket=``) or with a first message ``{"type": "auth", "token": ...}``; resume with ``?last_seq=N&epoch=E``.
The server sends ``hello`` (and ``resync`` when it cannot resume), then events; ``ping`` every
``WS_PING_SECONDS`` (answer ``{"type": "pong"}``; a peer silent for 2.5 pings is closed). Over the
connection caps a handshake is refused before it is accepted (HTTP 503 in total, 429 per client address).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import orjson
from fastapi import WebSocket, WebSocketDisconnect

from services.common.auth import Tokens
from services.common.contracts import CHANNELS
from services.common.errors import problem_response
from services.orchestration.hub import (
    CLOSE_FORBIDDEN_ORIGIN,
    CLOSE_NO_PONG,
    CLOSE_NOT_READY,
    CLOSE_TOO_BIG,
    CLOSE_UNAUTHORISED,
    Client,
    Hub,
)
from services.orchestration.settings import OrchestrationSettings
from services.orchestration.tickets import Tickets

CLOSE_UNKNOWN_CHANNEL = 4404


class Frames:
    """An accepted socket as the hub uses it: text frames go straight to the ASGI server's ``send`` (the
    fan-out calls this once per client per event; Starlette's per-message state checks are about the
    handshake and the close, which go through Starlette as usual)."""

    __slots__ = ("_send", "_ws")

    def __init__(self, ws: WebSocket) -> None:
        self._ws = ws
        self._send = ws._send

    async def send_text(self, data: str) -> None:
        await self._send({"type": "websocket.send", "text": data})

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        await self._ws.close(code=code, reason=reason)


def _int(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


async def authenticate(ws: WebSocket, settings: OrchestrationSettings, tickets: Tickets) -> dict[str, Any] | None:
    """The resume position if the client is who it says, else None (the socket is then closed)."""
    query = ws.query_params
    resume: dict[str, Any] = {"last_seq": _int(query.get("last_seq")), "epoch": query.get("epoch")}
    ticket = query.get("ticket")
    if ticket is not None:
        return resume if tickets.redeem(ticket) else None  # a read or a write ticket
    try:
        text = await asyncio.wait_for(ws.receive_text(), timeout=settings.ws_auth_seconds)
        if too_big(text, settings):
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
        await ws.close(code=CLOSE_UNKNOWN_CHANNEL, reason="unknown channel")
        return
    origin = ws.headers.get("origin")
    if origin is not None and origin not in settings.ws_allowed_origins:
        await ws.close(code=CLOSE_FORBIDDEN_ORIGIN, reason="origin not allowed")  # before accept: HTTP 403
        return
    address = ws.client.host if ws.client else "unknown"
    refused = s.ws_connections.reserve(address)
    if refused is not None:  # over the connection cap: refused before the handshake is accepted
        await deny(ws, *refused)
        return
    try:
        await session(ws, channel, s, settings)
    finally:
        s.ws_connections.release(address)


async def deny(ws: WebSocket, status: int, detail: str) -> None:
    response = problem_response(status=status, title="Too many WebSocket connections", detail=detail,
                                type_suffix="too-many-connections", headers={"Retry-After": "5"})
    try:
        await ws.send_denial_response(response)
    except RuntimeError:  # a server without the denial-response extension: close before accept (HTTP 403)
        await ws.close(code=CLOSE_NOT_READY, reason=detail[:120])


def too_big(text: str, settings: OrchestrationSettings) -> bool:
    """A message over ``ws_max_bytes`` (uvicorn refuses such frames already; this holds under any server)."""
    return len(text) > settings.ws_max_bytes or len(text.encode()) > settings.ws_max_bytes


async def session(ws: WebSocket, channel: str, s: Any, settings: OrchestrationSettings) -> None:
    await ws.accept()
    if not s.tail.ready:  # the channel logs are not loaded yet (data core unreachable): no seq to give
        await ws.close(code=CLOSE_NOT_READY, reason="channels not loaded yet; try again shortly")
        return
    resume = await authenticate(ws, settings, s.tickets)
    if resume is None:
        with contextlib.suppress(Exception):
            await ws.close(code=CLOSE_UNAUTHORISED, reason="authenticate with a ticket or a first auth message")
        return
    hub: Hub = s.hub
    client, first = hub.attach(Frames(ws), channel, last_seq=resume["last_seq"], epoch=resume["epoch"])
    writer = asyncio.create_task(client.run_writer(first))
    beat = asyncio.create_task(heartbeat(client, hub, channel, settings.ws_ping_seconds))
    try:
        while not client.closed:
            text = await ws.receive_text()
            if too_big(text, settings):
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


async def heartbeat(client: Client, hub: Hub, channel: str, every: float) -> None:
    """An application ping every ``every`` seconds (browsers cannot see protocol pings). A client that has
    answered one is expected to keep answering, and is closed after 2.5 silent intervals; a passive client
    is watched by the protocol-level ping/pong of the server (uvicorn's ws_ping_interval)."""
    while not client.closed:
        await asyncio.sleep(every)
        if client.answers_pings and time.monotonic() - client.last_seen > 2.5 * every:
            client.close_soon(CLOSE_NO_PONG, "no pong: the peer looks dead")
            return
        client.offer(None, hub.channels[channel].control("ping", {}))

"""The WebSocket side's REST: tickets to connect with, and the state of the channels."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from services.common.auth import ReadAuth, Role
from services.orchestration.routes import api_router, state

router = api_router()


@router.post("/ws-tickets", summary="A short-lived single-use WebSocket ticket (read or write token)")
async def ws_ticket(request: Request, role: Role = ReadAuth) -> dict[str, Any]:
    tickets = state(request).tickets
    ticket, expires = tickets.issue(role)
    return {"ticket": ticket, "expires_at": expires, "expires_in": tickets.ttl, "role": role}


@router.get("/streams", summary="Channel state: epoch, last seq, clients, history")
async def stream_stats(request: Request) -> dict[str, Any]:
    s = state(request)
    return {"channels": s.hub.stats(), "event_scans": s.event_scans[-10:], "tail_error": s.tail.last_error}

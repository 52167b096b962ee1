"""The event logs of the orchestration engine's WebSocket channels (:mod:`services.data_core.streams`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from services.common.contracts import ChannelName
from services.data_core import streams
from services.data_core.deps import ConnDep

router = APIRouter(prefix="/api/v1", tags=["hotspots"])


@router.get("/streams/{channel}", summary="The event log of a WebSocket channel (after a seq, or the newest)")
def read_stream(channel: ChannelName, conn: ConnDep, after: int | None = Query(default=None, ge=0),
                limit: int = Query(default=1000, ge=1, le=10_000)) -> dict[str, Any]:
    return streams.read(conn, channel, after=after, limit=limit)

"""Contracts shared between services: the event envelope and the ingestion event."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class Envelope(BaseModel):
    """Every WebSocket message from the orchestration engine (see ../shared/DESIGN.md)."""

    channel: Literal["hotspots", "alerts", "recs"]
    seq: int = Field(ge=0)
    epoch: str
    id: str
    type: str
    ts: datetime
    payload: dict[str, Any]


class IngestionEvent(BaseModel):
    """Sent by the data core to ``ORCHESTRATION_URL`` after an ingest commits."""

    event_id: str
    type: Literal["ingestion.committed"] = "ingestion.committed"
    batch_id: str
    occurred_at: datetime
    accepted: int
    sites: list[str]
    period_start: datetime | None
    period_end: datetime | None
    activity_types: list[str]

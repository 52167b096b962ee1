"""Recommendations: the request queue (pending, oldest first) and the chatbot's stored answers
(:mod:`services.data_core.recommending`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from services.common.auth import WriteAuth
from services.common.contracts import RecommendationIn
from services.data_core import recommending
from services.data_core.deps import ConnDep

router = APIRouter(prefix="/api/v1", tags=["hotspots"])


@router.get("/recommendations", summary="Recommendations (status=pending is the request queue, oldest first)")
def list_recommendations(conn: ConnDep, status: recommending.RecStatus | None = None,
                         hotspot_id: list[str] = Query(default=[], max_length=1000),
                         limit: int = Query(default=200, ge=1, le=10_000)) -> dict[str, Any]:
    items = recommending.listing(conn, status=status, hotspot_ids=hotspot_id, limit=limit)
    return {"count": len(items), "recommendations": items}


@router.put("/recommendations/{hotspot_id}", dependencies=[WriteAuth],
            summary="Store the chatbot's answer for a hotspot (or a failed attempt)")
def put_recommendation(hotspot_id: str, body: RecommendationIn, conn: ConnDep) -> dict[str, Any]:
    return recommending.store(conn, hotspot_id, body)

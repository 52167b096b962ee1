"""Recommendations: the list for the dashboard, and the chatbot's answers stored and broadcast on
``/ws/recs``."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Query, Request

from services.common.auth import WriteAuth
from services.common.contracts import RecommendationIn
from services.orchestration.routes import api_router, state

router = api_router()


@router.post("/recommendations/{hotspot_id}", dependencies=[WriteAuth],
             summary="The chatbot's answer for a hotspot: stored and broadcast on /ws/recs")
async def post_recommendation(hotspot_id: str, body: RecommendationIn, request: Request) -> dict[str, Any]:
    s = state(request)
    out = await s.dc.store_recommendation(hotspot_id, body)
    s.hub.publish(out["events"])
    return out


@router.get("/recommendations", summary="Recommendations (status=pending: the queue)")
async def recommendations(request: Request, status: Literal["pending", "ready", "failed"] | None = None,
                          limit: int = Query(default=200, ge=1, le=10_000)) -> Any:
    params: dict[str, Any] = {"limit": limit}
    if status:
        params["status"] = status
    return await state(request).dc.call("GET", "/api/v1/recommendations", params=params)

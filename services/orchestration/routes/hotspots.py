"""Hotspots for the dashboard (stored by the data core), and people's verdicts on them (issue #18): a hotspot
marked a false alarm (its alert resolved), a confirmed fault or the new normal (its series re-baselined by the
next ``fit-reference`` run)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import Query, Request
from pydantic import BaseModel, ConfigDict, Field

from services.common.auth import WriteAuth
from services.common.datacore import seg
from services.orchestration.routes import api_router, state

router = api_router()


@router.get("/hotspots", summary="Hotspots (from the data core)")
async def hotspots(request: Request, status: Literal["open", "closed"] | None = None,
                   site: list[str] = Query(default=[], max_length=1000), kind: list[str] = Query(default=[]),
                   limit: int = Query(default=200, ge=1, le=10_000)) -> Any:
    params: dict[str, Any] = {"site": site, "kind": kind, "limit": limit}
    if status:
        params["status"] = status
    return await state(request).dc.call("GET", "/api/v1/hotspots", params=params)


class VerdictIn(BaseModel):
    """A person's verdict on a hotspot (the data core checks it too)."""

    model_config = ConfigDict(extra="forbid")
    verdict: Literal["false_alarm", "confirmed", "new_normal"]
    by: str | None = Field(default=None, max_length=120)
    note: str | None = Field(default=None, max_length=4000)


@router.get("/hotspots/verdicts", summary="People's verdicts on hotspots, counted per verdict, kind, fault and "
            "expectation (from the data core)")
async def verdicts(request: Request, since: datetime | None = None) -> Any:
    return await state(request).dc.call("GET", "/api/v1/hotspots/verdicts",
                                        params={"since": since.isoformat()} if since else None)


@router.post("/hotspots/{hotspot_id}/verdict", dependencies=[WriteAuth],
             summary="Mark a hotspot a false alarm (resolves its alert), a confirmed fault or the new normal "
                     "(re-baselines its series)")
async def verdict(hotspot_id: str, body: VerdictIn, request: Request) -> Any:
    return await state(request).dc.call("POST", f"/api/v1/hotspots/{seg(hotspot_id)}/verdict",
                                        json=body.model_dump(exclude_none=True))


@router.get("/hotspots/{hotspot_id}", summary="One hotspot with its alert, recommendation and verdict")
async def hotspot(hotspot_id: str, request: Request) -> Any:
    return await state(request).dc.call("GET", f"/api/v1/hotspots/{seg(hotspot_id)}")

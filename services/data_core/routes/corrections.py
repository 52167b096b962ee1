"""Corrections of stored readings through ledger versions (services/data_core/corrections.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from services.common.auth import WriteAuth
from services.data_core import corrections
from services.data_core.deps import CacheDep, ConnDep, EngineDep, SettingsDep

router = APIRouter(prefix="/api/v1/activities", tags=["corrections"])
ActivityId = Path(ge=1, le=2**63 - 1, description="the reading's id (activity_id in the ledger and its audit)")


class NewReading(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quantity: float = Field(description="the corrected quantity (validated like an ingested row: >= 0, finite)")
    unit: str = Field(min_length=1, max_length=60, description="its unit (of the kind the activity's factors take)")
    period_start: datetime | None = Field(default=None, description="the corrected start (default: unchanged)")
    period_end: datetime | None = Field(default=None, description="the corrected end (default: unchanged)")


class CorrectionCreate(NewReading):
    requested_by: str = Field(min_length=1, max_length=200, description="who asks for the correction")
    reason: str = Field(min_length=1, max_length=2000, description="why the stored reading is wrong")


class CorrectionItem(NewReading):
    activity_id: int = Field(ge=1, le=2**63 - 1, description="the reading to replace")


class CorrectionsCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    requested_by: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=2000)
    corrections: list[CorrectionItem] = Field(min_length=1, max_length=100_000)


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "the same correction was already made: nothing changed (replayed)"},
    201: {"description": "the new readings are stored, the old ones superseded, a new ledger version is current"},
    404: {"description": "unknown reading"}, 409: {"description": "the reading was already replaced differently"},
    422: {"description": "not a valid reading, overlapping another reading, or equal to the stored one"}}


async def _run(request: Request, engine: Any, cache: Any, settings: Any, changes: list[corrections.Change],
               requested_by: str, reason: str) -> JSONResponse:
    url = str(settings.orchestration_url) if settings.orchestration_url else None
    answer = await run_in_threadpool(corrections.correct, engine, cache, changes, requested_by=requested_by,
                                     reason=reason, orchestration_url=url)
    outbox = getattr(request.app.state, "outbox", None)
    if outbox is not None and not answer["replayed"]:
        outbox.kick()
    return JSONResponse(jsonable(answer), status_code=200 if answer["replayed"] else 201)


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@router.post("/{activity_id}/corrections", dependencies=[WriteAuth], status_code=201, responses=_RESPONSES,
             summary="Correct a stored reading: a new reading and a new ledger version; the old one is kept")
async def correct_one(request: Request, engine: EngineDep, cache: CacheDep, settings: SettingsDep,
                      body: CorrectionCreate, activity_id: int = ActivityId) -> JSONResponse:
    change = corrections.Change(activity_id=activity_id, quantity=body.quantity, unit=body.unit,
                                period_start=body.period_start, period_end=body.period_end)
    return await _run(request, engine, cache, settings, [change], body.requested_by, body.reason)


@router.post("/corrections", dependencies=[WriteAuth], status_code=201, responses=_RESPONSES,
             summary="Correct many stored readings in one new ledger version")
async def correct_many(request: Request, engine: EngineDep, cache: CacheDep, settings: SettingsDep,
                       body: CorrectionsCreate) -> JSONResponse:
    changes = [corrections.Change(activity_id=c.activity_id, quantity=c.quantity, unit=c.unit,
                                  period_start=c.period_start, period_end=c.period_end) for c in body.corrections]
    return await _run(request, engine, cache, settings, changes, body.requested_by, body.reason)


@router.get("/{activity_id}", summary="A reading, whether it is current, and the corrections through it")
def reading_history(conn: ConnDep, activity_id: int = ActivityId) -> dict[str, Any]:
    return jsonable(corrections.history(conn, activity_id))

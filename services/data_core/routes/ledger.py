"""Ledger versions: list them, create one by applying other factors."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from services.common.auth import WriteAuth
from services.common.errors import NotFound
from services.data_core.deps import CacheDep, ConnDep, EngineDep
from services.data_core.models import LedgerVersion
from services.data_core.recalc import create_version
from services.data_core.schemas import LedgerVersionCreate, LedgerVersionPublic

router = APIRouter(prefix="/api/v1/ledger", tags=["ledger"])


@router.get("/versions", response_model=list[LedgerVersionPublic])
def list_versions(conn: ConnDep) -> list[dict[str, Any]]:
    rows = conn.execute(select(LedgerVersion.__table__).order_by(LedgerVersion.id)).mappings()
    return [dict(r) for r in rows]


@router.get("/versions/{version_id}", response_model=LedgerVersionPublic)
def get_version(version_id: Annotated[int, Path(ge=1, le=2**31 - 1)], conn: ConnDep) -> dict[str, Any]:
    row = conn.execute(select(LedgerVersion.__table__).where(LedgerVersion.id == version_id)).mappings().first()
    if row is None:
        raise NotFound(f"ledger version {version_id} does not exist", version=version_id)
    return dict(row)


@router.post("/versions", status_code=201, dependencies=[WriteAuth], response_model=LedgerVersionPublic,
             summary="Recalculate with other factors into a new ledger version (the previous stays queryable)")
async def new_version(body: LedgerVersionCreate, engine: EngineDep, cache: CacheDep) -> dict[str, Any]:
    return await run_in_threadpool(create_version, engine, cache, body)

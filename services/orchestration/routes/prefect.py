"""Prefect for the dashboard: deployments with schedules, recent flow runs, and manual triggers
(:mod:`services.orchestration.prefect_api`). Prefect being down is a 503 problem, a refused request 422."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

import httpx
from fastapi import Header, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from services.common.auth import WriteAuth
from services.common.errors import DomainError, ServiceUnavailable
from services.orchestration import prefect_api
from services.orchestration.routes import api_router, state

router = api_router()
T = TypeVar("T")


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parameters: dict[str, Any] = Field(default_factory=dict)


async def answer(call: Awaitable[T]) -> T:
    """What Prefect answered, or the problem that says why it could not."""
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


@router.get("/deployments", summary="Prefect deployments with schedules and parameters")
async def deployments(request: Request) -> dict[str, Any]:
    return {"deployments": await answer(prefect_api.deployments(state(request).settings))}


@router.get("/flow-runs", summary="Recent flow runs (newest first)")
async def flow_runs(request: Request, limit: int = Query(default=20, ge=1, le=200)) -> dict[str, Any]:
    return {"flow_runs": await answer(prefect_api.flow_runs(state(request).settings, limit))}


@router.get("/flow-runs/{run_id}", summary="One flow run (404 if the id is not a UUID or unknown)")
async def flow_run(run_id: str, request: Request) -> dict[str, Any]:
    return await answer(prefect_api.flow_run(state(request).settings, run_id))


@router.post("/deployments/{name:path}/run", dependencies=[WriteAuth], status_code=201,
             summary="Trigger a deployment ('flow/deployment' or a unique deployment name)")
async def run_deployment(name: str, request: Request, body: RunRequest | None = None,
                         idempotency_key: str | None = Header(default=None, alias="Idempotency-Key", max_length=200)
                         ) -> dict[str, Any]:
    params = (body or RunRequest()).parameters
    return await answer(prefect_api.trigger(state(request).settings, name, params, idempotency_key))

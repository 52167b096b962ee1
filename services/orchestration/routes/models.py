"""``GET /models``: the ML engine's registered versions and what it serves, in one answer. Any failure of
the ML engine (no answer, an error status, not JSON) is 503: the dashboard cannot act on its problems."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Request

from services.common.datacore import AsyncDataCoreClient, UpstreamProblem
from services.common.errors import ServiceUnavailable
from services.orchestration.routes import api_router, state

router = api_router(tags=["dashboard"])


async def ml_get(ml: AsyncDataCoreClient, path: str) -> Any:
    try:
        response = await ml.request("GET", path)
    except UpstreamProblem as exc:
        raise ServiceUnavailable(f"the ML engine answered {path} with {exc.status}", service=ml.service) from exc
    try:
        return response.json()
    except ValueError as exc:
        raise ServiceUnavailable(f"the ML engine's {path} answer is not JSON", service=ml.service) from exc


@router.get("/models", summary="Registered model versions (ML engine /api/v1/models) and what it serves (/version)")
async def models(request: Request) -> dict[str, Any]:
    ml: AsyncDataCoreClient = state(request).ml
    registered, serving = await asyncio.gather(ml_get(ml, "/api/v1/models"), ml_get(ml, "/version"))
    return {"registered": registered, "serving": serving}

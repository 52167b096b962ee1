"""Who am I, and where the other UIs are."""

from __future__ import annotations

from fastapi import Request

from services.common.auth import ReadAuth, Role
from services.orchestration.routes import api_router, state
from services.orchestration.settings import OrchestrationSettings

router = api_router()


@router.get("/links", summary="Where the Prefect and MLflow UIs are")
async def links(request: Request) -> dict[str, str]:
    s: OrchestrationSettings = state(request).settings
    return {"prefect": s.prefect_ui_url, "mlflow": s.mlflow_ui_url, "data_core": s.data_core_url,
            "ml_engine": s.ml_engine_url}


@router.get("/whoami", summary="The role of the token sent: read or write")
async def whoami(role: Role = ReadAuth) -> dict[str, str]:
    return {"role": role}

"""The engine's REST API, one router per resource (all under ``/api/v1``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, WebSocket


def api_router(**kwargs: Any) -> APIRouter:
    return APIRouter(prefix="/api/v1", **kwargs)


def state(request: Request | WebSocket) -> Any:
    """The app's state: settings, hub, data-core and ML clients, tail, tickets (set by the lifespan)."""
    return request.app.state


def routers() -> list[APIRouter]:
    from services.orchestration.routes import (
        alerts,
        expected,
        hotspots,
        meta,
        models,
        prefect,
        proxy,
        recommendations,
        results,
        streams,
    )

    return [results.router, hotspots.router, alerts.router, recommendations.router, prefect.router, meta.router,
            streams.router, proxy.router, expected.router, models.router]

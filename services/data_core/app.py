"""The data core service (port 8002): system of record for sites, activities, factors and the ledger."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pandas as pd
from fastapi import FastAPI, Request
from sqlalchemy import func, select, text
from sqlalchemy.exc import DataError
from starlette.responses import Response

from services.common.app import create_app as base_app
from services.common.app import serve
from services.common.errors import problem_response
from services.common.ratelimit import RateLimitMiddleware, export_rules
from services.data_core.db import make_engine, migrate
from services.data_core.events import Outbox
from services.data_core.factors.store import FactorCache, seed_library
from services.data_core.ingest import workers
from services.data_core.ledger import current_version
from services.data_core.models import EmissionFactor, OutboxEvent
from services.data_core.routes import (
    alerts,
    bills,
    consumption,
    corrections,
    emissions,
    factors,
    hotspots,
    ingest,
    ledger,
    predictions,
    recommendations,
    sites,
    streams,
    weather,
)
from services.data_core.settings import DataCoreSettings, get_settings


async def _db_check(app: FastAPI) -> tuple[bool, Any]:
    with app.state.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        n = conn.execute(select(func.count()).select_from(EmissionFactor)).scalar_one()
        pending = conn.execute(select(func.count()).select_from(OutboxEvent)
                               .where(OutboxEvent.delivered_at.is_(None))).scalar_one()
    return n > 0, {"dialect": app.state.engine.dialect.name, "factors": n, "events_pending": pending}


async def _data_error(request: Request, exc: Exception) -> Response:
    # the database refused a value the API let through (a NUL character in text on PostgreSQL, a number
    # out of range): bad input, answered as such
    if not isinstance(exc, DataError) and not isinstance(exc.__cause__, DataError):
        raise exc  # another database failure read through pandas: a defect, answered 500 by the middleware
    return problem_response(status=422, title="Value cannot be stored", type_suffix="unstorable-value",
                            detail="a value in the request cannot be stored (for example a NUL character in "
                                   "text or a number out of range)", request=request)


def create_app(settings: DataCoreSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        if settings.auto_migrate:
            migrate(settings.database_url)
        with engine.begin() as conn:
            seed_library(conn, settings.factors_csv, settings.gwp_csv)
            current_version(conn)
        app.state.engine = engine
        app.state.factor_cache = FactorCache(engine)
        app.state.factor_cache.get()
        # start (and warm) the ingest worker processes now rather than in the first request
        await asyncio.to_thread(workers.executor, settings.ingest_workers, settings.database_url)
        outbox = None
        if settings.orchestration_url:
            outbox = Outbox(engine, url=str(settings.orchestration_url), token=settings.api_token.get_secret_value(),
                            retry_seconds=settings.event_retry_seconds,
                            max_backoff_seconds=settings.event_max_backoff_seconds)
            outbox.start()
        app.state.outbox = outbox
        try:
            yield
        finally:
            if outbox:
                await outbox.stop()
            engine.dispose()

    app = base_app(
        settings,
        title="Carbon Nexus data core",
        description="Organisations, sites, activity data, emission factors, the calculation ledger and queries.",
        routers=[sites.router, factors.router, ingest.router, ledger.router, emissions.router, predictions.router,
                 hotspots.router, alerts.router, recommendations.router, streams.router, weather.router,
                 bills.router, corrections.router, consumption.router],
        lifespan=lifespan,
        health_checks={"database": _db_check},
    )
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(pd.errors.DatabaseError, _data_error)  # pandas.read_sql wraps the DataError
    # CSV/XLSX exports per client and minute (the write token, which the flows and services use, not limited)
    app.add_middleware(RateLimitMiddleware, rules=export_rules(EXPORT_PATHS), per_minute=settings.rate_limit_per_minute,
                       write_token=settings.api_token.get_secret_value(),
                       write_per_minute=settings.rate_limit_write_per_minute)
    return app


EXPORT_PATHS = (r"/api/v1/emissions/[a-z]+", r"/api/v1/readings", r"/api/v1/residuals")


def main() -> None:
    settings = get_settings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()

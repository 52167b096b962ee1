"""``create_app``: the one FastAPI factory every service uses.

It gives each service ``/health``, a request id on every request and log line, structured logging,
RFC 9457 problem+json errors, a request-body size limit, CORS for the dashboard, Prometheus ``/metrics``
and bearer-token roles checked before any body is read (services.common.auth). Services add their routers and heavy resources (engines, models, pipelines) in their
own lifespan, never at import time.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.auth import DOCS_PATHS, AccessPolicy, TokenAuthMiddleware, Tokens, document_security
from services.common.errors import install_problem_handlers, problem_response
from services.common.logging import configure_logging, request_id_var
from services.common.settings import ServiceSettings, apply_offline_env

HealthCheck = Callable[[FastAPI], Awaitable[tuple[bool, Any]]]
Lifespan = Callable[[FastAPI], Any]

log = logging.getLogger(__name__)


PROCESS_METRICS = (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR)


class RequestContextMiddleware:
    """Pure ASGI middleware: request id (from ``X-Request-ID`` or new), body size limit, metrics."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, registry: CollectorRegistry) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.requests = Counter(
            "http_requests_total", "HTTP requests", ["method", "route", "status"], registry=registry
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        incoming = headers.get("x-request-id", "")
        request_id = incoming if 0 < len(incoming) <= 128 and incoming.isprintable() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status_holder = {"status": 500}

        started_response = {"started": False}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                started_response["started"] = True
                status_holder["status"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(b"x-request-id", request_id.encode())]
            await send(message)

        try:
            declared = headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
                detail = f"request body of {declared} bytes exceeds the limit of {self.max_body_bytes} bytes"
                await _too_large(detail, request_id)(scope, receive, send_wrapper)
                return
            received = 0

            async def limited_receive() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.max_body_bytes:
                        raise _BodyTooLarge(self.max_body_bytes)
                return message

            try:
                await self.app(scope, limited_receive, send_wrapper)
            except _BodyTooLarge as exc:
                await _too_large(exc.detail, request_id)(scope, receive, send_wrapper)
            except Exception:  # a defect: answered here so the 500 still carries the request id
                if started_response["started"]:
                    raise
                log.exception("unhandled error", extra={"path": scope.get("path")})
                response = problem_response(
                    status=500,
                    title="Internal server error",
                    detail="an unexpected error occurred; it has been logged with this request id",
                    type_suffix="internal",
                    request_id=request_id,
                )
                await response(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            route_path = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "GET")
            self.requests.labels(method, route_path, str(status_holder["status"])).inc()
            self.latency.labels(method, route_path).observe(time.perf_counter() - started)
            request_id_var.reset(token)


class _BodyTooLarge(StarletteHTTPException):
    """Raised by the size-limited ``receive``. An HTTPException, so that FastAPI's body parsing passes it
    on (it turns any other exception into a 400) and the handler below answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"request body exceeds the limit of {limit} bytes")


def _too_large(detail: str, request_id: str | None = None, request: Request | None = None) -> Response:
    extra: dict[str, Any] = {"request_id": request_id} if request_id else {}
    return problem_response(status=413, title="Payload too large", detail=detail, type_suffix="payload-too-large",
                            request=request, **extra)


def create_app(
    settings: ServiceSettings,
    *,
    title: str,
    version: str = "0.1.0",
    description: str = "",
    routers: Sequence[APIRouter] = (),
    lifespan: Lifespan | None = None,
    health_checks: dict[str, HealthCheck] | None = None,
    health_path: str = "/health",
    public_paths: Sequence[str] = (),
    read_posts: Sequence[str] = (),
) -> FastAPI:
    """``public_paths`` (route templates) answer without a token besides ``health_path`` and the docs;
    ``read_posts`` are POST routes the read token may call (they change no stored state)."""
    apply_offline_env()
    configure_logging(service=settings.service_name, level=settings.log_level, json_output=settings.log_json,
                      log_file=settings.log_file)

    @asynccontextmanager
    async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.info("starting", extra={"service": settings.service_name, "environment": settings.environment})
        if lifespan is None:
            yield
        else:
            async with lifespan(app):
                yield
        log.info("stopped", extra={"service": settings.service_name})

    app = FastAPI(title=title, version=version, description=description, lifespan=_lifespan)
    app.state.settings = settings
    app.state.started_at = time.time()
    registry = CollectorRegistry()
    for collector in PROCESS_METRICS:  # CPU, memory, file descriptors, GC, interpreter of this process
        registry.register(collector)
    app.state.metrics_registry = registry
    install_problem_handlers(app)

    @app.exception_handler(_BodyTooLarge)
    async def _body_too_large(request: Request, exc: _BodyTooLarge) -> Response:
        return _too_large(exc.detail, request=request)
    policy = AccessPolicy(public_paths=[health_path, *DOCS_PATHS, *public_paths], read_posts=read_posts)
    app.state.access_policy = policy
    # innermost of the three: CORS answers preflights and decorates the refusals so a browser can read them
    app.add_middleware(TokenAuthMiddleware, tokens=Tokens.of(settings), policy=policy)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=["X-Request-ID", "Idempotent-Replayed", "Content-Disposition"],
    )
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes, registry=registry)

    checks = dict(health_checks or {})

    @app.get(health_path, tags=["ops"], summary="Liveness and readiness of the service and what it depends on")
    async def health(request: Request) -> JSONResponse:
        results: dict[str, Any] = {}
        healthy = True
        for name, check in checks.items():
            try:
                ok, detail = await check(request.app)
            except Exception:  # a failing dependency is reported (without internals) and logged, not raised
                log.warning("health check %s failed", name, exc_info=True)
                ok, detail = False, "unavailable (the service log has the reason)"
            results[name] = {"ok": ok, "detail": detail}
            healthy = healthy and ok
        body = {
            "status": "ok" if healthy else "degraded",
            "service": settings.service_name,
            "version": version,
            "uptime_s": round(time.time() - request.app.state.started_at, 1),
            "checks": results,
        }
        return JSONResponse(body, status_code=200 if healthy else 503)

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    for router in routers:
        app.include_router(router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_security(FastAPI.openapi(app), policy)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def serve(app: FastAPI, settings: ServiceSettings, **uvicorn_options: Any) -> None:
    """Run a service's app with uvicorn the way every service runs (our logging, proxy headers, a
    graceful shutdown window)."""
    import uvicorn

    # permessage-deflate off: event frames are ~1 KB of JSON, and compressing each one once per client
    # cost the orchestration engine 40 % of its CPU in bench/ws
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, proxy_headers=True,
                timeout_graceful_shutdown=10, ws_per_message_deflate=False, **uvicorn_options)

"""Serves the built dashboard (``ui/dist``) on port 5173: static files with an SPA fallback, ``/config.json``
(the browser-facing URLs of the orchestration engine and the chatbot, the only services the dashboard
talks to), ``/api/health`` and ``/metrics``. Everything but ``/metrics`` is public; ``/metrics`` needs
``READ_TOKEN`` or ``API_TOKEN`` (read from the environment for that alone: the tokens the user signs in with
stay in the browser; without either, ``/metrics`` refuses everyone).

Run: ``python -m services.frontend.app`` (``make up`` does; build the bundle first with ``make ui``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import prometheus_client
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common.auth import Required, TokenAuthMiddleware, Tokens
from services.common.settings import apply_offline_env, env_file_source

REPO_ROOT = Path(__file__).resolve().parents[2]


class FrontendSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        """The env file is the one CARBON_NEXUS_ENV_FILE names (tests: none), like every service's."""
        return init_settings, env_settings, env_file_source(settings_cls, dotenv_settings), file_secret_settings

    host: str = "127.0.0.1"
    port: int = Field(default=5173, ge=1, le=65535)
    # where the browser reaches the services (not necessarily where this process would)
    orchestration_public_url: str = "http://127.0.0.1:8003"
    chatbot_public_url: str = "http://127.0.0.1:8004"
    prefect_ui_url: str = "http://127.0.0.1:4200"
    mlflow_ui_url: str = "http://127.0.0.1:5000"
    ui_dist: Path = REPO_ROOT / "ui" / "dist"
    # /metrics answers this token or READ_TOKEN; unset both and /metrics refuses everyone. The dashboard's
    # files and /config.json need none (the user's token stays in the browser)
    api_token: SecretStr | None = None
    # /metrics answers this token (Prometheus scrapes with it) or API_TOKEN
    read_token: SecretStr | None = None


def _policy(method: str, path: str) -> Required:
    """Static files, /config.json and /api/health are public; /metrics needs a token."""
    return "read" if path == "/metrics" else None


def _origin(url: str, websocket: bool = False) -> str:
    parts = urlsplit(url)
    scheme = parts.scheme
    if websocket:
        scheme = "wss" if scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}"


def content_security_policy(s: FrontendSettings) -> str:
    services = [s.orchestration_public_url, s.chatbot_public_url]
    connect = " ".join(["'self'", *(_origin(u) for u in services), _origin(s.orchestration_public_url, websocket=True)])
    return (f"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            f"connect-src {connect}; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")


def create_app(settings: FrontendSettings | None = None) -> FastAPI:
    s = settings or FrontendSettings()
    dist = s.ui_dist.resolve()
    app = FastAPI(title="Carbon Nexus dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    registry = CollectorRegistry()
    for collector in (prometheus_client.PROCESS_COLLECTOR, prometheus_client.PLATFORM_COLLECTOR,
                      prometheus_client.GC_COLLECTOR):  # CPU, memory, file descriptors, GC
        registry.register(collector)
    requests = Counter("dashboard_requests_total", "Requests served", ["kind"], registry=registry)
    started = time.time()
    csp = content_security_policy(s)
    config = {"orchestrationUrl": s.orchestration_public_url.rstrip("/"), "chatbotUrl": s.chatbot_public_url.rstrip("/"),
              "prefectUiUrl": s.prefect_ui_url, "mlflowUiUrl": s.mlflow_ui_url}

    app.add_middleware(TokenAuthMiddleware, tokens=Tokens.of(s), policy=_policy)

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    @app.exception_handler(StarletteHTTPException)
    async def problem(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"type": "about:blank", "title": "Not found" if exc.status_code == 404 else "Error",
                             "status": exc.status_code, "detail": str(exc.detail), "instance": request.url.path},
                            status_code=exc.status_code, media_type="application/problem+json")

    @app.get("/config.json")
    async def runtime_config() -> JSONResponse:
        requests.labels("config").inc()
        return JSONResponse(config, headers={"Cache-Control": "no-store"})

    @app.get("/api/health")
    async def health() -> JSONResponse:
        ok = (dist / "index.html").is_file()
        body = {"status": "ok" if ok else "unavailable", "service": "frontend-ui", "uptime_s": round(time.time() - started, 1),
                "bundle": str(dist), "detail": None if ok else "ui/dist/index.html is missing: run `make ui`"}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/{path:path}")
    async def static(path: str) -> Response:
        index = dist / "index.html"
        target = (dist / path).resolve()
        if path and target.is_file() and target.is_relative_to(dist):
            requests.labels("asset").inc()
            cache = "public, max-age=31536000, immutable" if path.startswith("assets/") else "no-cache"
            return FileResponse(target, headers={"Cache-Control": cache})
        if path.startswith(("assets/", "api/")) or Path(path).suffix:
            raise StarletteHTTPException(404, f"no file {path!r} in the dashboard bundle")
        if not index.is_file():
            raise StarletteHTTPException(503, "the dashboard is not built: run `make ui`")
        requests.labels("page").inc()  # a client-side route: the app itself decides what to show
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    return app


def main() -> None:
    import uvicorn

    apply_offline_env()
    s = FrontendSettings()
    uvicorn.run(create_app(s), host=s.host, port=s.port, log_level="warning")


if __name__ == "__main__":
    main()

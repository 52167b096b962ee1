"""Settings of the orchestration engine (environment variables, optionally ``.env``)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class OrchestrationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    service_name: str = "orchestration"
    port: int = 8003
    data_core_url: str = "http://127.0.0.1:8002"
    ml_engine_url: str = "http://127.0.0.1:8001"
    rag_service_url: str | None = None
    prefect_api_url: str = "http://127.0.0.1:4200/api"
    prefect_ui_url: str = "http://127.0.0.1:4200"
    # Prefect's own client setting ("user:password"): sent as HTTP Basic auth to the Prefect API when set
    prefect_api_auth_string: SecretStr | None = None
    mlflow_ui_url: str = "http://127.0.0.1:5000"
    # WebSockets: Origin allow-list (browsers always send Origin; other clients may omit it), history kept
    # per channel for resume, queue per client before it is closed as too slow, heartbeat
    ws_allowed_origins: list[str] = ["http://127.0.0.1:5173", "http://localhost:5173"]
    ws_history: int = Field(default=5000, ge=10, le=1_000_000)
    ws_queue: int = Field(default=512, ge=4, le=100_000)
    ws_ping_seconds: float = Field(default=20.0, gt=0)
    ws_auth_seconds: float = Field(default=5.0, gt=0)
    ws_ticket_seconds: int = Field(default=60, ge=5, le=3600)
    # how often the channel logs are read from the data core (other replicas' events, gaps)
    stream_poll_seconds: float = Field(default=2.0, gt=0)
    data_core_timeout_seconds: float = Field(default=30.0, gt=0)
    # how long an upload passed on to the data core may take to be answered (a large file is parsed,
    # checked and stored before the report comes back)
    ingest_timeout_seconds: float = Field(default=600.0, gt=0)
    ml_engine_timeout_seconds: float = Field(default=30.0, gt=0)
    # the event path: an ingest of hourly readings triggers a targeted scan of its sites at once
    event_scan: bool = True
    event_scan_context_hours: int = Field(default=48, ge=0, le=24 * 60)
    # a bulk or historical load is judged on its last hours only; the scheduled scan covers the rest
    event_scan_max_hours: int = Field(default=72, ge=1, le=24 * 366)
    # alert rules: JSON (see services.common.alert_rules.AlertRules)
    alert_rules: str | None = None
    # limits (issue #15): request bodies of 1 MiB, except uploads passed on to the data core's ingest (its
    # own limit applies there too) and a scan's results (up to 10,000 hotspots of ~0.5 kB)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    ingest_max_body_bytes: int = Field(default=256 * 1024 * 1024, ge=1024,
                                       description="body limit of POST /api/v1/ingest (passed on to the data core)")
    results_max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024,
                                        description="body limit of POST /api/v1/results (a scan's hotspots)")
    # WebSockets: the largest frame a client may send (uvicorn's ws_max_size, and checked again per
    # message; a larger one closes the connection with 1009)
    ws_max_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    ws_max_connections: int = Field(default=2000, ge=1, description="WebSocket connections open at once (more are "
                                    "refused before accept: HTTP 503)")
    ws_max_connections_per_client: int = Field(default=30, ge=1, description="WebSocket connections open at once per "
                                               "client address (more: HTTP 429)")
    # CSV/XLSX exports per client (bearer token + address) and minute; 0 = off. The write token (flows,
    # signed-in operators) has its own budget, 0 = not limited
    rate_limit_per_minute: int = Field(default=30, ge=0)
    rate_limit_write_per_minute: int = Field(default=0, ge=0, description="the same budget for requests with the "
                                             "write token (API_TOKEN); 0 = not limited")


@lru_cache(maxsize=1)
def get_settings() -> OrchestrationSettings:
    return OrchestrationSettings()  # type: ignore[call-arg]

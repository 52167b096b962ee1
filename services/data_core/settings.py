"""Settings of the data core (environment variables, optionally ``.env``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AnyHttpUrl, Field
from pydantic_settings import SettingsConfigDict

from services.common.paths import repo_root
from services.common.settings import ServiceSettings

REPO_ROOT = repo_root()


class DataCoreSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    service_name: str = "data-core"
    port: int = 8002
    # SQLite file is the embedded default; PostgreSQL via postgresql+psycopg://...
    database_url: str = f"sqlite:///{REPO_ROOT / 'var' / 'data' / 'carbon_nexus.db'}"
    # Where ingestion events go after a commit; unset = no events.
    orchestration_url: AnyHttpUrl | None = None
    auto_migrate: bool = True
    factors_csv: Path = REPO_ROOT / "data" / "factors" / "factors.csv"
    gwp_csv: Path = REPO_ROOT / "data" / "factors" / "gwp.csv"
    ingest_chunk_rows: int = Field(default=50_000, ge=1_000, le=1 << 20)
    # worker processes that validate and calculate chunks while the request writes (0 = in the request's
    # process); with two cores one worker overlaps the pandas work with the database writes
    ingest_workers: int = Field(default=1, ge=0, le=16)
    ingest_max_rejects_listed: int = Field(default=1_000, ge=0)
    event_retry_seconds: float = Field(default=5.0, gt=0)
    event_max_backoff_seconds: float = Field(default=300.0, gt=0)
    # CSV/XLSX exports (format=csv|xlsx of emissions, readings, residuals) per client (bearer token + address)
    # and minute; 0 = off. The write token (flows, services, signed-in operators) has its own budget, 0 = not
    # limited. Ingest keeps the common body limit (MAX_BODY_BYTES, 256 MiB).
    rate_limit_per_minute: int = Field(default=30, ge=0)
    rate_limit_write_per_minute: int = Field(default=0, ge=0, description="the same budget for requests with the "
                                             "write token (API_TOKEN); 0 = not limited")


@lru_cache(maxsize=1)
def get_settings() -> DataCoreSettings:
    return DataCoreSettings()  # type: ignore[call-arg]

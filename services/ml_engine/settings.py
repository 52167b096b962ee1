"""Settings of the ML engine and of the training flow (environment variables, optionally ``.env``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from services.common.paths import repo_root
from services.common.settings import PLACEHOLDER_SECRETS, ServiceSettings

REPO_ROOT = repo_root()
MIN_PRODUCTION_KEY = 32
DEFAULT_WEATHER = REPO_ROOT / "data" / "buildings_cambridge" / "context_hourly_weather_bedford_and_uk_grid_ci_2019_2020.csv"


class MLEngineSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", protected_namespaces=())

    service_name: str = "ml-engine"
    port: int = 8001
    # MLflow tracking server and model registry (the standard MLFLOW_TRACKING_URI variable)
    mlflow_tracking_uri: str = "http://127.0.0.1:5000"
    model_name: str = "carbon-baseline"
    model_alias: str = "champion"
    # how often the engine asks the registry whether the alias moved (POST /api/v1/models/reload forces it)
    model_poll_seconds: float = Field(default=10.0, gt=0)
    # the served model's artefacts are kept here (compose: the ml-models volume): downloaded once per
    # version, and a restart while the registry is unreachable serves the last version it loaded; empty = off
    model_cache_dir: Path | None = REPO_ROOT / "var" / "ml-models"
    # where the typed API reads site history (day-ahead lags) from
    data_core_url: str = "http://127.0.0.1:8002"
    data_core_timeout_seconds: float = Field(default=30.0, gt=0)
    # where the fill-expected flow finds the ML engine (a load balancer in front of replicas, in production)
    ml_engine_url: str = "http://127.0.0.1:8001"
    # hourly weather (UTC; air_temperature_degC, relative_humidity_pct, global_irradiance_w_m2) packed
    # into each trained model; the demo uses the Bedford station next to the Cambridge buildings
    weather_csv: Path = DEFAULT_WEATHER
    max_body_bytes: int = 32 * 1024 * 1024
    max_rows: int = Field(default=200_000, ge=1)
    # HMAC key of the registered models' artefacts (services/ml_engine/signing.py): train-baseline signs
    # with it, the engine and train-baseline's gate load nothing that does not verify with it. Required in
    # production; elsewhere a missing key makes every model refused (and registering one fails)
    model_signing_key: SecretStr | None = None
    # scoring requests (/invocations, /api/v1/predict) per client (bearer token + address) and minute; 0 = off.
    # The write token (flows) has its own budget, 0 = not limited
    rate_limit_per_minute: int = Field(default=120, ge=0)
    rate_limit_write_per_minute: int = Field(default=0, ge=0, description="the same budget for requests with the "
                                             "write token (API_TOKEN); 0 = not limited")
    # the reverse proxies whose X-Forwarded-For gives the client's address (services/ml_engine/proxies.py):
    # comma-separated IP addresses, CIDR networks or host names (compose: ml-engine-lb); empty = none
    trusted_proxies: str = Field(default="", description="reverse proxies whose X-Forwarded-For names the client "
                                 "(IPs, CIDR networks or host names, comma-separated; compose: ml-engine-lb); "
                                 "empty = none")

    @field_validator("model_cache_dir", "model_signing_key", mode="before")
    @classmethod
    def _empty_is_off(cls, value: object) -> object:
        return None if value in ("", None) else value

    @model_validator(mode="after")
    def _signing_key_is_real(self) -> MLEngineSettings:
        key = self.model_signing_key.get_secret_value().strip() if self.model_signing_key else ""
        if key and key.lower() in PLACEHOLDER_SECRETS:
            raise ValueError("MODEL_SIGNING_KEY is a placeholder; set a real secret (make up writes one to .env)")
        if self.environment == "production" and len(key) < MIN_PRODUCTION_KEY:
            raise ValueError(f"MODEL_SIGNING_KEY must be set to at least {MIN_PRODUCTION_KEY} characters in "
                             "production (make up writes one to .env)")
        return self


@lru_cache(maxsize=1)
def get_settings() -> MLEngineSettings:
    return MLEngineSettings()  # type: ignore[call-arg]

"""Settings base shared by every service (pydantic-settings): read from the environment and an
optional ``.env`` file, validated at start so a missing or placeholder secret fails fast."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, DotEnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "token", "placeholder"}

# Every process the project starts runs offline and quiet (see ../shared/STACK-NOTES.md).
OFFLINE_ENV: dict[str, str] = {
    "DO_NOT_TRACK": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "HAYSTACK_TELEMETRY_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}


def apply_offline_env() -> None:
    """Set the telemetry-off variables in this process (and so in its children) unless already set."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


# The .env file every setting reads: this variable's path (empty: none; the test suite sets it empty, so
# tests never read the checkout's .env; make up points its processes at its own), else .env in the cwd.
ENV_FILE_VARIABLE = "CARBON_NEXUS_ENV_FILE"


def env_file_source(settings_cls: type[BaseSettings], dotenv: PydanticBaseSettingsSource) -> PydanticBaseSettingsSource:
    """``dotenv`` re-pointed at ``CARBON_NEXUS_ENV_FILE`` when that is set and no ``_env_file`` was given."""
    if ENV_FILE_VARIABLE not in os.environ or not isinstance(dotenv, DotEnvSettingsSource) \
            or dotenv.env_file != settings_cls.model_config.get("env_file"):
        return dotenv
    return DotEnvSettingsSource(settings_cls, env_file=os.environ[ENV_FILE_VARIABLE] or None)


class ServiceSettings(BaseSettings):
    """Fields every service has. Subclasses set ``model_config`` with their own ``env_prefix``
    for service-specific settings; the shared addresses below are read without a prefix."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, env_file_source(settings_cls, dotenv_settings), file_secret_settings

    environment: Literal["development", "test", "production"] = "development"
    service_name: str = "carbon-nexus"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_json: bool = True
    # also write the log to this file, rotated at 10 MB x 3 (compose: the orchestration-logs volume)
    log_file: Path | None = None
    # Bearer token of the write role: every request but health, readiness and docs needs a token, and
    # writes (POST/PUT/PATCH/DELETE) need this one; it also reads. Services send it to each other. No
    # default: a service without one refuses to start.
    api_token: SecretStr
    # Bearer token of the read role: GET/HEAD/OPTIONS, /metrics and the read POSTs (predictions, chat,
    # WebSocket tickets), never a change to stored state (403). Unset: reads need API_TOKEN. Must differ
    # from API_TOKEN.
    read_token: SecretStr | None = None
    max_body_bytes: int = 256 * 1024 * 1024
    cors_origins: list[str] = ["http://127.0.0.1:5173", "http://localhost:5173"]

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> ServiceSettings:
        token = self.api_token.get_secret_value().strip()
        if token.lower() in PLACEHOLDER_SECRETS:
            raise ValueError("API_TOKEN is empty or a placeholder; set a real secret (make up writes one to .env)")
        if self.environment == "production" and len(token) < 24:
            raise ValueError("API_TOKEN must be at least 24 characters in production")
        if self.read_token is not None:
            read = self.read_token.get_secret_value().strip()
            if read.lower() in PLACEHOLDER_SECRETS:
                raise ValueError("READ_TOKEN is empty or a placeholder; set a real secret or leave it unset")
            if self.environment == "production" and len(read) < 24:
                raise ValueError("READ_TOKEN must be at least 24 characters in production")
            if read == token:
                raise ValueError("READ_TOKEN must differ from API_TOKEN (the read role would get the write role)")
        return self

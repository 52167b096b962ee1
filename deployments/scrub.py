"""Scrub secrets from what Prefect stored before they stopped travelling as run parameters:
``python -m deployments.scrub`` (``--dry-run``: count only). ``python -m deployments.serve`` runs it first.

Until issue #15 the ``ingest-files`` subflow, the scan's and the predict flow's tasks took the API token as a
parameter, and Prefect stores parameters in plain text (API, UI, the orchestration engine's
``/api/v1/flow-runs``). The secrets looked for are the ones this process is configured with: ``API_TOKEN``,
``READ_TOKEN``, ``PREFECT_API_AUTH_STRING`` (and its password), ``MLFLOW_TRACKING_PASSWORD``,
``MODEL_SIGNING_KEY``, ``POSTGRES_PASSWORD`` and ``GRAFANA_ADMIN_PASSWORD`` (environment or ``.env``).

Through Prefect's API (``PREFECT_API_URL``, ``PREFECT_API_AUTH_STRING``):

* flow runs whose parameters have secret-looking keys (token, password, secret, key, auth, credential) or
  contain a secret value: those parameters are replaced by ``[redacted]`` (``PATCH /flow_runs/{id}``;
  the run, its states and its logs are kept);
* task runs whose stored record contains a secret value (Prefect stores references to task inputs, not
  their values, so none is expected): deleted;
* artifacts containing a secret value: deleted;
* log lines containing a secret value are counted: Prefect 3.9 has no API to delete or edit them (they go
  with their flow run, by the server's vacuum). The command exits 1 when any is left, so that an operator
  sees it. (Prefect's events carry no run parameters: tests/security/test_flow_secrets.py searches them.)

Idempotent and cheap when there is nothing to do (logs and events are found with Prefect's text search).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from prefect.client.orchestration import PrefectClient, get_client
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.orchestration.prefect_api import REDACTED, SECRET_NAME, redact

PAGE = 200


class ScrubSettings(BaseSettings):
    """The secrets to look for (environment variables, optionally ``.env``); unset ones are skipped."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    api_token: SecretStr | None = None
    read_token: SecretStr | None = None
    prefect_api_auth_string: SecretStr | None = None
    mlflow_tracking_password: SecretStr | None = None
    model_signing_key: SecretStr | None = None
    postgres_password: SecretStr | None = None
    grafana_admin_password: SecretStr | None = None

    def secrets(self) -> list[str]:
        out: set[str] = set()
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None or not value.get_secret_value():
                continue
            out.add(value.get_secret_value())
            if name == "prefect_api_auth_string" and value.get_secret_value().partition(":")[2]:
                out.add(value.get_secret_value().partition(":")[2])
        return sorted(out)


def _contains(value: Any, secrets: list[str]) -> bool:
    text = json.dumps(value, default=str)
    return any(secret in text or json.dumps(secret)[1:-1] in text for secret in secrets)


def _secret_keys(value: Any) -> bool:
    if isinstance(value, dict):
        return any((SECRET_NAME.search(str(k)) and v != REDACTED) or _secret_keys(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_secret_keys(v) for v in value)
    return False


async def _pages(client: PrefectClient, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    offset = 0
    while True:
        response = await client.request("POST", path, json={**body, "limit": PAGE, "offset": offset})  # type: ignore[arg-type]
        response.raise_for_status()
        page = response.json()
        out.extend(page)
        if len(page) < PAGE:
            return out
        offset += PAGE


def _query(secret: str) -> str | None:
    """Prefect's text search (a quoted phrase, at most 200 characters); None if the secret cannot be one."""
    return f'"{secret}"' if '"' not in secret and len(secret) <= 198 and secret.strip() == secret else None


async def _logs(client: PrefectClient, secrets: list[str]) -> int:
    found: set[str] = set()
    for secret in secrets:
        query = _query(secret)
        body: dict[str, Any] = {"logs": {"text": {"query": query}}} if query else {}
        for log in await _pages(client, "/logs/filter", {**body, "sort": "TIMESTAMP_ASC"}):
            if _contains(log.get("message"), secrets):
                found.add(str(log["id"]))
    return len(found)


async def scrub(client: PrefectClient, secrets: list[str], dry_run: bool = False) -> dict[str, int]:
    """Redact or delete what holds a secret; the counts of what was found (and changed unless ``dry_run``)."""
    counts = {"flow_runs_redacted": 0, "task_runs_deleted": 0, "artifacts_deleted": 0,
              "log_lines_left": 0}
    for run in await _pages(client, "/flow_runs/filter", {"sort": "ID_DESC"}):
        parameters = run.get("parameters") or {}
        if _secret_keys(parameters) or _contains(parameters, secrets):
            counts["flow_runs_redacted"] += 1
            if not dry_run:
                await client.update_flow_run(run["id"], parameters=redact(parameters, secrets))
    if secrets:
        for task_run in await _pages(client, "/task_runs/filter", {"sort": "ID_DESC"}):
            if _contains(task_run, secrets):
                counts["task_runs_deleted"] += 1
                if not dry_run:
                    await client.delete_task_run(task_run["id"])
        for artifact in await _pages(client, "/artifacts/filter", {"sort": "ID_DESC"}):
            if _contains(artifact, secrets):
                counts["artifacts_deleted"] += 1
                if not dry_run:
                    await client.delete_artifact(artifact["id"])
        counts["log_lines_left"] = await _logs(client, secrets)
    return counts


async def run(dry_run: bool = False) -> dict[str, int]:
    async with get_client() as client:
        return await scrub(client, ScrubSettings().secrets(), dry_run=dry_run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Redact or delete secrets stored by Prefect (flow-run "
                                                 "parameters, task runs, artifacts); count log lines and events.")
    parser.add_argument("--dry-run", action="store_true", help="count only, change nothing")
    args = parser.parse_args(argv)
    counts = asyncio.run(run(args.dry_run))
    print(json.dumps(counts))
    return 1 if counts["log_lines_left"] else 0


if __name__ == "__main__":
    sys.exit(main())

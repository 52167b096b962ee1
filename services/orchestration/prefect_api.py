"""The Prefect side of the orchestration engine: deployments with their schedules, recent flow runs, and
manual triggers, through Prefect's own client against ``PREFECT_API_URL`` (with ``PREFECT_API_AUTH_STRING``
as HTTP Basic auth when set).

No answer carries a secret: parameters whose names look secret (token, password, secret, key, auth,
credential) and any value containing one of the engine's configured secrets are redacted, so a run stored
before secrets stopped travelling as parameters (or one triggered with a stray secret) shows nothing."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import ObjectNotFound
from pydantic import SecretStr

from services.common.errors import NotFound, Unprocessable

if TYPE_CHECKING:
    from services.orchestration.settings import OrchestrationSettings

SECRET_NAME = re.compile(r"token|passw|secret|key|auth|credential", re.IGNORECASE)
REDACTED = "[redacted]"


def secret_values(settings: Any) -> list[str]:
    """Every secret of these settings (each ``SecretStr`` field; of a ``user:password`` auth string, the
    password too)."""
    out: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name, None)
        if isinstance(value, SecretStr) and value.get_secret_value():
            secret = value.get_secret_value()
            out.append(secret)
            if "auth_string" in name and ":" in secret and secret.split(":", 1)[1]:
                out.append(secret.split(":", 1)[1])
    return out


def redact(value: Any, secrets: Sequence[str]) -> Any:
    """``value`` with secret-looking keys and any string containing a secret replaced by ``[redacted]``."""
    if isinstance(value, dict):
        return {k: REDACTED if SECRET_NAME.search(str(k)) else redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, secrets) for v in value]
    if isinstance(value, str) and any(secret in value for secret in secrets):
        return REDACTED
    return value


def get_client(settings: OrchestrationSettings) -> PrefectClient:
    """A client of exactly this Prefect API (never the temporary server Prefect starts when no URL is set),
    sending ``PREFECT_API_AUTH_STRING`` as HTTP Basic auth when set."""
    auth = settings.prefect_api_auth_string
    return PrefectClient(api=settings.prefect_api_url, auth_string=auth.get_secret_value() if auth else None)


def _schedule(item: Any) -> dict[str, Any]:
    schedule = item.schedule
    out: dict[str, Any] = {"active": item.active}
    for attr in ("cron", "interval", "rrule", "timezone"):
        value = getattr(schedule, attr, None)
        if value is not None:
            out[attr] = value.total_seconds() if attr == "interval" else value
    return out


async def deployments(settings: OrchestrationSettings) -> list[dict[str, Any]]:
    ui_url, secrets = settings.prefect_ui_url, secret_values(settings)
    async with get_client(settings) as client:
        items = await client.read_deployments(limit=200)
        flows = {f.id: f.name for f in await client.read_flows(limit=200)}
    out = []
    for d in sorted(items, key=lambda d: (flows.get(d.flow_id, ""), d.name)):
        out.append({"id": str(d.id), "name": f"{flows.get(d.flow_id, '?')}/{d.name}", "flow": flows.get(d.flow_id),
                    "deployment": d.name, "description": d.description, "tags": d.tags, "paused": d.paused,
                    "parameters": redact(d.parameters, secrets), "schedules": [_schedule(s) for s in d.schedules],
                    "status": str(d.status.value) if d.status else None,
                    "ui": f"{ui_url.rstrip('/')}/deployments/deployment/{d.id}"})
    return out


def _run(run: Any, settings: OrchestrationSettings, names: dict[UUID, str]) -> dict[str, Any]:
    ui_url = settings.prefect_ui_url
    return {"id": str(run.id), "name": run.name, "deployment": names.get(run.deployment_id) if run.deployment_id else None,
            "state": run.state_name, "state_type": str(run.state_type.value) if run.state_type else None,
            "expected_start_time": run.expected_start_time.isoformat() if run.expected_start_time else None,
            "start_time": run.start_time.isoformat() if run.start_time else None,
            "end_time": run.end_time.isoformat() if run.end_time else None,
            "duration_s": run.total_run_time.total_seconds() if run.total_run_time else None,
            "parameters": redact(run.parameters, secret_values(settings)), "ui": f"{ui_url.rstrip('/')}/runs/flow-run/{run.id}"}


async def flow_runs(settings: OrchestrationSettings, limit: int) -> list[dict[str, Any]]:
    async with get_client(settings) as client:
        runs = await client.read_flow_runs(sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=limit)
        items = await client.read_deployments(limit=200)
        flows = {f.id: f.name for f in await client.read_flows(limit=200)}
    names = {d.id: f"{flows.get(d.flow_id, '?')}/{d.name}" for d in items}
    return [_run(r, settings, names) for r in runs]


async def flow_run(settings: OrchestrationSettings, run_id: str) -> dict[str, Any]:
    """One flow run in the shape of ``flow_runs``; NotFound if ``run_id`` is not a UUID or no run has it."""
    try:
        uid = UUID(run_id)
    except ValueError as exc:
        raise NotFound(f"no flow run {run_id!r}: flow run ids are UUIDs", flow_run=run_id) from exc
    async with get_client(settings) as client:
        try:
            run = await client.read_flow_run(uid)
        except ObjectNotFound as exc:
            raise NotFound(f"no flow run {run_id}", flow_run=run_id) from exc
        names: dict[UUID, str] = {}
        if run.deployment_id:
            try:
                deployment = await client.read_deployment(run.deployment_id)
                flow = await client.read_flow(deployment.flow_id)
            except ObjectNotFound:  # the deployment was deleted since: the run is still shown
                pass
            else:
                names[deployment.id] = f"{flow.name}/{deployment.name}"
    return _run(run, settings, names)


async def trigger(settings: OrchestrationSettings, name: str, parameters: dict[str, Any],
                  idempotency_key: str | None) -> dict[str, Any]:
    """Create a flow run of ``flow/deployment`` (or a deployment name unique across flows)."""
    async with get_client(settings) as client:
        if "/" not in name:
            matches = [d for d in await client.read_deployments(limit=200) if d.name == name]
            if len(matches) != 1:
                raise NotFound(f"no single deployment named {name!r}; use 'flow/deployment'", deployment=name)
            deployment = matches[0]
            flow = await client.read_flow(deployment.flow_id)
            name = f"{flow.name}/{deployment.name}"
        else:
            try:
                deployment = await client.read_deployment_by_name(name)
            except ObjectNotFound as exc:
                raise NotFound(f"no deployment {name!r}", deployment=name) from exc
        unknown = sorted(set(parameters) - set((deployment.parameter_openapi_schema or {}).get("properties", {})))
        if unknown:
            raise Unprocessable(f"unknown parameters for {name}: {unknown}", field="parameters")
        run = await client.create_flow_run_from_deployment(deployment.id, parameters=parameters or None,
                                                           idempotency_key=idempotency_key)
    return _run(run, settings, {deployment.id: name})

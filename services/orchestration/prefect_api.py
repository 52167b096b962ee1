"""The Prefect side of the orchestration engine: deployments with their schedules, recent flow runs, and
manual triggers, through Prefect's own client against ``PREFECT_API_URL``."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import ObjectNotFound

from services.common.errors import NotFound, Unprocessable


def get_client(api_url: str) -> PrefectClient:
    """A client of exactly this Prefect API (never the temporary server Prefect starts when no URL is set)."""
    return PrefectClient(api=api_url)


def _schedule(item: Any) -> dict[str, Any]:
    schedule = item.schedule
    out: dict[str, Any] = {"active": item.active}
    for attr in ("cron", "interval", "rrule", "timezone"):
        value = getattr(schedule, attr, None)
        if value is not None:
            out[attr] = value.total_seconds() if attr == "interval" else value
    return out


async def deployments(api_url: str, ui_url: str) -> list[dict[str, Any]]:
    async with get_client(api_url) as client:
        items = await client.read_deployments(limit=200)
        flows = {f.id: f.name for f in await client.read_flows(limit=200)}
    out = []
    for d in sorted(items, key=lambda d: (flows.get(d.flow_id, ""), d.name)):
        out.append({"id": str(d.id), "name": f"{flows.get(d.flow_id, '?')}/{d.name}", "flow": flows.get(d.flow_id),
                    "deployment": d.name, "description": d.description, "tags": d.tags, "paused": d.paused,
                    "parameters": d.parameters, "schedules": [_schedule(s) for s in d.schedules],
                    "status": str(d.status.value) if d.status else None,
                    "ui": f"{ui_url.rstrip('/')}/deployments/deployment/{d.id}"})
    return out


def _run(run: Any, ui_url: str, names: dict[UUID, str]) -> dict[str, Any]:
    return {"id": str(run.id), "name": run.name, "deployment": names.get(run.deployment_id) if run.deployment_id else None,
            "state": run.state_name, "state_type": str(run.state_type.value) if run.state_type else None,
            "expected_start_time": run.expected_start_time.isoformat() if run.expected_start_time else None,
            "start_time": run.start_time.isoformat() if run.start_time else None,
            "end_time": run.end_time.isoformat() if run.end_time else None,
            "duration_s": run.total_run_time.total_seconds() if run.total_run_time else None,
            "parameters": run.parameters, "ui": f"{ui_url.rstrip('/')}/runs/flow-run/{run.id}"}


async def flow_runs(api_url: str, ui_url: str, limit: int) -> list[dict[str, Any]]:
    async with get_client(api_url) as client:
        runs = await client.read_flow_runs(sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=limit)
        items = await client.read_deployments(limit=200)
        flows = {f.id: f.name for f in await client.read_flows(limit=200)}
    names = {d.id: f"{flows.get(d.flow_id, '?')}/{d.name}" for d in items}
    return [_run(r, ui_url, names) for r in runs]


async def flow_run(api_url: str, ui_url: str, run_id: str) -> dict[str, Any]:
    """One flow run in the shape of ``flow_runs``; NotFound if ``run_id`` is not a UUID or no run has it."""
    try:
        uid = UUID(run_id)
    except ValueError as exc:
        raise NotFound(f"no flow run {run_id!r}: flow run ids are UUIDs", flow_run=run_id) from exc
    async with get_client(api_url) as client:
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
    return _run(run, ui_url, names)


async def trigger(api_url: str, name: str, parameters: dict[str, Any], ui_url: str, idempotency_key: str | None) -> dict[str, Any]:
    """Create a flow run of ``flow/deployment`` (or a deployment name unique across flows)."""
    async with get_client(api_url) as client:
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
    return _run(run, ui_url, {deployment.id: name})

"""What the orchestration engine does with what comes in: scan results are stored through the data core
(hotspots, then the alerts the rules raise), ingestion events start a targeted scan of their sites, and
every change the data core logged is broadcast. All of it is idempotent: a retried request stores and
broadcasts nothing twice (the data core's episode matching, one alert per hotspot, unique event ids)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import httpx

from services.common.errors import DomainError, ServiceUnavailable
from services.common.alert_rules import AlertRules
from services.orchestration.hub import Hub

log = logging.getLogger(__name__)


class DataCore:
    """The data core over HTTP (async). A 4xx answer is passed on as the same problem; no answer is 503."""

    def __init__(self, url: str, token: str, timeout: float) -> None:
        self.http = httpx.AsyncClient(base_url=url, timeout=timeout, trust_env=False,
                                      headers={"Authorization": f"Bearer {token}"})

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"the data core is unreachable: {type(exc).__name__}", service="data-core") from exc
        if response.status_code >= 500:
            raise ServiceUnavailable(f"the data core failed ({response.status_code})", service="data-core")
        if response.status_code >= 400:
            body = _json(response)
            raise DomainError(body.get("detail") or response.text[:500], status=response.status_code,
                              **{k: v for k, v in body.items() if k not in ("type", "title", "status", "detail",
                                                                             "instance")})
        return response.json()

    async def aclose(self) -> None:
        await self.http.aclose()


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def store_scan(dc: DataCore, hub: Hub, rules: AlertRules, body: dict[str, Any]) -> dict[str, Any]:
    """Store a scan's hotspots and the alerts the rules call for (one data-core transaction), then
    broadcast what the data core logged."""
    synced = await dc.call("POST", "/api/v1/hotspots/sync", json={
        "scan_id": body.get("scan_id"), "scope": body.get("scope") or {}, "hotspots": body.get("hotspots") or [],
        "alert_rules": rules.model_dump()})
    alerts = synced["alerts"]
    hub.publish(synced["events"] + alerts["events"])
    return {"scan_id": synced.get("scan_id"), "counts": synced["counts"],
            "created": [r["id"] for r in synced["results"] if r["action"] == "created"],
            "alerts": {a: sum(r["action"] == a for r in alerts["results"]) for a in ("created", "escalated")},
            "events": len(synced["events"]) + len(alerts["events"])}


class Tail:
    """Keeps the hub in step with the data core's channel logs: loads them at start, then reads what is
    new every ``poll`` seconds or at once when the hub saw a gap (events stored by another replica, or an
    answer lost between the data core and this process)."""

    def __init__(self, dc: DataCore, hub: Hub, *, poll: float, history: int) -> None:
        self.dc, self.hub, self.poll, self.history = dc, hub, poll, history
        self.ready = False
        self.last_error: str | None = None

    async def load(self) -> None:
        for name, channel in self.hub.channels.items():
            body = await self.dc.call("GET", f"/api/v1/streams/{name}", params={"limit": min(self.history, 10_000)})
            channel.reset(body["epoch"], body["last_seq"], body["events"])
        self.ready = True

    async def step(self) -> None:
        if not self.ready:
            await self.load()
            return
        for name, channel in self.hub.channels.items():
            while True:
                body = await self.dc.call("GET", f"/api/v1/streams/{name}",
                                          params={"after": channel.last_seq, "limit": 1000})
                if body["epoch"] != channel.epoch:
                    fresh = await self.dc.call("GET", f"/api/v1/streams/{name}",
                                               params={"limit": min(self.history, 10_000)})
                    channel.reset(fresh["epoch"], fresh["last_seq"], fresh["events"])
                    break
                channel.publish(body["events"])
                if len(body["events"]) < 1000:
                    break

    async def run(self) -> None:
        while True:
            try:
                await self.step()
            except Exception as exc:  # noqa: BLE001 - the data core being down is retried, not fatal
                error = f"{type(exc).__name__}: {exc}"
                if error != self.last_error:  # once per outage, not every poll
                    log.warning("reading the channel logs from the data core failed (%s); retrying every %s s",
                                error, self.poll)
                self.last_error = error
            else:
                if self.last_error is not None:
                    log.info("channel logs readable again")
                self.last_error = None
            self.hub.gap_event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.hub.gap_event.wait(), timeout=self.poll)

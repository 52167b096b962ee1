"""What the orchestration engine does with what comes in: scan results are stored through the data core
(hotspots and the alerts the rules raise, one transaction), and every change the data core logged is
broadcast. All of it is idempotent: a retried request stores and broadcasts nothing twice (the data core's
episode matching, one alert per hotspot, unique event ids). :class:`Tail` keeps the hub in step with the
data core's channel logs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from services.common.alert_rules import AlertRules
from services.common.contracts import ScanResult
from services.common.datacore import AsyncDataCoreClient
from services.orchestration.hub import Hub

log = logging.getLogger(__name__)
PAGE = 1000  # events read per request of a channel log


async def store_scan(dc: AsyncDataCoreClient, hub: Hub, rules: AlertRules, body: ScanResult) -> dict[str, Any]:
    """Store a scan's hotspots and the alerts the rules call for (one data-core transaction), then hand
    what the data core logged to the hub (which broadcasts it from its own tasks)."""
    synced = await dc.sync_hotspots(body.hotspots, body.scope, body.scan_id, rules)
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

    def __init__(self, dc: AsyncDataCoreClient, hub: Hub, *, poll: float, history: int) -> None:
        self.dc, self.hub, self.poll, self.history = dc, hub, poll, history
        self.ready = False
        self.last_error: str | None = None

    async def load(self) -> None:
        for name, channel in self.hub.channels.items():
            body = await self.dc.stream(name, limit=min(self.history, 10_000))
            channel.reset(body["epoch"], body["last_seq"], body["events"])
        self.ready = True

    async def step(self) -> None:
        if not self.ready:
            await self.load()
            return
        for name, channel in self.hub.channels.items():
            while True:
                body = await self.dc.stream(name, after=channel.last_seq, limit=PAGE)
                if body["epoch"] != channel.epoch:
                    fresh = await self.dc.stream(name, limit=min(self.history, 10_000))
                    channel.reset(fresh["epoch"], fresh["last_seq"], fresh["events"])
                    break
                channel.publish(body["events"])
                if len(body["events"]) < PAGE:
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

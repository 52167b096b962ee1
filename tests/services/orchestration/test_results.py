"""Scan results in (``results.py``, ``routes/results.py``): stored through the data core's one sync call with
the engine's alert rules, what it logged handed to the hub, the outcome counted; a targeted scan's summary
members left out; hotspots validated by the shared contract before anything is stored; the tail keeps the
hub in step with the channel logs."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from services.common.alert_rules import AlertRules
from services.common.contracts import HotspotIn, ScanResult
from services.common.datacore import AsyncDataCoreClient
from services.orchestration.hub import Hub
from services.orchestration.results import Tail, store_scan
from services.orchestration.routes.results import scan_body
from tests.conftest import AUTH
from tests.services.orchestration.conftest import hotspot, orchestration_settings


def _env(channel: str, seq: int, epoch: str = "e1") -> dict[str, Any]:
    return {"channel": channel, "seq": seq, "epoch": epoch, "id": f"{channel}{seq}", "type": "x",
            "ts": "2020-01-01T00:00:00Z", "payload": {}}


class FakeDataCore:
    def __init__(self) -> None:
        self.synced: list[tuple[Any, ...]] = []
        self.logs: dict[str, list[dict[str, Any]]] = {"hotspots": [], "alerts": [], "recs": []}
        self.epoch = "e1"

    async def sync_hotspots(self, hotspots: Any, scope: Any, scan_id: Any, rules: Any) -> dict[str, Any]:
        self.synced.append((hotspots, scope, scan_id, rules))
        return {"scan_id": scan_id, "counts": {"created": 2, "unchanged": 1},
                "results": [{"id": "h1", "action": "created"}, {"id": "h2", "action": "created"},
                            {"id": "h0", "action": "unchanged"}],
                "events": [_env("hotspots", 1), _env("hotspots", 2)],
                "alerts": {"results": [{"action": "created"}, {"action": "escalated"}],
                           "events": [_env("alerts", 1), _env("alerts", 2)]}}

    async def stream(self, channel: str, *, after: int | None = None, limit: int = 1000) -> dict[str, Any]:
        events = [e for e in self.logs[channel] if after is None or e["seq"] > after][:limit]
        last = self.logs[channel][-1]["seq"] if self.logs[channel] else 0
        return {"epoch": self.epoch, "last_seq": last, "events": events}


def test_a_scan_is_stored_in_one_call_with_the_rules_and_its_events_go_to_the_hub() -> None:
    dc, hub = FakeDataCore(), Hub()
    for name in ("hotspots", "alerts"):
        hub.channels[name].reset("e1", 0, [])
    rules = AlertRules(min_severity="high")
    body = ScanResult.model_validate({"scan_id": "s1", "hotspots": [hotspot()], "scope": {"sites": ["b1"]}})
    out = asyncio.run(store_scan(dc, hub, rules, body))  # type: ignore[arg-type]
    [(hotspots, scope, scan_id, sent_rules)] = dc.synced
    assert isinstance(hotspots[0], HotspotIn) and scope.sites == ["b1"] and scan_id == "s1" and sent_rules is rules
    assert out == {"scan_id": "s1", "counts": {"created": 2, "unchanged": 1}, "created": ["h1", "h2"],
                   "alerts": {"created": 1, "escalated": 1}, "events": 4}
    assert hub.channels["hotspots"].last_seq == 2 and hub.channels["alerts"].last_seq == 2


def test_a_targeted_scan_body_keeps_only_the_scan_result_members() -> None:
    found = {"scan_id": "event:e1", "hotspots": [hotspot()], "scope": {"sites": ["b1"], "close_missing": False},
             "filled": 12, "rows": 480}
    body = scan_body(found)
    assert body.scan_id == "event:e1" and len(body.hotspots) == 1 and body.scope.sites == ["b1"]


@pytest.mark.parametrize("bad", [{"hotspots": [hotspot(colour="red")]}, {"hotspots": [hotspot(kind="odd")]},
                                 {"hotspots": [], "extra": 1}, {"scope": {"sites": "b1"}},
                                 {"hotspots": [hotspot(end="2020-01-09T00:00:00Z")]}])
def test_results_are_validated_before_anything_is_stored(bad: dict[str, Any]) -> None:
    from services.orchestration.app import create_app

    calls: list[httpx.Request] = []
    app = create_app(orchestration_settings("http://127.0.0.1:9", stream_poll_seconds=60))
    with TestClient(app, headers=AUTH) as client:
        app.state.dc = AsyncDataCoreClient("http://dc", "t", http=httpx.AsyncClient(
            base_url="http://dc", transport=httpx.MockTransport(lambda r: calls.append(r) or httpx.Response(500))))
        response = client.post("/api/v1/results", json=bad)
    assert response.status_code == 422 and response.headers["content-type"].startswith("application/problem+json")
    assert calls == []


def test_the_tail_loads_the_logs_then_reads_what_is_new_and_follows_a_new_epoch() -> None:
    async def scenario() -> Hub:
        dc, hub = FakeDataCore(), Hub(history_size=10)
        dc.logs["alerts"] = [_env("alerts", s) for s in (1, 2)]
        tail = Tail(dc, hub, poll=60, history=10)  # type: ignore[arg-type]
        await tail.step()  # not ready: loads
        assert tail.ready and hub.channels["alerts"].last_seq == 2
        dc.logs["alerts"].append(_env("alerts", 3))  # stored by another replica
        await tail.step()
        assert hub.channels["alerts"].last_seq == 3
        dc.epoch, dc.logs["alerts"] = "e2", [_env("alerts", 1, "e2")]  # the data core's log was reset
        await tail.step()
        return hub

    hub = asyncio.run(scenario())
    assert hub.channels["alerts"].epoch == "e2" and hub.channels["alerts"].last_seq == 1

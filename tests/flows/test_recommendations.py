"""Recommendation requests: queued by the data core for every new hotspot; the scan's last task sends them
to the chatbot service. While it is absent or down they stay queued (with the attempt recorded); once it
answers, the recommendation is stored and broadcast on /ws/recs. The chatbot service itself is issue #5:
here a minimal stand-in speaks its contract (POST /api/v1/recommendations {"hotspot": ...})."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI
from websockets.sync.client import connect

from tests.conftest import TOKEN, LiveServer
from tests.services.orchestration.conftest import hotspot, recv_events

pytestmark = pytest.mark.integration


def rag_stand_in(seen: list[dict]) -> FastAPI:
    app = FastAPI()

    @app.post("/api/v1/recommendations")
    def recommend(body: dict) -> dict:
        seen.append(body["hotspot"])
        return {"actions": [{"title": f"Check the HVAC schedule of {body['hotspot']['site']}",
                             "citations": ["kb:hvac-schedules"]}]}

    return app


def test_requests_wait_while_the_chatbot_is_down_then_are_answered_and_broadcast(make_stack) -> None:
    from flows.hotspot_scan import request_recommendations

    stack = make_stack()
    created = stack.http.post("/api/v1/results", json={"hotspots": [hotspot(site="b1"), hotspot(site="b2")]}).json()
    assert len(created["created"]) == 2
    # no chatbot configured, then one that refuses connections: everything stays queued
    assert request_recommendations.fn(stack.dc.url, stack.oe.url, None, TOKEN) == {"pending": 2, "answered": 0, "failed": 0}
    down = request_recommendations.fn(stack.dc.url, stack.oe.url, "http://127.0.0.1:9", TOKEN)
    assert down["answered"] == 0 and down["failed"] == 1
    queue = stack.http.get("/api/v1/recommendations", params={"status": "pending"}).json()["recommendations"]
    assert len(queue) == 2 and max(r["attempts"] for r in queue) == 1 and "ConnectError" in (queue[0]["last_error"] or "")
    seen: list[dict] = []
    with LiveServer(rag_stand_in(seen)) as rag, connect(stack.ws_url("recs")) as ws:
        ws.send(json.dumps({"type": "auth", "token": TOKEN}))
        up = request_recommendations.fn(stack.dc.url, stack.oe.url, rag.url, TOKEN)
        events = recv_events(ws, 2)
    assert up == {"pending": 2, "answered": 2, "failed": 0}
    assert sorted(h["site"] for h in seen) == ["b1", "b2"]
    assert {e["type"] for e in events} == {"rec.ready"}
    assert {e["payload"]["hotspot_id"] for e in events} == set(created["created"])
    assert stack.http.get("/api/v1/recommendations", params={"status": "pending"}).json()["count"] == 0
    ready = stack.http.get("/api/v1/recommendations", params={"status": "ready"}).json()["recommendations"]
    assert ready[0]["content"]["actions"][0]["citations"] == ["kb:hvac-schedules"]

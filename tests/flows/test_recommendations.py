"""Recommendation requests: queued by the data core for every new hotspot; the scan's last task sends them
to the chatbot service. While it is absent or down they stay queued (with the attempt recorded); once it
answers, the recommendation is stored and broadcast on /ws/recs. The chatbot is the real service (issue #5,
``POST /api/recommendations {"hotspot": ...}``) on a BM25-only knowledge base (the embedding model is not
needed for recommendations)."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI
from websockets.sync.client import connect

from tests.conftest import AUTH, TOKEN, LiveServer
from tests.services.orchestration.conftest import hotspot, recv_events

pytestmark = pytest.mark.integration


def rag_app(data_core_url: str) -> FastAPI:
    from services.rag.app import create_app
    from services.rag.kb import KnowledgeBase
    from services.rag.settings import REPO_ROOT, RagSettings

    settings = RagSettings(api_token=TOKEN, environment="test", log_json=False, data_core_url=data_core_url)  # type: ignore[call-arg]
    return create_app(settings, kb=KnowledgeBase(REPO_ROOT / "docs" / "kb", embedding_model="none"))


def register_sites(http: httpx.Client) -> None:
    """Sites b1 and b2 with a year of quarterly electricity, so that the chatbot has a baseline."""
    assert http.post("/api/v1/organisations", json={"id": "org", "name": "Org"}).status_code == 201
    for sid in ("b1", "b2"):
        site = {"id": sid, "org_id": "org", "name": sid, "country": "GB", "grid_region": "GB", "floor_area_m2": 1000}
        assert http.post("/api/v1/sites", json=site).status_code == 201
    rows = "site,meter,period,activity_type,quantity,unit\n" + "".join(
        f"{sid},main,2020-Q{q},electricity,{10000 * q},kWh\n" for sid in ("b1", "b2") for q in (1, 2, 3, 4))
    r = http.post("/api/v1/ingest", params={"editions": "DESNZ-2024"},
                  files={"file": ("e.csv", rows.encode(), "text/csv")})
    assert r.status_code == 200 and r.json()["rejected"] == 0, r.text


def _point_at(monkeypatch, stack, rag_url: str | None) -> None:  # type: ignore[no-untyped-def]
    """The task reads the services and the token from settings (never from parameters)."""
    monkeypatch.setenv("API_TOKEN", TOKEN)
    monkeypatch.setenv("DATA_CORE_URL", stack.dc.url)
    monkeypatch.setenv("ORCHESTRATION_URL", stack.oe.url)
    if rag_url is None:
        monkeypatch.delenv("RAG_SERVICE_URL", raising=False)
    else:
        monkeypatch.setenv("RAG_SERVICE_URL", rag_url)


def test_requests_wait_while_the_chatbot_is_down_then_are_answered_and_broadcast(make_stack, monkeypatch) -> None:
    from flows.hotspot_scan import request_recommendations

    stack = make_stack()
    with httpx.Client(base_url=stack.dc.url, headers=AUTH, timeout=30, trust_env=False) as dc:
        register_sites(dc)
    created = stack.http.post("/api/v1/results", json={"hotspots": [hotspot(site="b1"), hotspot(site="b2")]}).json()
    assert len(created["created"]) == 2
    # no chatbot configured, then one that refuses connections: everything stays queued
    _point_at(monkeypatch, stack, None)
    assert request_recommendations.fn() == {"pending": 2, "answered": 0, "failed": 0}
    _point_at(monkeypatch, stack, "http://127.0.0.1:9")
    down = request_recommendations.fn()
    assert down["answered"] == 0 and down["failed"] == 1
    queue = stack.http.get("/api/v1/recommendations", params={"status": "pending"}).json()["recommendations"]
    assert len(queue) == 2 and max(r["attempts"] for r in queue) == 1 and "ConnectError" in (queue[0]["last_error"] or "")
    with LiveServer(rag_app(stack.dc.url)) as rag, connect(stack.ws_url("recs")) as ws:
        ws.send(json.dumps({"type": "auth", "token": TOKEN}))
        _point_at(monkeypatch, stack, rag.url)
        up = request_recommendations.fn()
        events = recv_events(ws, 2)
    assert up == {"pending": 2, "answered": 2, "failed": 0}
    assert {e["type"] for e in events} == {"rec.ready"}
    assert {e["payload"]["hotspot_id"] for e in events} == set(created["created"])
    assert stack.http.get("/api/v1/recommendations", params={"status": "pending"}).json()["count"] == 0
    ready = stack.http.get("/api/v1/recommendations", params={"status": "ready"}).json()["recommendations"]
    content = ready[0]["content"]
    assert content["target"]["activity_type"] == "electricity" and content["target"]["hotspot_kind"] == "above_expected"
    first = content["actions"][0]
    assert first["rank"] == 1 and first["answers_hotspot_kind"] and first["citations"][0]["type"] == "kb"
    assert first["abatement_t_co2e_per_year"]["high"] > 0


def test_a_refused_request_is_recorded_failed_and_does_not_block_the_queue(make_stack, monkeypatch) -> None:
    from flows.hotspot_scan import request_recommendations

    stack = make_stack()
    with httpx.Client(base_url=stack.dc.url, headers=AUTH, timeout=30, trust_env=False) as dc:
        register_sites(dc)
    # b9 is not a site of the data core: the chatbot answers 404 for it, for good
    first = stack.http.post("/api/v1/results", json={"hotspots": [hotspot(site="b9")]}).json()["created"][0]
    second = stack.http.post("/api/v1/results", json={"hotspots": [hotspot(site="b1")]}).json()["created"][0]
    with LiveServer(rag_app(stack.dc.url)) as rag:
        _point_at(monkeypatch, stack, rag.url)
        out = request_recommendations.fn()
    assert out == {"pending": 2, "answered": 1, "failed": 0, "refused": 1}
    failed = stack.http.get("/api/v1/recommendations", params={"status": "failed"}).json()["recommendations"]
    assert [r["hotspot_id"] for r in failed] == [first] and failed[0]["last_error"].startswith("404")
    ready = stack.http.get("/api/v1/recommendations", params={"status": "ready"}).json()["recommendations"]
    assert [r["hotspot_id"] for r in ready] == [second]

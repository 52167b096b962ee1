"""The recommendation routes: a new hotspot queues a pending request until the chatbot's answer is stored."""

from __future__ import annotations

import pytest

from tests.conftest import AUTH, NO_AUTH
from tests.services.data_core.helpers import hotspot_body, problem, send, sync

pytestmark = pytest.mark.integration


def test_new_hotspots_queue_a_recommendation_request_until_answered(client) -> None:
    hotspot_id = sync(client, [hotspot_body()])["results"][0]["id"]
    queue = client.get("/api/v1/recommendations", params={"status": "pending"}).json()["recommendations"]
    assert [r["hotspot_id"] for r in queue] == [hotspot_id] and queue[0]["hotspot"]["site"] == "b1"
    failed = client.put(f"/api/v1/recommendations/{hotspot_id}", json={"status": "pending", "error": "rag down"},
                        headers=AUTH).json()
    assert failed["recommendation"]["attempts"] == 1 and failed["events"] == []
    content = {"actions": [{"title": "Check HVAC schedule", "citations": ["kb:hvac-1"]}]}
    ready = client.put(f"/api/v1/recommendations/{hotspot_id}", json={"status": "ready", "content": content},
                       headers=AUTH).json()
    assert ready["events"][0]["type"] == "rec.ready" and ready["events"][0]["channel"] == "recs"
    assert ready["events"][0]["payload"]["hotspot"]["id"] == hotspot_id
    # the same answer again: nothing changes, no event
    same = client.put(f"/api/v1/recommendations/{hotspot_id}", json={"status": "ready", "content": content},
                      headers=AUTH).json()
    assert same["events"] == [] and same["recommendation"]["attempts"] == 2
    assert client.get("/api/v1/recommendations", params={"status": "pending"}).json()["count"] == 0
    by_id = client.get("/api/v1/recommendations", params={"hotspot_id": hotspot_id}).json()["recommendations"]
    assert [r["status"] for r in by_id] == ["ready"]
    detail = client.get(f"/api/v1/hotspots/{hotspot_id}").json()
    assert detail["recommendation"]["content"] == content and detail["alert"] is None


def test_the_pending_queue_is_oldest_first(client) -> None:
    first = sync(client, [hotspot_body(site="b1")])["results"][0]["id"]
    second = sync(client, [hotspot_body(site="b2")])["results"][0]["id"]
    queue = client.get("/api/v1/recommendations", params={"status": "pending"}).json()["recommendations"]
    assert [r["hotspot_id"] for r in queue] == [first, second]
    newest = client.get("/api/v1/recommendations").json()["recommendations"]
    assert [r["hotspot_id"] for r in newest] == [second, first]


@pytest.mark.parametrize(("body", "status"), [
    ({"status": "ready"}, 422),
    ({"status": "failed"}, 404),
    ('{"status": "ready", "content": {"x": Infinity}}', 422),
], ids=["ready-without-content", "no-request", "infinity"])
def test_bad_input_is_a_problem_answer(client, body, status) -> None:
    problem(send(client, "put", "/api/v1/recommendations/missing", body), status)


def test_storing_an_answer_needs_the_token(client) -> None:
    assert client.put("/api/v1/recommendations/x", json={"status": "failed"}, headers=NO_AUTH).status_code == 401

"""The alert routes: raised once per hotspot, escalated by a higher severity, acknowledged then resolved."""

from __future__ import annotations

import pytest

from tests.conftest import AUTH, NO_AUTH
from tests.services.data_core.helpers import hotspot_body, problem, send, sync

pytestmark = pytest.mark.integration


def test_alerts_raise_once_escalate_and_follow_their_states(client) -> None:
    hotspot_id = sync(client, [hotspot_body()])["results"][0]["id"]
    body = {"alerts": [{"hotspot_id": hotspot_id, "rule": "default", "severity": "medium", "title": "b1 above"}]}
    raised = client.put("/api/v1/alerts", json=body, headers=AUTH).json()
    alert_id = raised["results"][0]["id"]
    assert [e["type"] for e in raised["events"]] == ["alert.raised"]
    assert raised["events"][0]["payload"]["hotspot"]["site"] == "b1"
    assert client.put("/api/v1/alerts", json=body, headers=AUTH).json()["events"] == []  # idempotent
    body["alerts"][0]["severity"] = "critical"
    assert [e["type"] for e in client.put("/api/v1/alerts", json=body, headers=AUTH).json()["events"]] == ["alert.escalated"]
    ack = client.post(f"/api/v1/alerts/{alert_id}/acknowledge", json={"by": "ops", "note": "looking"}, headers=AUTH)
    assert ack.status_code == 200 and ack.json()["alert"]["status"] == "acknowledged"
    assert ack.json()["alert"]["acknowledged_by"] == "ops"
    assert client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=AUTH).json()["events"] == []
    done = client.post(f"/api/v1/alerts/{alert_id}/resolve", json={"by": "ops"}, headers=AUTH).json()
    assert done["alert"]["status"] == "resolved" and done["events"][0]["type"] == "alert.resolved"
    again = client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=AUTH)
    assert again.status_code == 409 and again.headers["content-type"].startswith("application/problem+json")
    listed = client.get("/api/v1/alerts", params={"status": "resolved"}).json()["alerts"]
    assert [a["id"] for a in listed] == [alert_id] and listed[0]["hotspot"]["id"] == hotspot_id
    one = client.get(f"/api/v1/alerts/{alert_id}").json()
    assert one["status"] == "resolved" and one["note"] == "looking" and one["hotspot"]["site"] == "b1"
    assert client.get("/api/v1/alerts", params={"site": "elsewhere"}).json()["count"] == 0


@pytest.mark.parametrize(("method", "path", "body", "status"), [
    ("put", "/api/v1/alerts", {"alerts": [{"hotspot_id": "missing", "rule": "r", "severity": "low", "title": "t"}]}, 422),
    ("put", "/api/v1/alerts", {"alerts": [{"hotspot_id": "x", "rule": "r", "severity": "dire", "title": "t"}]}, 422),
    ("post", "/api/v1/alerts/missing/resolve", {}, 404),
    ("post", "/api/v1/alerts/missing/acknowledge", {"by": "ops", "extra": 1}, 422),
], ids=["unknown-hotspot", "severity", "missing-alert", "extra-member"])
def test_bad_input_is_a_problem_answer(client, method, path, body, status) -> None:
    problem(send(client, method, path, body), status)


def test_alert_writes_need_the_token(client) -> None:
    assert client.put("/api/v1/alerts", json={"alerts": []}, headers=NO_AUTH).status_code == 401
    assert client.post("/api/v1/alerts/x/resolve", headers=NO_AUTH).status_code == 401

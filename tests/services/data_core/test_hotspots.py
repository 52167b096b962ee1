"""Hotspots, alerts and recommendations in the data core: episodes are updated rather than raised again,
closed when they end, alerts follow their state machine, and every change lands in the channel log once."""

from __future__ import annotations

import json

import pytest

from tests.conftest import AUTH, NO_AUTH
from tests.services.data_core.helpers import problem

pytestmark = pytest.mark.integration


def _hotspot(site="b1", start="2020-01-10T00:00:00Z", end="2020-01-11T00:00:00Z", ongoing=True, severity="medium",
             kind="above_expected", excess=120.0):
    return {"kind": kind, "site": site, "meter": "main", "activity_type": "electricity", "period_start": start,
            "period_end": end, "ongoing": ongoing, "severity": severity, "excess_kwh": excess,
            "excess_kg": excess * 0.2, "model_version": "3", "evidence": {"excess_ratio": 0.4, "hours": 24}}


def _sync(client, hotspots, **scope):
    response = client.post("/api/v1/hotspots/sync", json={"hotspots": hotspots, "scope": scope}, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


def test_an_episode_is_created_updated_then_closed_and_logged_once(client) -> None:
    first = _sync(client, [_hotspot()])
    assert first["counts"] == {"created": 1, "updated": 0, "closed": 0, "unchanged": 0}
    hotspot_id = first["results"][0]["id"]
    assert [e["type"] for e in first["events"]] == ["hotspot.opened"] and first["events"][0]["seq"] >= 1
    # the same scan again: nothing changes, no event
    again = _sync(client, [_hotspot()])
    assert again["counts"]["unchanged"] == 1 and again["events"] == []
    # the episode grows (next hourly scan): same id, new revision, period extended
    grown = _sync(client, [_hotspot(end="2020-01-11T06:00:00Z", excess=180.0, severity="high")])
    assert grown["results"][0]["id"] == hotspot_id and grown["results"][0]["action"] == "updated"
    assert grown["results"][0]["hotspot"]["revision"] == 2
    assert grown["results"][0]["hotspot"]["period_end"] == "2020-01-11T06:00:00Z"
    # a later scan sees it ended: closed, keeps its worst severity
    ended = _sync(client, [_hotspot(end="2020-01-11T08:00:00Z", ongoing=False, severity="low")])
    closed = ended["results"][0]
    assert closed["action"] == "closed" and closed["hotspot"]["status"] == "closed"
    assert closed["hotspot"]["severity"] == "high"
    log = client.get("/api/v1/streams/hotspots", params={"after": 0}).json()
    assert [e["type"] for e in log["events"]] == ["hotspot.opened", "hotspot.updated", "hotspot.closed"]
    seqs = [e["seq"] for e in log["events"]]
    assert seqs == list(range(seqs[0], seqs[0] + 3)) and log["last_seq"] == seqs[-1]
    assert client.get("/api/v1/hotspots", params={"status": "closed"}).json()["count"] == 1


def test_a_scan_closes_what_it_no_longer_finds_in_its_scope_only(client) -> None:
    a = _sync(client, [_hotspot(site="b1"), _hotspot(site="b2")])
    ids = {r["hotspot"]["site"]: r["id"] for r in a["results"]}
    out = _sync(client, [], sites=["b1"], start="2020-01-01T00:00:00Z", end="2020-01-12T00:00:00Z", close_missing=True)
    assert [(r["id"], r["action"]) for r in out["results"]] == [(ids["b1"], "closed")]
    open_now = client.get("/api/v1/hotspots", params={"status": "open"}).json()["hotspots"]
    assert [h["site"] for h in open_now] == ["b2"]


def test_a_separate_later_episode_is_a_new_hotspot(client) -> None:
    _sync(client, [_hotspot(ongoing=False)])
    later = _sync(client, [_hotspot(start="2020-01-15T00:00:00Z", end="2020-01-16T00:00:00Z")])
    assert later["counts"]["created"] == 1
    assert client.get("/api/v1/hotspots").json()["count"] == 2


def test_alerts_raise_once_escalate_and_follow_their_states(client) -> None:
    hotspot_id = _sync(client, [_hotspot()])["results"][0]["id"]
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


def test_new_hotspots_queue_a_recommendation_request_until_answered(client) -> None:
    hotspot_id = _sync(client, [_hotspot()])["results"][0]["id"]
    queue = client.get("/api/v1/recommendations", params={"status": "pending"}).json()["recommendations"]
    assert [r["hotspot_id"] for r in queue] == [hotspot_id] and queue[0]["hotspot"]["site"] == "b1"
    failed = client.put(f"/api/v1/recommendations/{hotspot_id}", json={"status": "pending", "error": "rag down"},
                        headers=AUTH).json()
    assert failed["recommendation"]["attempts"] == 1 and failed["events"] == []
    content = {"actions": [{"title": "Check HVAC schedule", "citations": ["kb:hvac-1"]}]}
    ready = client.put(f"/api/v1/recommendations/{hotspot_id}", json={"status": "ready", "content": content},
                       headers=AUTH).json()
    assert ready["events"][0]["type"] == "rec.ready" and ready["events"][0]["channel"] == "recs"
    assert client.get("/api/v1/recommendations", params={"status": "pending"}).json()["count"] == 0
    detail = client.get(f"/api/v1/hotspots/{hotspot_id}").json()
    assert detail["recommendation"]["content"] == content and detail["alert"] is None


@pytest.mark.parametrize(("path", "method", "body", "status"), [
    ("/api/v1/hotspots/sync", "post", {"hotspots": [{"kind": "nope"}]}, 422),
    ("/api/v1/hotspots/sync", "post", {"hotspots": [_hotspot(start="2020-01-12T00:00:00Z")]}, 422),
    ("/api/v1/alerts", "put", {"alerts": [{"hotspot_id": "missing", "rule": "r", "severity": "low", "title": "t"}]}, 422),
    ("/api/v1/alerts/missing/resolve", "post", {}, 404),
    ("/api/v1/recommendations/missing", "put", {"status": "ready"}, 422),
    ("/api/v1/recommendations/missing", "put", {"status": "failed"}, 404),
    ("/api/v1/hotspots/sync", "post", {"hotspots": [_hotspot(start="2020-01-10T00:00:00", end="2020-01-11T00:00:00Z")]},
     200),  # a naive start is UTC: compared with an aware end, not a crash
    ("/api/v1/hotspots/sync", "post", json.dumps({"hotspots": [{**_hotspot(), "evidence": {"ratio": float("nan")}}]}),
     422),
    ("/api/v1/recommendations/missing", "put", '{"status": "ready", "content": {"x": Infinity}}', 422),
])
def test_bad_input_is_a_problem_answer(client, path, method, body, status) -> None:
    if isinstance(body, str):  # JSON with NaN/Infinity literals (json.loads accepts them)
        response = getattr(client, method)(path, content=body, headers={**AUTH, "Content-Type": "application/json"})
    else:
        response = getattr(client, method)(path, json=body, headers=AUTH)
    if status == 200:
        assert response.status_code == 200, response.text
        return
    problem(response, status)


def test_writes_need_the_token_and_streams_are_per_channel(client) -> None:
    assert client.post("/api/v1/hotspots/sync", json={"hotspots": []}, headers=NO_AUTH).status_code == 401
    assert client.get("/api/v1/streams/nope").status_code == 422
    epochs = {c: client.get(f"/api/v1/streams/{c}").json()["epoch"] for c in ("hotspots", "alerts", "recs")}
    assert len(set(epochs.values())) == 3


def test_concurrent_scans_of_one_site_make_one_episode(make_settings) -> None:
    """Two scans racing on the same site (the hourly scan and an event scan): one hotspot, one alert."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from services.data_core.app import create_app
    from tests.conftest import LiveServer

    rules = {"min_severity": "low"}
    with LiveServer(create_app(make_settings())) as dc, httpx.Client(base_url=dc.url, headers=AUTH, timeout=60,
                                                                       trust_env=False) as http:
        def sync(i: int) -> int:
            body = {"hotspots": [_hotspot(end=f"2020-01-11T0{i % 3}:00:00Z")], "alert_rules": rules}
            return http.post("/api/v1/hotspots/sync", json=body).status_code

        with ThreadPoolExecutor(max_workers=6) as pool:
            codes = list(pool.map(sync, range(12)))
        assert codes == [200] * 12
        assert http.get("/api/v1/hotspots").json()["count"] == 1
        assert http.get("/api/v1/alerts").json()["count"] == 1
        log = http.get("/api/v1/streams/hotspots", params={"after": 0}).json()["events"]
        seqs = [e["seq"] for e in log]
        assert seqs == list(range(1, len(seqs) + 1)) and log[0]["type"] == "hotspot.opened"

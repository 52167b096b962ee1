"""The hotspot routes: a scan's sync updates episodes rather than raising them again, closes them when they
end or go missing, and every change lands in the channel log once."""

from __future__ import annotations

import json

import pytest

from tests.conftest import AUTH, NO_AUTH
from tests.services.data_core.helpers import hotspot_body, problem, send, sync

pytestmark = pytest.mark.integration


def test_an_episode_is_created_updated_then_closed_and_logged_once(client) -> None:
    first = sync(client, [hotspot_body()])
    assert first["counts"] == {"created": 1, "updated": 0, "closed": 0, "unchanged": 0}
    hotspot_id = first["results"][0]["id"]
    assert [e["type"] for e in first["events"]] == ["hotspot.opened"] and first["events"][0]["seq"] >= 1
    # the same scan again: nothing changes, no event
    again = sync(client, [hotspot_body()])
    assert again["counts"]["unchanged"] == 1 and again["events"] == []
    # the episode grows (next hourly scan): same id, new revision, period extended
    grown = sync(client, [hotspot_body(end="2020-01-11T06:00:00Z", excess=180.0, severity="high")])
    assert grown["results"][0]["id"] == hotspot_id and grown["results"][0]["action"] == "updated"
    assert grown["results"][0]["hotspot"]["revision"] == 2
    assert grown["results"][0]["hotspot"]["period_end"] == "2020-01-11T06:00:00Z"
    # a later scan sees it ended: closed, keeps its worst severity
    ended = sync(client, [hotspot_body(end="2020-01-11T08:00:00Z", ongoing=False, severity="low")])
    closed = ended["results"][0]
    assert closed["action"] == "closed" and closed["hotspot"]["status"] == "closed"
    assert closed["hotspot"]["severity"] == "high"
    log = client.get("/api/v1/streams/hotspots", params={"after": 0}).json()
    assert [e["type"] for e in log["events"]] == ["hotspot.opened", "hotspot.updated", "hotspot.closed"]
    seqs = [e["seq"] for e in log["events"]]
    assert seqs == list(range(seqs[0], seqs[0] + 3)) and log["last_seq"] == seqs[-1]
    assert client.get("/api/v1/hotspots", params={"status": "closed"}).json()["count"] == 1


def test_a_scan_closes_what_it_no_longer_finds_in_its_scope_only(client) -> None:
    a = sync(client, [hotspot_body(site="b1"), hotspot_body(site="b2")])
    ids = {r["hotspot"]["site"]: r["id"] for r in a["results"]}
    out = sync(client, [], sites=["b1"], start="2020-01-01T00:00:00Z", end="2020-01-12T00:00:00Z", close_missing=True)
    assert [(r["id"], r["action"]) for r in out["results"]] == [(ids["b1"], "closed")]
    open_now = client.get("/api/v1/hotspots", params={"status": "open"}).json()["hotspots"]
    assert [h["site"] for h in open_now] == ["b2"]


def test_a_separate_later_episode_is_a_new_hotspot(client) -> None:
    sync(client, [hotspot_body(ongoing=False)])
    later = sync(client, [hotspot_body(start="2020-01-15T00:00:00Z", end="2020-01-16T00:00:00Z")])
    assert later["counts"]["created"] == 1
    assert client.get("/api/v1/hotspots").json()["count"] == 2


def test_a_sync_with_alert_rules_raises_the_alerts_in_the_same_answer(client) -> None:
    body = {"hotspots": [hotspot_body(site="b1", severity="high"), hotspot_body(site="b2", severity="high")],
            "alert_rules": {"min_severity": "medium", "sites": {"b2": {"mute": True}}}}
    out = client.post("/api/v1/hotspots/sync", json=body, headers=AUTH).json()
    raised = out["alerts"]["results"]
    assert [(r["action"], r["alert"]["hotspot"]["site"]) for r in raised] == [("created", "b1")]
    assert [e["type"] for e in out["alerts"]["events"]] == ["alert.raised"]
    detail = client.get(f"/api/v1/hotspots/{raised[0]['alert']['hotspot_id']}").json()
    assert detail["alert"]["id"] == raised[0]["id"] and detail["recommendation"]["status"] == "pending"


def test_filters_and_a_missing_hotspot(client) -> None:
    sync(client, [hotspot_body(site="b1"), hotspot_body(site="b2", kind="spike")])
    assert [h["site"] for h in client.get("/api/v1/hotspots", params={"kind": "spike"}).json()["hotspots"]] == ["b2"]
    assert client.get("/api/v1/hotspots", params={"site": ["b1", "b2"], "limit": 1}).json()["count"] == 1
    assert client.get("/api/v1/hotspots", params={"since": "2999-01-01T00:00:00Z"}).json()["count"] == 0
    problem(client.get("/api/v1/hotspots/missing"), 404)


@pytest.mark.parametrize(("body", "status"), [
    ({"hotspots": [{"kind": "nope"}]}, 422),
    ({"hotspots": [hotspot_body(start="2020-01-12T00:00:00Z")]}, 422),
    ({"hotspots": [hotspot_body(start="2020-01-10T00:00:00", end="2020-01-11T00:00:00Z")]},
     200),  # a naive start is UTC: compared with an aware end, not a crash
    (json.dumps({"hotspots": [{**hotspot_body(), "evidence": {"ratio": float("nan")}}]}), 422),
], ids=["kind", "period", "naive", "nan"])
def test_bad_input_is_a_problem_answer(client, body, status) -> None:
    response = send(client, "post", "/api/v1/hotspots/sync", body)
    if status == 200:
        assert response.status_code == 200, response.text
        return
    problem(response, status)


def test_a_sync_needs_the_token(client) -> None:
    assert client.post("/api/v1/hotspots/sync", json={"hotspots": []}, headers=NO_AUTH).status_code == 401


def test_concurrent_scans_of_one_site_make_one_episode(make_settings) -> None:
    """Two scans racing on the same site (the hourly scan and an event scan): one hotspot, one alert."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from services.data_core.app import create_app
    from tests.conftest import LiveServer

    rules = {"min_severity": "low"}
    with LiveServer(create_app(make_settings())) as dc, httpx.Client(base_url=dc.url, headers=AUTH, timeout=60,
                                                                       trust_env=False) as http:
        def post(i: int) -> int:
            body = {"hotspots": [hotspot_body(end=f"2020-01-11T0{i % 3}:00:00Z")], "alert_rules": rules}
            return http.post("/api/v1/hotspots/sync", json=body).status_code

        with ThreadPoolExecutor(max_workers=6) as pool:
            codes = list(pool.map(post, range(12)))
        assert codes == [200] * 12
        assert http.get("/api/v1/hotspots").json()["count"] == 1
        assert http.get("/api/v1/alerts").json()["count"] == 1
        log = http.get("/api/v1/streams/hotspots", params={"after": 0}).json()["events"]
        seqs = [e["seq"] for e in log]
        assert seqs == list(range(1, len(seqs) + 1)) and log[0]["type"] == "hotspot.opened"

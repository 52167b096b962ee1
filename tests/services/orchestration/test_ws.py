"""WebSockets of the orchestration engine with a real server and client: auth, Origin allow-list, the
envelope, resume without loss or duplicates (also across a restart), resync, and REST with problem
answers."""

from __future__ import annotations

import json

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.conftest import TOKEN
from tests.services.orchestration.conftest import hotspot, recv, recv_events

pytestmark = pytest.mark.integration
ENVELOPE = {"channel", "seq", "epoch", "id", "type", "ts", "payload"}


def _auth(ws, **extra):  # type: ignore[no-untyped-def]
    ws.send(json.dumps({"type": "auth", "token": TOKEN, **extra}))
    hello = recv(ws)
    assert hello["type"] == "hello" and set(hello) == ENVELOPE
    return hello


def test_a_scan_result_reaches_hotspot_and_alert_clients(make_stack) -> None:
    stack = make_stack()
    with connect(stack.ws_url("hotspots")) as hs, connect(stack.ws_url("alerts")) as al:
        _auth(hs)
        _auth(al)
        out = stack.http.post("/api/v1/results", json={"scan_id": "t1", "hotspots": [hotspot()]}).json()
        assert out["counts"]["created"] == 1 and out["alerts"]["created"] == 1
        [event] = recv_events(hs, 1)
        assert set(event) == ENVELOPE and event["type"] == "hotspot.opened" and event["payload"]["site"] == "b1"
        [alert] = recv_events(al, 1)
        assert alert["type"] == "alert.raised" and alert["payload"]["hotspot"]["id"] == event["payload"]["id"]
        assert alert["payload"]["severity"] == "high" and "b1 electricity" in alert["payload"]["title"]
        # the same result again (a flow retry): nothing new is stored or sent
        again = stack.http.post("/api/v1/results", json={"scan_id": "t1", "hotspots": [hotspot()]}).json()
        assert again["counts"]["unchanged"] == 1 and again["events"] == 0
        # acknowledging goes out on the alerts channel with the next seq
        ack = stack.http.post(f"/api/v1/alerts/{alert['payload']['id']}/acknowledge", json={"by": "ops"})
        assert ack.status_code == 200 and ack.json()["status"] == "acknowledged"
        [acked] = recv_events(al, 1)
        assert acked["type"] == "alert.acknowledged" and acked["seq"] == alert["seq"] + 1
        ws_ping = {"type": "ping"}
        hs.send(json.dumps(ws_ping))
        assert recv(hs)["type"] == "pong"


def test_low_severity_raises_no_alert_under_the_default_rules(make_stack) -> None:
    stack = make_stack(alert_rules='{"min_severity": "medium", "sites": {"b9": {"mute": true}}}')
    out = stack.http.post("/api/v1/results", json={"hotspots": [hotspot(severity="low"), hotspot(site="b9")]}).json()
    assert out["counts"]["created"] == 2 and out["alerts"]["created"] == 0


def test_tickets_are_short_lived_single_use_and_the_token_is_checked(make_stack) -> None:
    stack = make_stack()
    ticket = stack.http.post("/api/v1/ws-tickets").json()["ticket"]
    with connect(stack.ws_url("alerts", ticket=ticket)) as ws:
        assert recv(ws)["type"] == "hello"
    for url, first in ((stack.ws_url("alerts", ticket=ticket), None),  # used already
                       (stack.ws_url("alerts", ticket="1.2.3"), None),
                       (stack.ws_url("alerts"), {"type": "auth", "token": "wrong"}),
                       (stack.ws_url("alerts"), {"type": "subscribe"})):
        with connect(url) as ws:
            if first:
                ws.send(json.dumps(first))
            with pytest.raises(ConnectionClosed) as closed:
                recv(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert stack.http.post("/api/v1/ws-tickets", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_origins_outside_the_allow_list_are_refused(make_stack) -> None:
    stack = make_stack()
    with pytest.raises(InvalidStatus) as refused:
        connect(stack.ws_url("alerts"), origin="http://evil.example")  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403
    with connect(stack.ws_url("alerts"), origin="http://127.0.0.1:5173") as ws:  # type: ignore[arg-type]
        _auth(ws)


def test_resume_from_last_seq_gets_exactly_what_was_missed(make_stack) -> None:
    stack = make_stack()
    with connect(stack.ws_url("hotspots")) as ws:
        hello = _auth(ws)
        stack.http.post("/api/v1/results", json={"hotspots": [hotspot(site="a")]})
        [seen] = recv_events(ws, 1)
    epoch = hello["epoch"]
    for site in ("b", "c", "d"):
        stack.http.post("/api/v1/results", json={"hotspots": [hotspot(site=site)]})
    with connect(stack.ws_url("hotspots", last_seq=seen["seq"], epoch=epoch)) as ws:
        hello = _auth(ws)
        assert hello["payload"]["resumed"] == 3
        missed = recv_events(ws, 3)
        assert [m["seq"] for m in missed] == [seen["seq"] + 1, seen["seq"] + 2, seen["seq"] + 3]
        assert [m["payload"]["site"] for m in missed] == ["b", "c", "d"]
        stack.http.post("/api/v1/results", json={"hotspots": [hotspot(site="e")]})
        [live] = recv_events(ws, 1)
        assert live["seq"] == seen["seq"] + 4  # no duplicate between replay and live


def test_too_far_behind_or_another_epoch_gets_resync(make_stack) -> None:
    stack = make_stack(ws_history=10)
    stack.http.post("/api/v1/results", json={"hotspots": [hotspot(site=f"s{i}") for i in range(15)]})
    with connect(stack.ws_url("hotspots", last_seq=1)) as ws:
        _auth(ws)
        resync = recv(ws)
        assert resync["type"] == "resync" and "too far behind" in resync["payload"]["reason"]
    with connect(stack.ws_url("hotspots", last_seq=14, epoch="other")) as ws:
        _auth(ws)
        assert recv(ws)["type"] == "resync"


def test_a_restarted_engine_resumes_clients_without_loss_or_duplicates(make_stack, make_settings) -> None:
    from services.orchestration.app import create_app
    from tests.conftest import LiveServer
    from tests.services.orchestration.conftest import orchestration_settings

    stack = make_stack()
    with connect(stack.ws_url("alerts")) as ws:
        hello = _auth(ws)
        stack.http.post("/api/v1/results", json={"hotspots": [hotspot(site="a")]})
        [first] = recv_events(ws, 1)
    stack.oe.__exit__(None, None, None)  # the engine stops; what happens meanwhile is in the data core
    import httpx

    with LiveServer(create_app(orchestration_settings(stack.dc.url))) as again:
        with httpx.Client(base_url=again.url, headers=stack.http.headers, trust_env=False) as http:
            http.post("/api/v1/results", json={"hotspots": [hotspot(site=s) for s in ("b", "c")]})
        url = again.url.replace("http", "ws") + f"/ws/alerts?last_seq={first['seq']}&epoch={hello['epoch']}"
        with connect(url) as ws:
            assert _auth(ws)["epoch"] == hello["epoch"]
            got = recv_events(ws, 2)
    assert [g["seq"] for g in got] == [first["seq"] + 1, first["seq"] + 2]
    assert [g["payload"]["hotspot"]["site"] for g in got] == ["b", "c"]
    stack.oe.__enter__ = lambda: None  # already stopped; the fixture's exit is harmless


@pytest.mark.parametrize(("method", "path", "body", "status"), [
    ("post", "/api/v1/results", {"hotspots": [{"kind": "above_expected"}]}, 422),
    ("post", "/api/v1/results", {"hotspots": "nope"}, 422),
    ("post", "/api/v1/events", {"event_id": "x"}, 422),
    ("post", "/api/v1/alerts/missing/resolve", {}, 404),
    ("post", "/api/v1/recommendations/missing", {"status": "ready"}, 422),
    ("get", "/api/v1/deployments", None, 503),
    ("post", "/api/v1/deployments/hotspot-scan/hotspot-scan/run", {}, 503),
])
def test_bad_input_and_absent_dependencies_are_problem_answers(make_stack, method, path, body, status) -> None:
    stack = make_stack()
    response = stack.http.request(method.upper(), path, json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


def test_bad_tickets_and_binary_frames_do_not_break_the_server(make_stack) -> None:
    stack = make_stack()
    with connect(stack.ws_url("alerts", ticket="1.x.\u00e9")) as ws:  # non-ASCII signature
        with pytest.raises(ConnectionClosed) as closed:
            recv(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    with connect(stack.ws_url("alerts")) as ws:
        _auth(ws)
        ws.send(b"\x00\x01")  # binary where text is expected: this client ends, the server does not
    with connect(stack.ws_url("alerts")) as ws:
        _auth(ws)
    bad = stack.http.post("/api/v1/deployments/a/b/c/run", json={})
    assert bad.status_code in (404, 503) and bad.headers["content-type"].startswith("application/problem+json")
    assert stack.http.get("/api/v1/hotspots/..").status_code in (404, 405)

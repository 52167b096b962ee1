"""Limits decided before parsing (issue #15, item 6): body sizes per service, row caps with paging on the
large reads, rate limits per client on chat, predict and exports, WebSocket frame size and connection cap,
and bounded chat sessions. Every refusal is problem+json."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from services.common.errors import Conflict
from services.rag.chat import Sessions
from tests.conftest import AUTH, TOKEN, LiveServer, free_port
from tests.services.data_core.helpers import ingest, make_site, problem, record

PROBLEM = "application/problem+json"
# the read token of the contract (tests/conftest.py defines it once auth-roles' branch is merged)
READ_TOKEN = os.environ.get("READ_TOKEN", "test-read-token-for-the-suite-0123456789")
READ = {"Authorization": f"Bearer {READ_TOKEN}"}
TWO_MIB = b"x" * (2 * 1024 * 1024)


def _settings(module: str, cls: str, **overrides: Any) -> Any:
    settings_cls = getattr(__import__(module, fromlist=[cls]), cls)
    return settings_cls(**{"api_token": TOKEN, "environment": "test", "log_json": False, **overrides})


def orchestration(**overrides: Any) -> Any:
    from services.orchestration.app import create_app

    settings = _settings("services.orchestration.settings", "OrchestrationSettings",
                         data_core_url="http://127.0.0.1:9", prefect_api_url="http://127.0.0.1:9/api",
                         event_scan=False, **overrides)
    return create_app(settings)


def chatbot(**overrides: Any) -> Any:
    from services.rag.app import create_app

    return create_app(_settings("services.rag.settings", "RagSettings", data_core_url="http://127.0.0.1:9",
                                embedding_model="none", **overrides))


def ml_engine(**overrides: Any) -> Any:
    from services.ml_engine.app import create_app

    return create_app(_settings("services.ml_engine.settings", "MLEngineSettings",
                                mlflow_tracking_uri="http://127.0.0.1:9", model_cache_dir="", **overrides))


def refused(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["detail"]
    return body  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- body limits
@pytest.mark.unit
@pytest.mark.parametrize(("make", "path"), [(orchestration, "/api/v1/events"), (orchestration, "/api/v1/alerts/a/resolve"),
                                            (chatbot, "/api/chat"), (chatbot, "/api/chat/stream")])
def test_a_2_mib_body_with_a_valid_token_is_refused_with_413(make, path) -> None:
    # no lifespan (no ``with``): the refusal comes from middleware, before any route or body parsing
    client = TestClient(make(), raise_server_exceptions=False)
    body = refused(client.post(path, content=TWO_MIB, headers={**AUTH, "Content-Type": "application/json"}), 413)
    assert "1048576" in body["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(4):
            yield TWO_MIB[: 1024 * 1024]

    refused(client.post(path, content=chunks(), headers={**AUTH, "Content-Type": "application/json"}), 413)


@pytest.mark.unit
def test_the_orchestration_engine_passes_large_uploads_and_scan_results_on() -> None:
    app = orchestration()
    client = TestClient(app, raise_server_exceptions=False)
    r = client.post("/api/v1/ingest", content=TWO_MIB, headers={**AUTH, "Content-Type": "text/csv"})
    assert r.status_code != 413  # the data core (unreachable here) decides; its own limit applies
    limits = app.state.settings
    assert (limits.max_body_bytes, limits.ingest_max_body_bytes) == (1024 * 1024, 256 * 1024 * 1024)


# --------------------------------------------------------------------------- row caps and paging
@pytest.fixture
def hourly(client, monkeypatch):
    from services.data_core import paging

    make_site(client, "s1", country="GB")
    ingest(client, [record(timestamp=f"2020-01-01T{h:02d}:00:00Z", quantity=float(h + 1)) for h in range(7)])
    predictions = [{"site": "s1", "activity_type": "electricity", "period_start": f"2020-01-01T{h:02d}:00:00Z",
                    "expected": 1.0} for h in range(7)]
    r = client.put("/api/v1/predictions", json={"model_name": "m", "model_version": "1", "predictions": predictions},
                   headers=AUTH)
    assert r.status_code == 200, r.text
    monkeypatch.setattr(paging, "MAX_JSON_ROWS", 3)
    monkeypatch.setattr(paging, "MAX_CSV_ROWS", 5)
    return client


def _pages(client: Any, path: str, params: dict[str, Any], key: str | None, limit: int) -> list[Any]:
    out: list[Any] = []
    url: str | None = f"{path}?" + "&".join(f"{k}={v}" for k, v in {**params, "limit": limit}.items())
    while url:
        r = client.get(url, headers=AUTH)
        assert r.status_code == 200, r.text
        rows = r.json()[key] if key else r.text.strip().splitlines()[1:]
        assert len(rows) <= limit
        out += rows
        link = r.headers.get("link")
        url = path + link[1:link.index(">")] if link else None
        if key:
            assert r.json().get("next") == (link[1:link.index(">")] if link else None)
    return out


@pytest.mark.integration
@pytest.mark.parametrize(("path", "params", "key", "cap"), [
    ("/api/v1/readings", {}, "readings", 3),
    ("/api/v1/readings", {"format": "csv"}, None, 5),
    ("/api/v1/residuals", {}, "rows", 3),
    ("/api/v1/residuals", {"format": "csv"}, None, 5),
    ("/api/v1/emissions/timeseries", {"interval": "hour"}, "rows", 3),
    ("/api/v1/emissions/timeseries", {"interval": "hour", "format": "csv"}, None, 3),
])
def test_large_reads_are_capped_and_paged(hourly, path, params, key, cap) -> None:
    body = problem(hourly.get(path, params=params, headers=AUTH), 422)
    assert body["max_rows"] == cap and f"limit={cap}" in body["next"] and "offset=0" in body["next"]
    problem(hourly.get(path, params={**params, "limit": cap + 1}, headers=AUTH), 422)  # over the cap
    rows = _pages(hourly, path, params, key, 2)
    assert len(rows) == 7 and len({json.dumps(r) for r in rows}) == 7  # every row once, none lost


@pytest.mark.unit
def test_the_csv_cap_holds_a_year_of_the_demo_buildings() -> None:
    from services.data_core import paging

    # the training flow, the ML engine's history and the hotspot scan read a year of 40 buildings'
    # hourly electricity and gas in one CSV answer
    assert paging.MAX_CSV_ROWS >= 40 * 2 * 8784 and paging.MAX_JSON_ROWS == 100_000


# --------------------------------------------------------------------------- rate limits
@pytest.mark.unit
@pytest.mark.parametrize(("make", "method", "path", "body"), [
    (chatbot, "POST", "/api/chat", {"message": "hi"}),
    (chatbot, "POST", "/api/chat/stream", {"message": "hi"}),
    (ml_engine, "POST", "/api/v1/predict", {"site": "b1", "activity_type": "electricity",
                                            "timestamps": ["2020-01-01T00:00:00Z"]}),
    (ml_engine, "POST", "/invocations", {"dataframe_records": []}),
    (orchestration, "GET", "/api/v1/emissions/totals?format=csv", None),
])
def test_a_client_over_its_budget_gets_429_with_retry_after(make, method, path, body) -> None:
    client = TestClient(make(rate_limit_per_minute=2), raise_server_exceptions=False)
    for _ in range(2):
        assert client.request(method, path, json=body, headers=READ).status_code != 429
    r = client.request(method, path, json=body, headers=READ)
    refused(r, 429)
    assert int(r.headers["retry-after"]) >= 1
    # another client (token) has its own budget; the write token the flows use is not limited
    assert client.request(method, path, json=body, headers={"Authorization": "Bearer other"}).status_code != 429
    for _ in range(10):
        assert client.request(method, path, json=body, headers=AUTH).status_code != 429


@pytest.mark.unit
def test_reads_that_are_not_exports_are_not_rate_limited() -> None:
    client = TestClient(orchestration(rate_limit_per_minute=1), raise_server_exceptions=False)
    for _ in range(5):
        assert client.get("/api/v1/emissions/totals", headers=READ).status_code != 429


@pytest.mark.unit
def test_the_bucket_refills_and_forgets_old_clients() -> None:
    from services.common.ratelimit import TokenBuckets

    buckets = TokenBuckets(60, max_keys=2)
    assert [buckets.take("a", now=0.0) for _ in range(60)] == [0.0] * 60
    assert buckets.take("a", now=0.0) == pytest.approx(1.0)
    assert buckets.take("a", now=1.0) == 0.0  # one a second comes back
    buckets.take("b", now=1.0)
    buckets.take("c", now=1.0)
    assert len(buckets) == 2


# --------------------------------------------------------------------------- WebSockets
class WsServer(LiveServer):
    """The orchestration engine on uvicorn with the options its ``main`` passes (ws_max_size)."""

    def __init__(self, app: Any, settings: Any) -> None:
        from services.orchestration.app import uvicorn_options

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, lifespan="on",
                                **uvicorn_options(settings))
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)


@pytest.fixture
def ws_engine(make_settings) -> Iterator[str]:
    from services.data_core.app import create_app as data_core_app
    from services.orchestration.app import create_app

    with LiveServer(data_core_app(make_settings())) as dc:
        settings = _settings("services.orchestration.settings", "OrchestrationSettings", data_core_url=dc.url,
                             prefect_api_url="http://127.0.0.1:9/api", event_scan=False, stream_poll_seconds=0.5,
                             ws_max_connections=2, ws_max_connections_per_client=2)
        with WsServer(create_app(settings), settings) as oe:
            deadline = time.monotonic() + 60
            while not oe.server.servers or not _ready(oe.url):
                assert time.monotonic() < deadline
                time.sleep(0.2)
            yield oe.url.replace("http", "ws")


def _ready(url: str) -> bool:
    import httpx

    return httpx.get(f"{url}/health", timeout=5, trust_env=False).status_code == 200


def _auth(ws: Any) -> None:
    ws.send(json.dumps({"type": "auth", "token": TOKEN}))
    assert json.loads(ws.recv(timeout=10))["type"] == "hello"


@pytest.mark.integration
def test_a_100_kib_first_frame_closes_the_connection(ws_engine) -> None:
    with connect(f"{ws_engine}/ws/alerts", max_size=None) as ws:
        ws.send(json.dumps({"type": "auth", "token": TOKEN, "pad": "x" * 100 * 1024}))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # message too big
    with connect(f"{ws_engine}/ws/alerts") as ws:  # the server goes on
        _auth(ws)


@pytest.mark.integration
def test_the_connection_over_the_cap_is_refused_before_accept(ws_engine) -> None:
    with connect(f"{ws_engine}/ws/alerts") as one, connect(f"{ws_engine}/ws/hotspots") as two:
        _auth(one)
        _auth(two)
        with pytest.raises(InvalidStatus) as denied:
            connect(f"{ws_engine}/ws/recs")
        assert denied.value.response.status_code == 503
        assert denied.value.response.headers["content-type"].startswith(PROBLEM)
        assert denied.value.response.headers["retry-after"]
    deadline = time.monotonic() + 10  # closed sockets are released: a new one is accepted
    while True:
        try:
            with connect(f"{ws_engine}/ws/recs") as three:
                _auth(three)
            break
        except InvalidStatus:
            assert time.monotonic() < deadline
            time.sleep(0.2)


@pytest.mark.unit
def test_connections_are_counted_per_client_and_in_total() -> None:
    from services.orchestration.hub import Connections

    c = Connections(total=3, per_client=2)
    assert c.reserve("a") is None and c.reserve("a") is None
    assert c.reserve("a")[0] == 429  # type: ignore[index]
    assert c.reserve("b") is None
    assert c.reserve("c")[0] == 503  # type: ignore[index]
    c.release("a")
    assert c.reserve("a") is None


# --------------------------------------------------------------------------- chat sessions
@pytest.mark.unit
def test_sessions_are_issued_by_the_server_bounded_and_answer_one_question_at_a_time() -> None:
    sessions = Sessions(max_sessions=3, ttl_seconds=3600, max_turns=2)
    first = sessions.begin(None)
    assert first.new and len(first.id) >= 24
    with pytest.raises(Conflict):  # a second question while the first is answered: refused, not queued
        sessions.begin(first.id)
    sessions.end(first, ["m"] * 10)  # type: ignore[list-item]
    assert len(first.messages) == 4  # two turns kept
    again = sessions.begin(first.id)
    assert again is first and not again.new
    sessions.end(again)
    chosen = sessions.begin("my-own-id")  # an id the server did not issue gets a new session
    assert chosen.id != "my-own-id" and chosen.new
    sessions.end(chosen)
    for _ in range(5):
        sessions.end(sessions.begin(None))
    assert len(sessions) == 3  # least recently used dropped
    expired = Sessions(max_sessions=3, ttl_seconds=60)
    old = expired.create()
    old.touched -= 61
    assert expired.begin(old.id).id != old.id


@pytest.mark.unit
def test_chat_session_endpoints() -> None:
    with TestClient(chatbot(), raise_server_exceptions=False) as client:
        r = client.post("/api/chat/sessions", headers=AUTH)
        assert r.status_code == 201, r.text
        sid = r.json()["session_id"]
        busy = client.app.state.chat.sessions.begin(sid)  # type: ignore[attr-defined]
        for path in ("/api/chat", "/api/chat/stream"):
            body = refused(client.post(path, json={"session_id": sid, "message": "hello"}, headers=AUTH), 409)
            assert body["session_id"] == sid
        client.app.state.chat.sessions.end(busy)  # type: ignore[attr-defined]
        answer = client.post("/api/chat", json={"session_id": sid, "message": "hello"}, headers=AUTH).json()
        assert answer["session_id"] == sid and answer["new_session"] is False
        fresh = client.post("/api/chat", json={"message": "hello"}, headers=AUTH).json()
        assert fresh["new_session"] is True and fresh["session_id"] != sid
        refused(client.post("/api/chat", json={"message": "x" * 2001}, headers=AUTH), 422)  # length first

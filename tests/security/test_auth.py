"""Attacks on the tokens, one test each: every route of every service is enumerated from ``app.routes`` (a new
route is covered without editing this file) and must refuse an anonymous request (401 problem+json) unless
it is on the public list; the read token must be refused on every write (403) and accepted on reads and
read POSTs; an unauthenticated body is refused before the app reads it; /metrics needs a token; health
answers carry no exception text; a refused write stores nothing."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from tests.conftest import AUTH, READ_AUTH, TOKEN, free_port

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"
DOCS = {"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
# what each service answers without a token (the frontend: everything but /metrics)
PUBLIC = {
    "data-core": DOCS | {"/health"},
    "ml-engine": DOCS | {"/health", "/ping"},
    "orchestration": DOCS | {"/health"},
    "rag-chatbot": DOCS | {"/api/health"},
}
READ_POSTS = {
    "data-core": set(),
    "ml-engine": {"/invocations", "/api/v1/predict"},
    "orchestration": {"/api/v1/ws-tickets"},
    "rag-chatbot": {"/api/chat", "/api/chat/stream", "/api/chat/sessions", "/api/recommendations", "/api/query"},
}
HOSTILE = ("127.0.0.1", "secretuser", "Error", "Traceback", "Errno", "refused")


def _data_core(tmp: Path) -> Any:
    from services.data_core.app import create_app
    from services.data_core.settings import DataCoreSettings

    return create_app(DataCoreSettings(database_url=f"sqlite:///{tmp / 'dc.db'}", environment="test",
                                       log_json=False))  # type: ignore[call-arg]


def _ml_engine(tmp: Path) -> Any:
    from services.ml_engine.app import create_app
    from services.ml_engine.settings import MLEngineSettings

    return create_app(MLEngineSettings(mlflow_tracking_uri=f"sqlite:///{tmp / 'ml.db'}", environment="test",
                                       data_core_url=f"http://127.0.0.1:{free_port()}", log_json=False,
                                       model_cache_dir=tmp / "models"))  # type: ignore[call-arg]


def _orchestration(tmp: Path) -> Any:
    from services.orchestration.app import create_app
    from services.orchestration.settings import OrchestrationSettings

    dead = f"http://127.0.0.1:{free_port()}"
    return create_app(OrchestrationSettings(data_core_url=dead, ml_engine_url=dead, prefect_api_url=dead + "/api",
                                            environment="test", log_json=False))  # type: ignore[call-arg]


def _rag(tmp: Path) -> Any:
    from services.rag.app import create_app
    from services.rag.settings import RagSettings

    return create_app(RagSettings(data_core_url=f"http://127.0.0.1:{free_port()}", embedding_model="none",
                                  cache_dir=tmp / "rag", environment="test", log_json=False))  # type: ignore[call-arg]


SERVICES: dict[str, Callable[[Path], Any]] = {"data-core": _data_core, "ml-engine": _ml_engine,
                                               "orchestration": _orchestration, "rag-chatbot": _rag}


@pytest.fixture(params=sorted(SERVICES))
def service(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Any]:
    """(name, app) without its lifespan: the token is checked before any resource is needed."""
    return request.param, SERVICES[request.param](tmp_path)


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def _operations(app: Any) -> Iterator[tuple[str, str, str]]:
    """(method, template, concrete path) of every HTTP route of the app, included routers flattened."""
    for route in iter_route_contexts(app.routes):
        for method in sorted(route.methods or ()):  # WebSockets have none: their tickets are tested below
            yield method, route.path, _concrete(route.path)


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.request.method, response.request.url, response.text)
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["detail"]
    return body


def test_every_route_refuses_an_anonymous_request_unless_public(service: tuple[str, Any]) -> None:
    name, app = service
    client = TestClient(app, raise_server_exceptions=False)
    seen = 0
    for method, template, path in _operations(app):
        if template in PUBLIC[name]:
            continue
        for headers in ({}, {"Authorization": "Bearer not-the-token"}, {"Authorization": f"Basic {TOKEN}"}):
            r = client.request(method, path, headers=headers)
            if method != "HEAD":
                _problem(r, 401)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        seen += 1
    assert seen >= 3  # the enumeration found the service's routes
    for path in PUBLIC[name] - {"/docs/oauth2-redirect"}:
        assert client.get(path).status_code not in (401, 403), path


def test_the_read_token_is_refused_on_every_write_and_accepted_on_reads(service: tuple[str, Any]) -> None:
    name, app = service
    client = TestClient(app, raise_server_exceptions=False)
    writes = reads = 0
    for method, template, path in _operations(app):
        if template in PUBLIC[name]:
            continue
        r = client.request(method, path, headers=READ_AUTH)
        if method in ("GET", "HEAD", "OPTIONS") or (method == "POST" and template in READ_POSTS[name]):
            assert r.status_code not in (401, 403), (method, path, r.text)
            reads += 1
        else:
            body = _problem(r, 403)
            assert "write token" in body["detail"]
            writes += 1
            # the write token passes the same gate (what comes after is the route's business)
            assert client.request(method, path, headers=AUTH).status_code not in (401, 403), (method, path)
    assert reads > 0 and (writes > 0 or name == "rag-chatbot")


def _raw_post(app: Any, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, int]:
    """POST through the app as a server would; returns (status, how many times the app called receive)."""
    calls = 0
    status: dict[str, int] = {}

    async def receive() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return {"type": "http.request", "body": b"x" * 65536, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status["code"] = message["status"]

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"), *headers],
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000)}
    asyncio.run(app(scope, receive, send))
    return status["code"], calls


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_an_unauthenticated_huge_body_is_refused_before_it_is_read(service: tuple[str, Any], framing: str) -> None:
    name, app = service
    # declared: as large as the service takes (tens to hundreds of MiB; above that it is a 413, also unread)
    declared = (b"content-length", str(app.state.settings.max_body_bytes).encode()) if framing == "content-length" \
        else (b"transfer-encoding", b"chunked")
    posts = [t for m, t, _ in _operations(app) if m == "POST" and t not in PUBLIC[name]]
    assert posts
    for template in posts:
        for auth in ([], [(b"authorization", b"Bearer wrong")]):
            status, calls = _raw_post(app, _concrete(template), [declared, *auth])
            assert (status, calls) == (401, 0), template
        if template not in READ_POSTS[name]:  # the read token on a write: refused as early
            status, calls = _raw_post(app, _concrete(template), [declared, (b"authorization",
                                                                           READ_AUTH["Authorization"].encode())])
            assert (status, calls) == (403, 0), template


def test_metrics_need_a_token(service: tuple[str, Any]) -> None:
    _, app = service
    client = TestClient(app)
    _problem(client.get("/metrics"), 401)
    assert client.get("/metrics", headers=READ_AUTH).status_code == 200
    assert client.get("/metrics", headers=AUTH).status_code == 200


def test_the_dashboard_server_serves_its_files_openly_and_its_metrics_with_a_token(tmp_path: Path) -> None:
    from services.frontend.app import FrontendSettings, create_app

    (tmp_path / "index.html").write_text("<div id=root></div>")
    client = TestClient(create_app(FrontendSettings(ui_dist=tmp_path)))  # type: ignore[call-arg]
    for path in ("/", "/config.json", "/api/health", "/alerts"):
        assert client.get(path).status_code == 200, path
    _problem(client.get("/metrics"), 401)
    assert client.get("/metrics", headers=READ_AUTH).status_code == 200


def test_health_answers_carry_no_exception_text_when_a_dependency_fails(tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    app = _data_core(tmp_path)
    with TestClient(app) as client:
        real = app.state.engine
        app.state.engine = create_engine(f"postgresql+psycopg://secretuser:pw@127.0.0.1:{free_port()}/db")
        try:
            r = client.get("/health")
        finally:
            app.state.engine.dispose()
            app.state.engine = real
    assert r.status_code == 503 and r.json()["checks"]["database"]["ok"] is False
    assert not [word for word in HOSTILE if word in r.text], r.text
    for make, path in ((_rag, "/api/health"), (_orchestration, "/health")):
        with TestClient(make(tmp_path)) as client:
            r = client.get(path)
        assert r.json()["status"] == "degraded", r.text
        assert not [word for word in HOSTILE if word in r.text], r.text


def test_a_refused_write_stores_nothing(client: TestClient) -> None:
    site = {"id": "refused-site", "name": "Refused", "org_id": "nobody"}
    before = client.get("/api/v1/sites").json()
    _problem(client.post("/api/v1/sites", json=site, headers=READ_AUTH), 403)
    _problem(client.post("/api/v1/sites", json=site, headers={"Authorization": ""}), 401)
    batches = client.get("/api/v1/ingest/batches").json()
    csv = b"site,activity_type,period_start,quantity,unit\nb1,electricity,2024-01-01T00:00:00Z,5,kWh\n"
    _problem(client.post("/api/v1/ingest", content=csv, headers={**READ_AUTH, "Content-Type": "text/csv"}), 403)
    assert client.get("/api/v1/sites").json() == before
    assert client.get("/api/v1/ingest/batches").json() == batches


def test_whoami_names_the_role_and_a_read_ticket_opens_the_channels(tmp_path: Path) -> None:
    app = _orchestration(tmp_path)
    with TestClient(app) as client:
        assert client.get("/api/v1/whoami", headers=READ_AUTH).json() == {"role": "read"}
        assert client.get("/api/v1/whoami", headers=AUTH).json() == {"role": "write"}
        _problem(client.get("/api/v1/whoami"), 401)
        ticket = client.post("/api/v1/ws-tickets", headers=READ_AUTH).json()
        assert ticket["role"] == "read"
        assert app.state.tickets.redeem(ticket["ticket"]) == "read"
        assert app.state.tickets.redeem(ticket["ticket"]) is None  # single use
        forged = ticket["ticket"].replace(".read.", ".write.")
        assert app.state.tickets.redeem(forged) is None

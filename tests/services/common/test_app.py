"""The shared app factory (services.common.app): health, metrics, request ids, problem+json, auth,
body limit, and settings that refuse placeholder secrets."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, FastAPI, Query
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

from services.common.app import create_app
from services.common.auth import WriteAuth
from services.common.errors import Conflict, NotFound
from services.common.settings import ServiceSettings

pytestmark = pytest.mark.unit

TOKEN = "a-real-token-for-the-app-factory-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
READ_TOKEN = "a-read-token-for-the-app-factory-tests"
READ_AUTH = {"Authorization": f"Bearer {READ_TOKEN}"}
PROBLEM = "application/problem+json"


class Thing(BaseModel):
    name: str


def _router() -> APIRouter:
    router = APIRouter(prefix="/things")

    @router.get("/{thing_id}")
    def get_thing(thing_id: int, verbose: bool = Query(default=False)) -> dict[str, object]:
        if thing_id == 0:
            raise NotFound("thing 0 does not exist", thing_id=thing_id)
        return {"id": thing_id, "verbose": verbose}

    @router.post("", dependencies=[WriteAuth], status_code=201)
    def create_thing(body: Thing) -> dict[str, str]:
        if body.name == "taken":
            raise Conflict("that name is taken", name=body.name)
        return {"name": body.name}

    @router.get("-broken")
    def broken() -> None:
        raise RuntimeError("secret internals")

    return router


def _settings(**overrides: object) -> ServiceSettings:
    values: dict[str, object] = {"api_token": TOKEN, "read_token": READ_TOKEN, "environment": "test", "log_json": False,
                                 "service_name": "test-service", "max_body_bytes": 1000}
    values.update(overrides)
    return ServiceSettings(**values)  # type: ignore[arg-type]


async def _healthy(app: FastAPI) -> tuple[bool, object]:
    return True, {"checked": True}


async def _failing(app: FastAPI) -> tuple[bool, object]:
    raise ConnectionError("database unreachable")


@pytest.fixture
def client():
    app = create_app(_settings(), title="Test", routers=[_router()], health_checks={"db": _healthy})
    with TestClient(app, raise_server_exceptions=False, headers=AUTH) as c:
        yield c


def _problem(response, status):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["type"].startswith("https://") and body["title"] and body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def test_health(client):
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["service"] == "test-service"
    assert body["checks"] == {"db": {"ok": True, "detail": {"checked": True}}}


def test_health_reports_a_failing_dependency_as_503():
    app = create_app(_settings(), title="Test", health_checks={"db": _failing})
    with TestClient(app) as c:
        r = c.get("/health")
    assert r.status_code == 503
    assert r.json()["status"] == "degraded" and r.json()["checks"]["db"]["ok"] is False
    assert "database unreachable" not in r.text and "ConnectionError" not in r.text  # logged, not answered


def test_metrics_count_requests_by_route_and_status(client):
    client.get("/things/5")
    client.get("/things/0")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert "# TYPE http_requests_total counter" in text
    assert 'http_requests_total{method="GET",route="/things/{thing_id}",status="200"} 1.0' in text
    assert 'http_requests_total{method="GET",route="/things/{thing_id}",status="404"} 1.0' in text
    assert "http_request_duration_seconds_bucket" in text


def test_request_id_is_echoed_or_generated(client):
    r = client.get("/things/1", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    generated = client.get("/things/1").headers["x-request-id"]
    assert len(generated) == 32 and generated != client.get("/things/1").headers["x-request-id"]
    assert client.get("/things/1", headers={"X-Request-ID": "x" * 500}).headers["x-request-id"] != "x" * 500


def test_problem_json_for_404_405_409_422_and_500(client):
    assert _problem(client.get("/things/0"), 404)["thing_id"] == 0
    _problem(client.get("/nowhere"), 404)
    _problem(client.delete("/things/1"), 405)
    assert _problem(client.post("/things", json={"name": "taken"}, headers=AUTH), 409)["name"] == "taken"
    body = _problem(client.get("/things/abc"), 422)
    assert "thing_id" in body["detail"] and body["errors"][0]["field"] == "thing_id"
    assert "name" in _problem(client.post("/things", json={}, headers=AUTH), 422)["detail"]
    body = _problem(client.get("/things-broken"), 500)
    assert "secret internals" not in body["detail"]


def test_writes_need_the_write_token_and_reads_a_token(client):
    anonymous = TestClient(client.app)
    r = anonymous.post("/things", json={"name": "a"})
    assert _problem(r, 401) and r.headers["www-authenticate"] == "Bearer"
    _problem(anonymous.post("/things", json={"name": "a"}, headers={"Authorization": "Bearer nope"}), 401)
    _problem(anonymous.post("/things", json={"name": "a"}, headers={"Authorization": f"Basic {TOKEN}"}), 401)
    assert _problem(anonymous.post("/things", json={"name": "a"}, headers=READ_AUTH), 403)["detail"]
    assert client.post("/things", json={"name": "a"}).status_code == 201
    _problem(anonymous.get("/things/1"), 401)
    _problem(anonymous.get("/metrics"), 401)
    assert anonymous.get("/things/1", headers=READ_AUTH).status_code == 200
    assert anonymous.get("/metrics", headers=READ_AUTH).status_code == 200
    assert anonymous.get("/health").status_code == 200
    assert anonymous.get("/openapi.json").status_code == 200


def test_read_posts_and_public_paths_are_declared_per_app():
    router = APIRouter()

    @router.post("/score/{model}")
    def score(model: str) -> dict[str, str]:
        return {"model": model}

    @router.get("/ping")
    def ping() -> str:
        return "ok"

    app = create_app(_settings(), title="Test", routers=[router], read_posts=["/score/{model}"],
                     public_paths=["/ping"])
    with TestClient(app) as c:
        assert c.post("/score/a", headers=READ_AUTH).json() == {"model": "a"}
        _problem(c.post("/score/a"), 401)
        assert c.get("/ping").status_code == 200
        schema = c.get("/openapi.json").json()
    assert schema["paths"]["/score/{model}"]["post"]["security"] == [{"HTTPBearer": []}]
    assert "security" not in schema["paths"]["/ping"]["get"]


def test_a_cors_preflight_needs_no_token(client):
    anonymous = TestClient(client.app)
    r = anonymous.options("/things", headers={"Origin": "http://127.0.0.1:5173",
                                              "Access-Control-Request-Method": "POST",
                                              "Access-Control-Request-Headers": "authorization"})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "http://127.0.0.1:5173"
    refused = anonymous.get("/things/1", headers={"Origin": "http://127.0.0.1:5173"})
    assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == "http://127.0.0.1:5173"


def test_declared_content_length_over_the_limit_is_413(client):
    body = _problem(client.post("/things", content=b'{"name": "' + b"x" * 2000 + b'"}',
                                headers={**AUTH, "Content-Type": "application/json"}), 413)
    assert "1000" in body["detail"]


def test_a_streamed_body_over_the_limit_is_413(client):
    def chunks():
        yield b'{"name": "'
        for _ in range(20):
            yield b"x" * 100
        yield b'"}'

    r = client.post("/things", content=chunks(), headers={**AUTH, "Content-Type": "application/json"})
    _problem(r, 413)


@pytest.mark.parametrize("token", ["", "changeme", "CHANGEME", " secret ", "token", "placeholder"])
def test_settings_refuse_a_placeholder_token(token):
    with pytest.raises(ValidationError, match="placeholder"):
        _settings(api_token=token)


def test_settings_refuse_a_read_token_equal_to_the_write_token_or_a_placeholder():
    with pytest.raises(ValidationError, match="differ"):
        _settings(read_token=TOKEN)
    with pytest.raises(ValidationError, match="placeholder"):
        _settings(read_token="changeme")
    with pytest.raises(ValidationError, match="24 characters"):
        _settings(environment="production", read_token="short-but-real")
    assert _settings(read_token=None).read_token is None


def test_settings_need_a_token_and_a_long_one_in_production(monkeypatch):
    monkeypatch.delenv("API_TOKEN", raising=False)
    with pytest.raises(ValidationError):
        ServiceSettings(_env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="24 characters"):
        _settings(environment="production", api_token="short-but-real")
    assert _settings(environment="production").environment == "production"

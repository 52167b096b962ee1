"""The dashboard's server: the bundle, client-side routes, runtime config, health and headers."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.frontend.app import FrontendSettings, create_app
from tests.conftest import AUTH, READ_AUTH

pytestmark = pytest.mark.unit


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><div id=root></div>")
    (tmp_path / "assets" / "index-abc.js").write_text("console.log(1)")
    (tmp_path / "favicon.svg").write_text("<svg/>")
    (tmp_path.parent / "secret.txt").write_text("no")
    return tmp_path


def client(dist: Path, **overrides: str) -> TestClient:
    return TestClient(create_app(FrontendSettings(ui_dist=dist, **overrides)))  # type: ignore[arg-type]


def test_routes_of_the_app_get_the_page_and_assets_are_cached_for_good(dist: Path) -> None:
    c = client(dist)
    for path in ("/", "/sites/b33", "/alerts?status=open"):
        r = c.get(path)
        assert r.status_code == 200 and "id=root" in r.text and r.headers["cache-control"] == "no-cache"
    asset = c.get("/assets/index-abc.js")
    assert asset.status_code == 200 and "immutable" in asset.headers["cache-control"]
    assert c.get("/favicon.svg").headers["content-type"].startswith("image/svg")


def test_missing_files_and_escapes_are_problems_not_the_page(dist: Path) -> None:
    c = client(dist)
    for path in ("/assets/gone.js", "/robots.txt", "/api/v1/alerts"):
        r = c.get(path)
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json", path
    escape = c.get("/..%2Fsecret.txt")
    assert escape.status_code == 404 and escape.text != "no"


def test_config_tells_the_browser_where_the_two_services_are_and_the_csp_allows_only_them(dist: Path) -> None:
    c = client(dist, orchestration_public_url="https://oe.example.test/", chatbot_public_url="http://127.0.0.1:9004")
    config = c.get("/config.json").json()
    assert config["orchestrationUrl"] == "https://oe.example.test" and config["chatbotUrl"] == "http://127.0.0.1:9004"
    csp = c.get("/").headers["content-security-policy"]
    connect = next(p for p in csp.split(";") if p.strip().startswith("connect-src")).split()[1:]
    assert set(connect) == {"'self'", "https://oe.example.test", "http://127.0.0.1:9004", "wss://oe.example.test"}
    assert "frame-ancestors 'none'" in csp


def test_health_says_when_the_bundle_is_not_built(tmp_path: Path, dist: Path) -> None:
    assert client(dist).get("/api/health").json()["status"] == "ok"
    r = client(tmp_path / "nothing").get("/api/health")
    assert r.status_code == 503 and "make ui" in r.json()["detail"]
    assert client(tmp_path / "nothing").get("/sites").status_code == 503
    assert "dashboard_requests_total" in client(dist).get("/metrics", headers=READ_AUTH).text


def test_metrics_need_a_token_and_nothing_else_does(dist: Path) -> None:
    c = client(dist)
    r = c.get("/metrics")
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"] == "Bearer"
    assert c.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/metrics", headers=AUTH).status_code == 200
    for path in ("/", "/config.json", "/api/health", "/assets/index-abc.js", "/sites/b33"):
        assert c.get(path).status_code == 200, path
    nobody = TestClient(create_app(FrontendSettings(ui_dist=dist, api_token=None, read_token=None)))
    assert nobody.get("/metrics", headers=AUTH).status_code == 401  # no token configured: refused to all

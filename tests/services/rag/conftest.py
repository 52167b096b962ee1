"""Fixtures of the chatbot tests: the knowledge base (loaded once), and a data core holding the whole demo
data (loaded once per database dialect) with two hotspots and their alerts."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from services.rag.settings import REPO_ROOT
from tests.conftest import AUTH, DIALECTS, PG_ADMIN_URL, TOKEN, LiveServer, _pg_url

B33_HOTSPOT = {"kind": "above_expected", "site": "b33", "meter": "", "activity_type": "natural_gas",
               "period_start": "2020-03-02T00:00:00Z", "period_end": "2020-03-05T00:00:00Z", "ongoing": False,
               "severity": "high", "excess_kwh": 4200.0, "excess_kg": 768.6, "model_version": "3",
               "evidence": {"excess_ratio": 0.62, "hours_above": 51}}
B2_HOTSPOT = {**B33_HOTSPOT, "site": "b2", "kind": "level_shift", "activity_type": "electricity", "severity": "medium",
              "excess_kwh": 9100.0, "excess_kg": 1820.0, "evidence": {"ratio": 1.31}}


@pytest.fixture(scope="session")
def kb() -> Any:
    from services.rag.kb import KnowledgeBase

    return KnowledgeBase(REPO_ROOT / "docs" / "kb", cache_dir=REPO_ROOT / "var" / "rag")


@pytest.fixture(scope="session", params=DIALECTS)
def demo_data_core(request: pytest.FixtureRequest, _templates: dict[str, str],
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A live data core (real uvicorn) with the full demo data of make up, and two hotspots with alerts."""
    import httpx

    from services.data_core.app import create_app
    from services.data_core.demo import load_demo
    from services.data_core.settings import DataCoreSettings

    dialect = request.param
    admin = None
    if dialect == "sqlite":
        target = tmp_path_factory.mktemp("rag-demo") / "carbon_nexus.db"
        shutil.copyfile(_templates["sqlite"], target)
        url = f"sqlite:///{target}"
    else:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        name = f"cn_rag_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{_templates["postgresql"]}"'))
        url = _pg_url(name)
    settings = DataCoreSettings(database_url=url, api_token=TOKEN, environment="test", log_json=False)  # type: ignore[arg-type]
    try:
        with LiveServer(create_app(settings)) as server:
            load_demo(server.url, TOKEN)
            r = httpx.post(f"{server.url}/api/v1/hotspots/sync", headers=AUTH, timeout=60,
                           json={"hotspots": [B33_HOTSPOT, B2_HOTSPOT], "alert_rules": {}})
            assert r.status_code == 200, r.text
            yield server.url
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


@pytest.fixture(scope="session")
def rag_settings_factory() -> Any:
    from services.rag.settings import RagSettings

    def make(**overrides: Any) -> RagSettings:
        values: dict[str, Any] = {"api_token": TOKEN, "environment": "test", "log_json": False,
                                  "cache_dir": REPO_ROOT / "var" / "rag"}
        values.update(overrides)
        return RagSettings(**values)

    return make


@pytest.fixture
def rag(kb: Any, demo_data_core: str, rag_settings_factory: Any) -> Iterator[Any]:
    """The chatbot app (TestClient) on the demo data core, sharing the session's knowledge base."""
    from fastapi.testclient import TestClient

    from services.rag.app import create_app

    app = create_app(rag_settings_factory(data_core_url=demo_data_core), kb=kb)
    with TestClient(app) as client:
        yield client


def ask(client: Any, message: str, session_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message}
    if session_id:
        body["session_id"] = session_id
    r = client.post("/api/chat", json=body)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def load_yaml(name: str) -> Any:
    import yaml

    return yaml.safe_load((Path(__file__).resolve().parents[2] / "eval" / name).read_text(encoding="utf-8"))

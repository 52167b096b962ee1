"""Fixtures of the chatbot tests: the knowledge base (loaded once), and a data core holding the whole demo
data (loaded once per database dialect) with two hotspots and their alerts."""

from __future__ import annotations

import shutil
import sqlite3
import time
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
# the reference data the question reader gets from the data core, for the unit tests of reading a question
SITES: dict[str, dict[str, Any]] = {f"b{i}": {"name": f"Building b{i}"} for i in (0, 2, 5, 33, 91)} | {
    "us-liaison": {"name": "US liaison office"}, "estates-fleet": {"name": "Estates vehicle fleet"}}
ACTS = ["electricity", "natural_gas", "vehicle_diesel", "vehicle_gasoline", "air_travel_short_haul",
        "air_travel_long_haul", "rail_travel_national", "hotel_stay", "freight_hgv", "purchased_goods"]
YM = [(y, m) for y in (2019, 2020) for m in range(1, 13)]
B2_HOTSPOT = {**B33_HOTSPOT, "site": "b2", "kind": "level_shift", "activity_type": "electricity", "severity": "medium",
              "excess_kwh": 9100.0, "excess_kg": 1820.0, "evidence": {"ratio": 1.31}}


@pytest.fixture(scope="session")
def kb() -> Any:
    from services.rag.kb import KnowledgeBase

    return KnowledgeBase(REPO_ROOT / "docs" / "kb", cache_dir=REPO_ROOT / "var" / "rag")


def _load_demo_into(url: str) -> None:
    """The full demo of make up, and two hotspots with their alerts, stored through a real data core."""
    import httpx

    from services.data_core.app import create_app
    from services.data_core.demo import load_demo
    from services.data_core.settings import DataCoreSettings

    settings = DataCoreSettings(database_url=url, api_token=TOKEN, environment="test", log_json=False)  # type: ignore[arg-type]
    with LiveServer(create_app(settings)) as server:
        load_demo(server.url, TOKEN)
        r = httpx.post(f"{server.url}/api/v1/hotspots/sync", headers=AUTH, timeout=60,
                       json={"hotspots": [B33_HOTSPOT, B2_HOTSPOT], "alert_rules": {}})
        assert r.status_code == 200, r.text


STALE_AFTER_S = 6 * 3600


def _stale_template(name: str) -> bool:
    """A demo template left by a run that ended more than six hours ago (a run drops its own at the end;
    a concurrent run's template is young and stays)."""
    if not name.startswith("cn_ragtpl_"):
        return False
    stamp = name.removeprefix("cn_ragtpl_").split("_", 1)[0]
    return not stamp.isdigit() or time.time() - int(stamp) > STALE_AFTER_S


def _demo_copy(dialect: str, shared: Path, templates: dict[str, str], own: Path) -> tuple[str, str | None]:
    """A private copy of a database holding the demo. The demo is loaded once per dialect and test run
    (about 40 s each) and shared by the xdist workers (callers hold a file lock); returns (url, pg name)."""
    if dialect == "sqlite":
        template = shared / "rag-demo.db"
        if not template.exists():
            building = shared / "rag-demo.building.db"
            shutil.copyfile(templates["sqlite"], building)
            _load_demo_into(f"sqlite:///{building}")
            staged = shared / "rag-demo.staged.db"
            with sqlite3.connect(building) as src, sqlite3.connect(staged) as dst:
                src.backup(dst)  # everything committed, the WAL included, in one plain file
            staged.replace(template)
        target = own / "carbon_nexus.db"
        shutil.copyfile(template, target)
        return f"sqlite:///{target}", None
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        record = shared / "rag-demo-pg.txt"
        with admin.connect() as conn:
            existing = {row[0] for row in conn.execute(text("SELECT datname FROM pg_database"))}
            template = record.read_text().strip() if record.exists() else ""
            if template not in existing:
                for stale in (n for n in existing if _stale_template(n)):  # crashed runs' templates only
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{stale}" WITH (FORCE)'))
                template = f"cn_ragtpl_{int(time.time())}_{uuid.uuid4().hex[:6]}"
                conn.execute(text(f'CREATE DATABASE "{template}" TEMPLATE "{templates["postgresql"]}"'))
                _load_demo_into(_pg_url(template))
                record.write_text(template)
            # cloning needs the template to have no sessions (the loader's pool may linger)
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                         {"n": template})
            name = f"cn_rag_{uuid.uuid4().hex[:10]}"
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        return _pg_url(name), name
    finally:
        admin.dispose()


@pytest.fixture(scope="session", params=DIALECTS)
def demo_data_core(request: pytest.FixtureRequest, _templates: dict[str, str],
                   tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[str]:
    """A live data core (real uvicorn) on a private copy of a database holding the whole demo of make up
    and two hotspots with alerts; the demo itself is loaded once per dialect for all xdist workers."""
    from filelock import FileLock

    from services.data_core.app import create_app
    from services.data_core.settings import DataCoreSettings

    dialect = request.param
    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent  # the run's folder, common to its workers
    with FileLock(str(shared / f"rag-demo-{dialect}.lock")):
        url, pg_name = _demo_copy(dialect, shared, _templates, tmp_path_factory.mktemp("rag-demo"))
    settings = DataCoreSettings(database_url=url, api_token=TOKEN, environment="test", log_json=False)  # type: ignore[arg-type]
    try:
        with LiveServer(create_app(settings)) as server:
            yield server.url
    finally:
        if pg_name is not None:
            admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
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
    with TestClient(app, headers=AUTH) as client:
        yield client


def ask(client: Any, message: str, session_id: str | None = None) -> dict[str, Any]:
    """``session_id`` is the test's label of a conversation: its first question starts a session and the
    id the server issued is sent with the next ones."""
    body: dict[str, Any] = {"message": message}
    issued: dict[str, str] = client.__dict__.setdefault("chat_sessions", {})
    if session_id and session_id in issued:
        body["session_id"] = issued[session_id]
    r = client.post("/api/chat", json=body)
    assert r.status_code == 200, r.text
    if session_id:
        issued[session_id] = r.json()["session_id"]
    return r.json()  # type: ignore[no-any-return]


def load_yaml(name: str) -> Any:
    import yaml

    return yaml.safe_load((Path(__file__).resolve().parents[2] / "eval" / name).read_text(encoding="utf-8"))


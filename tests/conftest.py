"""Shared fixtures: real databases (SQLite file and PostgreSQL) made fresh per test from a seeded
template, and the data core app on each."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

# Tests never read the checkout's .env (`make up` writes one): the services' settings read no env file
# (CARBON_NEXUS_ENV_FILE empty, inherited by every process a test starts), and Prefect, which reads
# PREFECT_* from ./.env itself, finds its client credential already set (to none) in the environment.
os.environ["CARBON_NEXUS_ENV_FILE"] = ""
os.environ.setdefault("PREFECT_API_AUTH_STRING", "")

from services.common.settings import apply_offline_env  # noqa: E402

apply_offline_env()
os.environ.setdefault("API_TOKEN", "test-token-for-the-suite-0123456789")
os.environ.setdefault("MODEL_SIGNING_KEY", "test-model-signing-key-0123456789")
os.environ.setdefault("READ_TOKEN", "test-read-token-for-the-suite-0123456789")

TOKEN = os.environ["API_TOKEN"]
AUTH = {"Authorization": f"Bearer {TOKEN}"}
READ_TOKEN = os.environ["READ_TOKEN"]
READ_AUTH = {"Authorization": f"Bearer {READ_TOKEN}"}
NO_AUTH = {"Authorization": ""}  # a request of a client built with headers=AUTH, sent without a token
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DIALECTS = [d.strip() for d in os.environ.get("TEST_DIALECTS", "sqlite,postgresql").split(",") if d.strip()]
# the ML engine's real-data fixtures (a registered champion, ...) are shared by the ML engine, flow and
# dashboard tests: one plugin module, so each session fixture is built once per run
pytest_plugins = ["tests.ml_fixtures"]
# per-client rate limits off in the suite (the evaluation sends hundreds of questions from one client);
# tests/security/test_limits.py turns them on where it tests them
os.environ.setdefault("RATE_LIMIT_PER_MINUTE", "0")


def _pg_url(dbname: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + dbname


def _seed(url: str) -> None:
    from services.data_core.db import make_engine, migrate
    from services.data_core.factors.store import seed_library
    from services.data_core.ledger import current_version
    from services.data_core.settings import REPO_ROOT

    migrate(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        seed_library(conn, REPO_ROOT / "data/factors/factors.csv", REPO_ROOT / "data/factors/gwp.csv")
        current_version(conn)
    engine.dispose()


@pytest.fixture(scope="session")
def _templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    templates: dict[str, str] = {}
    created_pg: list[str] = []
    admin = None
    if "sqlite" in DIALECTS:
        path = tmp_path_factory.mktemp("tpl") / "template.db"
        _seed(f"sqlite:///{path}")
        templates["sqlite"] = str(path)
    if "postgresql" in DIALECTS:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        name = f"cn_tpl_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        created_pg.append(name)
        _seed(_pg_url(name))
        templates["postgresql"] = name
    yield templates
    if admin is not None:
        with admin.connect() as conn:
            for name in created_pg:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=DIALECTS)
def database_url(request: pytest.FixtureRequest, _templates: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated and seeded database of each dialect, dropped after the test."""
    dialect = request.param
    if dialect == "sqlite":
        target = tmp_path / "carbon_nexus.db"
        shutil.copyfile(_templates["sqlite"], target)
        yield f"sqlite:///{target}"
        return
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"cn_t_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{_templates["postgresql"]}"'))
    try:
        yield _pg_url(name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def make_settings(database_url: str) -> Callable[..., object]:
    from services.data_core.settings import DataCoreSettings

    def factory(**overrides: object) -> DataCoreSettings:
        values = {"database_url": database_url, "api_token": TOKEN, "environment": "test", "log_json": False}
        values.update(overrides)
        return DataCoreSettings(**values)  # type: ignore[arg-type]

    return factory


@pytest.fixture
def client(make_settings: Callable[..., object]) -> Iterator[object]:
    from fastapi.testclient import TestClient

    from services.data_core.app import create_app

    with TestClient(create_app(make_settings()), headers=AUTH) as test_client:  # type: ignore[arg-type]
        yield test_client


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """A real uvicorn server on 127.0.0.1 in a background thread (for code that speaks HTTP to a service)."""

    def __init__(self, app: object, port: int | None = None) -> None:
        import threading

        import uvicorn

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, lifespan="on")  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("live server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def send_case(case: object, client: object) -> object:
    """Send a schemathesis case through a TestClient (the same request shaping for every service's fuzz
    test); a case httpx cannot even build (an invalid URL) is rejected as an example."""
    import httpx
    from hypothesis import reject

    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=AUTH)  # type: ignore[attr-defined]
    kwargs.pop("cookies", None)
    if isinstance(kwargs.get("data"), bytes | str):
        kwargs["content"] = kwargs.pop("data")
    try:
        return client.request(kwargs.pop("method"), kwargs.pop("url"), **kwargs)  # type: ignore[attr-defined]
    except httpx.InvalidURL:
        reject()


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A temporary Prefect server (real API) for the flow and dashboard tests, started once per session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


# make test runs ``pytest -n 3 --dist loadfile``: each file on one worker, so a module's large fixtures
# (the dashboard's whole stack, the detection fixtures) are built once. pytest-xdist schedules by test id,
# so ids must be unique: a duplicate would run once and the others silently never.
# the longest test files (minutes of real processes), handed out first: xdist's loadfile gives files to the
# workers in collection order, so a long file collected last keeps one worker busy while the other idles
LONGEST_FIRST = ["tests/deploy/test_make_up.py", "tests/security/test_flow_secrets.py", "tests/services/data_core/test_schemathesis.py",
                 "tests/services/data_core/ingest/test_ingest.py", "tests/ui/test_dashboard_e2e.py",
                 "tests/services/rag/test_app.py", "tests/services/rag/test_eval.py",
                 "tests/flows/test_hotspot_scan.py", "tests/flows/test_pipeline_e2e.py"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    seen: set[str] = set()
    twice = sorted({i.nodeid for i in items if i.nodeid in seen or seen.add(i.nodeid)})  # type: ignore[func-returns-value]
    if twice:
        raise pytest.UsageError(f"tests with the same id (give them distinct parameters): {twice[:5]}")
    missing = [path for path in LONGEST_FIRST if not (config.rootpath / path).is_file()]
    if missing:
        raise pytest.UsageError(f"tests/conftest.py LONGEST_FIRST names files that do not exist: {missing}")
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))  # stable: same order otherwise


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The run is over (in xdist: the controller, after every worker): drop this run's chatbot demo template
    (tests/services/rag/conftest.py records its name in the run's folder). Only this run's: a concurrent
    run's template stays. Here, not there: the controller loads only this conftest."""
    if hasattr(session.config, "workerinput") or "postgresql" not in DIALECTS:
        return
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    record = factory.getbasetemp() / "rag-demo-pg.txt"
    name = record.read_text().strip() if record.exists() else ""
    if not name.startswith("cn_ragtpl_"):
        return
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except Exception:  # noqa: BLE001 - PostgreSQL gone at the end of a run: a later run drops it when stale
        pass
    finally:
        admin.dispose()

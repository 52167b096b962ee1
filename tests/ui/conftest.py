"""The dashboard against the real stack, as make up runs it: every service a real process on 127.0.0.1
(data core on SQLite with the demo data, ML engine with a registered champion, orchestration engine,
chatbot, the Prefect server of the test harness with the deployments served by a real runner, and the
dashboard server with the built bundle), driven by Debian's Chromium through Playwright."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from tests.conftest import AUTH, TOKEN
from tests.flows.test_end_to_end import _port, _spawn, _stop, _wait

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
# Chromium offline and quiet (../shared/STACK-NOTES.md): no DNS lookup of any outside host
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"]
# the demo's last days of b33 electricity are held back: the test sends them (doubled) through the dashboard
HELD_SITE, HELD_FROM = "b33", "2020-12-29T00:00:00Z"


def held_back_demo() -> tuple[list[Any], pd.DataFrame]:
    from services.data_core.demo import DemoFile, demo_files

    files, held = [], pd.DataFrame()
    for demo in demo_files():
        if demo.name == "cambridge_electricity_2020.csv":
            frame = pd.read_csv(io.BytesIO(demo.content))
            mask = (frame["site"] == HELD_SITE) & (frame["timestamp"] >= HELD_FROM)
            held = frame[mask]
            demo = DemoFile(demo.name, frame[~mask].to_csv(index=False).encode(), demo.editions)
        files.append(demo)
    assert len(held) > 48
    return files, held


@dataclass
class Stack:
    url: dict[str, str]
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    held: pd.DataFrame = field(default_factory=pd.DataFrame)
    logs: Path | None = None

    @property
    def ui(self) -> str:
        return self.url["ui"]


def _build_ui() -> None:
    if not (REPO / "ui" / "dist" / "index.html").exists():  # make test builds it; a bare pytest run too
        if not (REPO / "ui" / "node_modules").exists():
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=REPO / "ui", check=True)
        subprocess.run(["npm", "run", "build"], cwd=REPO / "ui", check=True)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, _templates, registered_store, prefect_harness) -> Iterator[Stack]:  # type: ignore[no-untyped-def]
    from prefect.settings import PREFECT_API_URL

    from services.data_core.demo import load_demo

    _build_ui()
    tmp = tmp_path_factory.mktemp("dashboard-stack")
    db = tmp / "carbon_nexus.db"
    shutil.copyfile(_templates["sqlite"], db)
    base, _ = registered_store
    shutil.copyfile(base / "mlflow.db", tmp / "mlflow.db")
    ports = {k: _port() for k in ("dc", "ml", "oe", "rag", "ui")}
    url = {k: f"http://127.0.0.1:{p}" for k, p in ports.items()}
    origins = json.dumps([url["ui"], url["ui"].replace("127.0.0.1", "localhost")])
    prefect_api = PREFECT_API_URL.value()
    common = {"API_TOKEN": TOKEN, "HOST": "127.0.0.1", "LOG_JSON": "false", "ENVIRONMENT": "test",
              "DATA_CORE_URL": url["dc"], "ML_ENGINE_URL": url["ml"], "ORCHESTRATION_URL": url["oe"],
              "RAG_SERVICE_URL": url["rag"], "PREFECT_API_URL": prefect_api, "CORS_ORIGINS": origins}
    specs: dict[str, tuple[str, dict[str, str], str]] = {
        "dc": ("services.data_core.app", {"DATABASE_URL": f"sqlite:///{db}", "EVENT_RETRY_SECONDS": "0.5",
                                          "EVENT_MAX_BACKOFF_SECONDS": "2"}, "/health"),
        "ml": ("services.ml_engine.app", {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}",
                                          "MODEL_POLL_SECONDS": "600"}, "/health"),
        "oe": ("services.orchestration.app", {"STREAM_POLL_SECONDS": "0.5", "WS_ALLOWED_ORIGINS": origins,
                                              "PREFECT_UI_URL": prefect_api.removesuffix("/api"),
                                              "MLFLOW_UI_URL": "http://127.0.0.1:5000"}, "/health"),
        "rag": ("services.rag.app", {"CACHE_DIR": str(REPO / "var" / "rag")}, "/api/health"),
        "ui": ("services.frontend.app", {"ORCHESTRATION_PUBLIC_URL": url["oe"], "CHATBOT_PUBLIC_URL": url["rag"]},
               "/api/health"),
    }
    s = Stack(url=url, logs=tmp)
    try:
        for name in ("dc", "ml", "oe", "rag", "ui"):
            module, env, health = specs[name]
            s.procs[name] = _spawn([sys.executable, "-m", module], {**common, **env, "PORT": str(ports[name])},
                                   tmp / f"{name}.log")
        for name in ("dc", "ml", "oe", "rag", "ui"):
            _wait(url[name] + specs[name][2], s.procs[name], timeout=180)
        files, s.held = held_back_demo()
        reports = load_demo(url["dc"], TOKEN, files=files)
        assert all(r["rejected"] == 0 for r in reports.values()), reports
        # the runner executes what "run now" starts (polls every 2 s instead of 10)
        inbox = tmp / "inbox"
        inbox.mkdir()
        s.procs["runner"] = _spawn([sys.executable, "-m", "deployments.serve"],
                                   {**common, "INGEST_DIR": str(inbox), "PREFECT_RUNNER_POLL_FREQUENCY": "2",
                                    "PREFECT_LOGGING_LEVEL": "WARNING"}, tmp / "runner.log")
        _wait_for_deployments(url["oe"], s.procs["runner"])
        yield s
    finally:
        for process in s.procs.values():
            _stop(process)
        for name in s.procs:  # a failing run leaves the services' logs in the test output
            log = tmp / f"{name}.log"
            if log.exists() and os.environ.get("SHOW_STACK_LOGS"):
                print(f"--- {name}.log\n{log.read_text()[-4000:]}")


def _wait_for_deployments(oe: str, runner: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert runner.poll() is None, "the flow runner exited"
        r = httpx.get(f"{oe}/api/v1/deployments", headers=AUTH, timeout=10, trust_env=False)
        if r.status_code == 200 and len(r.json()["deployments"]) >= 4:
            return
        time.sleep(1)
    raise AssertionError("the runner did not register the deployments")


# module scope: Playwright's sync API keeps an event loop running in this thread while it is open, and
# Prefect's sync-compatible calls (flow.to_deployment, ...) then return coroutines to later tests
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: make system-deps installs it"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Page:
    """A browser page that records console errors and failed requests; the test asserts there are none."""

    def __init__(self, browser: Any, stack: Stack, width: int = 1280, height: int = 800) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height}, service_workers="block")
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e} {self.page.url}\n{e.stack}"))
        self.stack = stack

    def open(self, path: str = "/", token: str | None = TOKEN) -> Any:
        """The page signed in with ``token`` (the write token unless told; None: no token)."""
        self.page.goto(self.stack.ui + path + (f"#token={token}" if token else ""))
        return self.page

    def shot(self, name: str, full_page: bool = True) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def page(browser, stack) -> Iterator[Page]:  # type: ignore[no-untyped-def]
    p = Page(browser, stack)
    yield p
    errors = list(p.errors)
    p.close()
    assert not errors, errors

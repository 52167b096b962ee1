"""The pipeline with real processes on 127.0.0.1, as make up runs them: a Prefect server (the test
harness's), the data core, the ML engine and the orchestration engine each in its own process.

* real readings with an injected excess are ingested and the alert arrives on a WebSocket client;
* the orchestration engine is killed and restarted mid-stream: the client resumes with nothing lost or
  duplicated;
* the ML engine is killed during a scan: the flow retries, completes when it returns, and no hotspot is
  stored twice.
"""

from __future__ import annotations

import io
import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.conftest import AUTH, TOKEN
from tests.flows.test_end_to_end import _port, _spawn, _stop, _wait
from tests.flows.test_hotspot_scan import WINDOW, _load, inject

pytestmark = [pytest.mark.slow, pytest.mark.integration]
CUT = pd.Timestamp("2019-04-22T00:00:00Z")


class Platform:
    def __init__(self, tmp: Path, database_url: str, store_uri: str, prefect_api: str) -> None:
        self.tmp = tmp
        self.ports = {"dc": _port(), "ml": _port(), "oe": _port()}
        self.url = {k: f"http://127.0.0.1:{p}" for k, p in self.ports.items()}
        self.common = {"API_TOKEN": TOKEN, "HOST": "127.0.0.1", "LOG_JSON": "false", "ENVIRONMENT": "test",
                       "DATA_CORE_URL": self.url["dc"], "ML_ENGINE_URL": self.url["ml"],
                       "ORCHESTRATION_URL": self.url["oe"], "PREFECT_API_URL": prefect_api}
        self.env = {
            "dc": {"DATABASE_URL": database_url, "EVENT_RETRY_SECONDS": "0.5", "EVENT_MAX_BACKOFF_SECONDS": "2"},
            "ml": {"MLFLOW_TRACKING_URI": store_uri, "MODEL_POLL_SECONDS": "60"},
            "oe": {"STREAM_POLL_SECONDS": "0.5", "WS_PING_SECONDS": "5"},
        }
        self.modules = {"dc": "services.data_core.app", "ml": "services.ml_engine.app", "oe": "services.orchestration.app"}
        self.health = {"dc": "/health", "ml": "/health", "oe": "/health"}
        self.procs: dict[str, Any] = {}
        self.starts = 0

    def start(self, name: str) -> None:
        import sys

        self.starts += 1
        env = {**self.common, **self.env[name], "PORT": str(self.ports[name])}
        self.procs[name] = _spawn([sys.executable, "-m", self.modules[name]], env,
                                  self.tmp / f"{name}-{self.starts}.log")
        _wait(self.url[name] + self.health[name], self.procs[name])

    def kill(self, name: str) -> None:
        import os

        os.killpg(self.procs[name].pid, signal.SIGKILL)
        self.procs[name].wait(timeout=20)

    def stop_all(self) -> None:
        for process in self.procs.values():
            _stop(process)


@pytest.fixture
def platform(tmp_path, database_url, store_uri, prefect_harness):  # type: ignore[no-untyped-def]
    from prefect.settings import PREFECT_API_URL

    p = Platform(tmp_path, database_url, store_uri, PREFECT_API_URL.value())
    try:
        for name in ("dc", "ml", "oe"):
            p.start(name)
        yield p
    finally:
        p.stop_all()


def _ws(url: str, channel: str, last: dict[str, Any] | None = None) -> Any:
    query = f"?last_seq={last['seq']}&epoch={last['epoch']}" if last else ""
    ws = connect(url.replace("http", "ws") + f"/ws/{channel}{query}")
    ws.send(json.dumps({"type": "auth", "token": TOKEN}))
    return ws


def _data_events(ws: Any, timeout: float) -> list[dict[str, Any]]:
    """Data events until nothing arrives for ``timeout`` seconds (or the socket closes)."""
    out = []
    while True:
        try:
            message = json.loads(ws.recv(timeout=timeout))
        except (TimeoutError, ConnectionClosed):
            return out
        if message["type"] not in ("hello", "ping", "pong", "resync"):
            out.append(message)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_ingested_excess_reaches_a_websocket_client_as_an_alert(platform, cambridge_csv) -> None:
    frame = pd.read_csv(io.BytesIO(cambridge_csv))
    ts = pd.to_datetime(frame["timestamp"], utc=True)
    with httpx.Client(base_url=platform.url["dc"], headers=AUTH, timeout=120, trust_env=False) as dc:
        _load(dc, frame[ts < CUT].to_csv(index=False).encode())
        late = frame[(ts >= CUT) & (ts < CUT + pd.Timedelta(days=2))].copy()
        hot = (late["site"] == "b33") & (late["activity_type"] == "electricity")
        late.loc[hot, "quantity"] = (late.loc[hot, "quantity"] * 2.0).round(1)
        ws = _ws(platform.url["oe"], "alerts")
        sent = time.monotonic()
        r = dc.post("/api/v1/ingest", params={"editions": "DESNZ-2024"}, headers=AUTH,
                    files={"file": ("late.csv", late.to_csv(index=False).encode(), "text/csv")})
        assert r.status_code == 200 and r.json()["accepted"] == len(late)
        message = None
        while message is None or message["type"] != "alert.raised":
            message = json.loads(ws.recv(timeout=60))
        latency = time.monotonic() - sent
        ws.close()
    hotspot = message["payload"]["hotspot"]
    assert hotspot["site"] == "b33" and hotspot["kind"] == "above_expected" and hotspot["excess_kg"] > 0
    print(f"ingest -> alert on the WebSocket: {latency:.2f} s")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_killed_orchestration_engine_loses_and_duplicates_nothing(platform) -> None:
    """A driver posts 40 scan results (each one new hotspot) while the engine is killed and restarted;
    the posts retry like a flow task; the client reconnects with its last seq and epoch."""
    from tests.services.orchestration.conftest import hotspot

    n, received, errors = 40, [], []
    done = threading.Event()

    def drive() -> None:
        with httpx.Client(base_url=platform.url["oe"], headers=AUTH, timeout=10, trust_env=False) as oe:
            for i in range(n):
                body = {"scan_id": f"s{i}", "hotspots": [hotspot(site=f"site-{i:02d}")]}
                for _ in range(200):
                    try:
                        if oe.post("/api/v1/results", json=body).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    time.sleep(0.1)
                else:
                    errors.append(i)
                time.sleep(0.05)
        done.set()

    ws = _ws(platform.url["oe"], "alerts")
    driver = threading.Thread(target=drive)
    driver.start()
    while len(received) < 10:
        received.extend(_data_events(ws, timeout=5))
    platform.kill("oe")  # mid-stream
    received.extend(_data_events(ws, timeout=1))  # whatever was in flight; then the socket is gone
    platform.start("oe")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len({e["id"] for e in received}) < n:
        ws = _ws(platform.url["oe"], "alerts", last=received[-1])
        received.extend(_data_events(ws, timeout=3 if not done.is_set() else 1))
        ws.close()
    driver.join(timeout=60)
    assert not errors
    raised = [e for e in received if e["type"] == "alert.raised"]
    sites = [e["payload"]["hotspot"]["site"] for e in raised]
    assert sorted(sites) == [f"site-{i:02d}" for i in range(n)]  # none lost, none twice
    seqs = [e["seq"] for e in received]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # contiguous across the restart
    assert len({e["epoch"] for e in received}) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_killed_ml_engine_during_a_scan_is_retried_without_duplicates(platform, cambridge_csv, monkeypatch) -> None:
    from flows.hotspot_scan import hotspot_scan

    with httpx.Client(base_url=platform.url["dc"], headers=AUTH, timeout=120, trust_env=False) as dc:
        _load(dc, inject(cambridge_csv))
    for key in ("DATA_CORE_URL", "ML_ENGINE_URL", "ORCHESTRATION_URL", "API_TOKEN"):
        monkeypatch.setenv(key, platform.common[key])
    outcome: dict[str, Any] = {}

    def scan() -> None:
        try:
            outcome["result"] = hotspot_scan(**WINDOW, chunk_size=2)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = exc

    platform.kill("ml")
    worker = threading.Thread(target=scan)
    worker.start()
    time.sleep(4)  # the scan is running and its predict tasks meet a dead engine
    assert worker.is_alive()
    platform.start("ml")
    worker.join(timeout=300)
    assert "error" not in outcome, outcome.get("error")
    first = outcome["result"]
    assert first["filled"] > 0 and first["counts"]["created"] > 0
    with httpx.Client(base_url=platform.url["dc"], headers=AUTH, timeout=60, trust_env=False) as dc:
        stored = dc.get("/api/v1/hotspots", params={"limit": 1000}).json()["hotspots"]
        pending = dc.get("/api/v1/predictions/pending", params={**WINDOW, "limit": 1000}).json()["count"]
    keys = [(h["kind"], h["site"], h["meter"], h["activity_type"], h["period_start"]) for h in stored]
    assert len(keys) == len(set(keys)) == first["counts"]["created"]
    assert pending == 0
    again = hotspot_scan(**WINDOW, chunk_size=2)
    assert again["counts"]["created"] == 0 and again["alerts_raised"] == 0

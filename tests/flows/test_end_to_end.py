"""End to end with real processes, as make up runs them: an MLflow tracking server (artifacts proxied over
HTTP), the data core, the train-baseline flow against the server, and the ML engine as its own process
serving the champion it finds in the registry."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mlflow import MlflowClient
from services.common.settings import OFFLINE_ENV
from tests.conftest import AUTH, READ_AUTH, TOKEN, LiveServer
from tests.ml_fixtures import WINDOW

pytestmark = [pytest.mark.slow, pytest.mark.integration]
BIN = Path(sys.executable).parent
ROWS = [{"site": "b0", "timestamp": "2019-04-10T09:00:00Z"}, {"site": "b33", "timestamp": "2019-04-10T09:00:00Z",
                                                               "activity_type": "natural_gas"}]


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{url}: process exited with {process.returncode}"
        try:
            if httpx.get(url, timeout=2, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} not healthy in {timeout} s")


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    full = {**os.environ, **OFFLINE_ENV, "OMP_NUM_THREADS": "1", "PATH": f"{BIN}:{os.environ.get('PATH', '')}", **env}
    return subprocess.Popen(command, env=full, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)


def _stop(process: subprocess.Popen) -> None:
    import signal

    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def mlflow_server(tmp_path):  # type: ignore[no-untyped-def]
    port = _port()
    process = _spawn([str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                      "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
                      "--artifacts-destination", str(tmp_path / "artifacts")],
                     {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}, tmp_path / "mlflow.log")
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(url + "/health", process)
        yield url
    finally:
        _stop(process)


def test_train_against_the_tracking_server_and_serve_from_its_registry(prefect_harness, loaded_data_core,
                                                                       make_settings, mlflow_server, tmp_path,
                                                                       monkeypatch):
    import flows.train_baseline as tb
    from services.data_core.app import create_app as data_core_app

    monkeypatch.setenv("API_TOKEN", TOKEN)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)  # settings, never run parameters
    port = _port()
    with LiveServer(data_core_app(make_settings())) as data_core:
        monkeypatch.setenv("DATA_CORE_URL", data_core.url)
        first = tb.train_baseline(**WINDOW, max_iter=30)
        assert first["alias"] == "champion" and first["version"] == "1"
        engine = _spawn([sys.executable, "-m", "services.ml_engine.app"],
                        {"PORT": str(port), "API_TOKEN": TOKEN, "MLFLOW_TRACKING_URI": mlflow_server,
                         "DATA_CORE_URL": data_core.url, "MODEL_POLL_SECONDS": "1", "LOG_JSON": "false"},
                        tmp_path / "ml-engine.log")
        url = f"http://127.0.0.1:{port}"
        try:
            _wait(url + "/ping", engine)
            r = httpx.post(url + "/invocations", json={"dataframe_records": ROWS}, headers=READ_AUTH, trust_env=False)
            assert r.status_code == 200 and r.headers["x-model-version"] == "1", r.text
            assert len(r.json()["predictions"]) == 2
            typed = httpx.post(url + "/api/v1/predict", json={"site": "b0", "timestamps": ["2019-04-10T09:00:00Z"]},
                               headers=READ_AUTH, trust_env=False).json()
            assert typed["history"]["source"] == "data-core" and typed["model"]["version"] == "1"
            # a worse model is registered but kept from champion: the engine keeps serving v1
            worse = tb.train_baseline(**WINDOW, max_iter=2)
            assert worse["alias"] == "challenger"
            # moving the alias by hand (a rollback or a manual promotion) is picked up by the poller
            client = MlflowClient(mlflow_server, mlflow_server)
            client.set_registered_model_alias("carbon-baseline", "champion", worse["version"])
            deadline = time.monotonic() + 30
            while httpx.get(url + "/version", headers=READ_AUTH, trust_env=False).json()["model"]["version"] != worse["version"]:
                assert time.monotonic() < deadline, "alias move not noticed"
                time.sleep(0.2)
            models = httpx.get(url + "/api/v1/models", headers=READ_AUTH, trust_env=False).json()
            assert {v["version"]: v["aliases"] for v in models["versions"]} == {"2": ["challenger", "champion"],
                                                                                "1": []}
            assert httpx.post(url + "/api/v1/models/reload", headers=AUTH, trust_env=False).status_code == 200
        finally:
            _stop(engine)

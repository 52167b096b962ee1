"""The whole local stack started the way ``make up`` starts it (``python -m services.platform up``): every
process, the demo data (one building, so the first run trains in seconds), a champion, the first scan. Its
data and ports are its own (CARBON_NEXUS_VAR / _MLFLOW / _PORT_OFFSET), so it runs next to a developer's
platform and next to the other tests. Then: every health route, one path through every service, a restart
that keeps the data, and ``down`` stopping every process. Its secrets are its own too: the platform writes
them to the test's env file (CARBON_NEXUS_ENV_FILE, mode 0600); Prefect and MLflow refuse anonymous calls."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from dotenv import dotenv_values

from services.platform import DEFAULT_PORTS, Platform, PlatformSettings
from tests.conftest import AUTH, TOKEN

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.integration]
SITE = "b33"


def _free_offset() -> int:
    """A port offset at which every port of the platform is free on 127.0.0.1."""
    for offset in range(21000, 40000, 997):
        ports = [p + offset for p in DEFAULT_PORTS.values()]
        try:
            for port in ports:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return offset
    raise RuntimeError("no free block of ports")


def _platform_cli(env: dict[str, str], *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.platform", *args], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, dict[str, str], str]]:
    base = tmp_path_factory.mktemp("make-up")
    env = {**os.environ, "API_TOKEN": TOKEN, "CARBON_NEXUS_ENV_FILE": str(base / ".env"),
           "CARBON_NEXUS_VAR": str(base / "var"),
           "CARBON_NEXUS_MLFLOW": str(base / "mlflow"), "CARBON_NEXUS_PORT_OFFSET": str(_free_offset()),
           "CARBON_NEXUS_DEMO_SITES": SITE}
    env.pop("DATABASE_URL", None)  # the tests' database is not the platform's
    for secret in ("READ_TOKEN", "MODEL_SIGNING_KEY", "PREFECT_API_AUTH_STRING"):
        env.pop(secret, None)  # the suite's: the platform writes its own into its env file, as for a new user
    platform = Platform(PlatformSettings(var=base / "var", mlflow=base / "mlflow",
                                         port_offset=int(env["CARBON_NEXUS_PORT_OFFSET"]), demo_sites=SITE))
    try:
        first = _platform_cli(env, "up", timeout=900)
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:] + _logs(platform)
        yield platform, env, first.stdout
    finally:
        _platform_cli(env, "down", timeout=120)


def _read(env: dict[str, str]) -> dict[str, str]:
    """The read token's header (the platform wrote it to the stack's env file)."""
    token = env.get("READ_TOKEN") or dotenv_values(env["CARBON_NEXUS_ENV_FILE"])["READ_TOKEN"]  # the environment wins
    return {"Authorization": f"Bearer {token}"}


def _logs(platform: Platform) -> str:
    return "".join(f"\n--- {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in platform.log.glob("*.log"))


def test_up_starts_every_process_healthy_with_a_champion_and_the_first_scan(stack) -> None:  # type: ignore[no-untyped-def]
    platform, env, output = stack
    read = _read(env)
    for service in platform.services:
        response = httpx.get(service.url + service.health, timeout=10, trust_env=False)
        assert response.status_code == 200, (service.name, response.text)
        assert platform.running_pid(service), service.name
    engine = platform.url["ml-engine"]
    assert httpx.get(engine + "/ping", timeout=10, trust_env=False).status_code == 200  # ready: a champion
    served = httpx.get(engine + "/version", headers=read, timeout=10, trust_env=False).json()["model"]
    assert served["alias"] == "champion" and served["version"] == "1"
    # the printed table: every service ok, and the dashboard link carries the token in its fragment
    for service in platform.services:
        assert any(line.startswith(service.name) and " ok " in line for line in output.splitlines()), service.name
    secrets = dotenv_values(env["CARBON_NEXUS_ENV_FILE"])
    assert f"{platform.url['frontend-ui']}/#token={secrets['READ_TOKEN']}" in output
    assert TOKEN not in output and secrets["MLFLOW_TRACKING_PASSWORD"] not in output  # no write credential
    assert (Path(env["CARBON_NEXUS_ENV_FILE"]).stat().st_mode & 0o777) == 0o600
    # Prefect and MLflow ask for credentials; the runner, the flows and the engine had them (a champion exists)
    assert httpx.post(platform.prefect_api_url + "/flows/filter", json={}, timeout=10,
                      trust_env=False).status_code == 401
    assert httpx.get(platform.mlflow_url + "/api/2.0/mlflow/registered-models/search", timeout=10,
                     trust_env=False).status_code == 401
    # data and logs are where the settings put them, not in the checkout's var/
    assert (platform.var / "data" / "carbon_nexus.db").exists() and (platform.mlflow_dir / "mlflow.db").exists()
    assert {p.stem for p in platform.log.glob("*.log")} >= {s.name for s in platform.services}
    assert any((platform.var / "ml-models").rglob("MLmodel"))


def test_one_path_through_every_service(stack) -> None:  # type: ignore[no-untyped-def]
    """Dashboard config -> orchestration (REST over the data core) -> Prefect deployment run by the runner
    (a scan that asks the ML engine) -> the chatbot answering from the data core."""
    platform, env, _ = stack
    url = platform.url
    with httpx.Client(timeout=60, trust_env=False, headers=_read(env)) as http:
        config = http.get(url["frontend-ui"] + "/config.json").json()
        assert config["orchestrationUrl"] == url["orchestration"] and config["chatbotUrl"] == url["rag-chatbot"]
        oe = config["orchestrationUrl"]
        totals = http.get(f"{oe}/api/v1/emissions/totals", params={"site": SITE, "start": "2020-01-01",
                                                                    "end": "2021-01-01"}).json()
        assert totals["total_kg_co2e"] > 0
        run = http.post(f"{oe}/api/v1/deployments/hotspot-scan/hotspot-scan/run", headers=AUTH,
                        json={"parameters": {"start": "2020-03-01", "end": "2020-03-15", "sites": [SITE]}})
        assert run.status_code == 201, run.text
        deadline = time.monotonic() + 240
        state = run.json()
        while state["state_type"] not in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") and time.monotonic() < deadline:
            time.sleep(2)
            state = http.get(f"{oe}/api/v1/flow-runs/{state['id']}").json()
        assert state["state_type"] == "COMPLETED", state
        answer = http.post(config["chatbotUrl"] + "/api/chat",  # a read POST
                           json={"message": f"What were the total emissions of {SITE} in 2020?"}).json()
        assert any(c["type"] == "query" for c in answer["citations"]), answer
        tonnes = totals["total_kg_co2e"] / 1000
        assert f"{tonnes:,.1f}" in answer["answer"] or f"{totals['total_kg_co2e']:,.0f}" in answer["answer"], answer


def test_restart_keeps_the_data_and_down_stops_everything(stack) -> None:  # type: ignore[no-untyped-def]
    platform, env, _ = stack
    read = _read(env)
    before = httpx.get(f"{platform.url['data-core']}/api/v1/emissions/totals", params={"site": SITE},
                       headers=read, timeout=30, trust_env=False).json()
    version = httpx.get(platform.url["ml-engine"] + "/version", headers=read, timeout=10,
                        trust_env=False).json()["model"]
    down = _platform_cli(env, "down", timeout=120)
    assert down.returncode == 0 and down.stdout.count("stopped ") == len(platform.services), down.stdout
    for service in platform.services:
        assert platform.running_pid(service) is None
        with pytest.raises(httpx.TransportError):
            httpx.get(service.url + service.health, timeout=2, trust_env=False)
    again = _platform_cli(env, "up", timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "(already loaded)" in again.stdout  # the demo replayed by its idempotency keys, not re-ingested
    after = httpx.get(f"{platform.url['data-core']}/api/v1/emissions/totals", params={"site": SITE},
                      headers=read, timeout=30, trust_env=False).json()
    assert after == before
    assert httpx.get(platform.url["ml-engine"] + "/version", headers=read, timeout=10,
                     trust_env=False).json()["model"]["version"] == version["version"]  # no retraining

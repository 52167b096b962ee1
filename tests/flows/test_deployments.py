"""Deployments: registered with their schedules, parameters and descriptions; and a real runner process
(python -m deployments.serve) executing a manual run of fill-expected against live services."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.common.settings import OFFLINE_ENV
from tests.conftest import TOKEN, LiveServer

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_every_deployment_is_registered_with_its_schedule(prefect_harness):
    from prefect.client.orchestration import get_client

    from deployments.definitions import build

    expected = {"ingest/ingest": (300, {}),
                "fill-expected/predict": ("5 * * * *", {"max_readings": 100_000}),
                "hotspot-scan/hotspot-scan": ("15 * * * *", {"lookback_days": 28, "chunk_size": 10}),
                "train-baseline/train-baseline": ("0 3 * * 1", {"max_iter": 600}),
                "monthly-bills/monthly-bills": ("30 4 * * *", {"chunk_size": 25}),
                "fit-reference/fit-reference": ("0 4 * * *", {"pending": True, "new_only": True, "days": 90})}
    built = build()
    assert sorted(f"{d.flow_name}/{d.name}" for d in built) == sorted(expected)
    for deployment in built:
        deployment.apply()
    with get_client(sync_client=True) as client:
        for name, (when, parameters) in expected.items():
            d = client.read_deployment_by_name(name)
            schedule = d.schedules[0].schedule
            got = schedule.interval.total_seconds() if isinstance(when, int) else schedule.cron
            assert len(d.schedules) == 1 and got == when
            assert schedule.timezone == "Europe/London" and d.schedules[0].active
            assert d.parameters == parameters and d.description and "carbon-nexus" in d.tags


@pytest.mark.slow
def test_a_runner_process_executes_a_manual_run(prefect_harness, loaded_data_core, make_settings, engine_settings,
                                                tmp_path):
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL

    from services.data_core.app import create_app as data_core_app
    from services.ml_engine.app import create_app as ml_engine_app

    window = {"start": "2019-04-08T00:00:00Z", "end": "2019-04-09T00:00:00Z"}
    with LiveServer(data_core_app(make_settings())) as dc, \
            LiveServer(ml_engine_app(engine_settings(data_core_url=dc.url))) as ml:
        env = {**os.environ, **OFFLINE_ENV, "PREFECT_API_URL": PREFECT_API_URL.value(), "API_TOKEN": TOKEN,
               "DATA_CORE_URL": dc.url, "ML_ENGINE_URL": ml.url, "OMP_NUM_THREADS": "1"}
        runner = subprocess.Popen([sys.executable, "-m", "deployments.serve"], cwd=ROOT, env=env,
                                  stdout=(tmp_path / "runner.log").open("wb"), stderr=subprocess.STDOUT,
                                  start_new_session=True)
        try:
            from prefect.client.orchestration import get_client

            deadline = time.monotonic() + 60
            with get_client(sync_client=True) as client:
                while True:  # the runner registers the deployments when it starts
                    try:
                        client.read_deployment_by_name("fill-expected/predict")
                        break
                    except Exception:  # noqa: BLE001 - not registered yet
                        assert time.monotonic() < deadline and runner.poll() is None, (tmp_path / "runner.log").read_text()
                        time.sleep(0.5)
            run = run_deployment("fill-expected/predict", parameters=window, timeout=180)
            assert run.state is not None and run.state.is_completed(), (run.state, (tmp_path / "runner.log").read_text())
        finally:
            import signal

            os.killpg(runner.pid, signal.SIGTERM)
            runner.wait(timeout=30)
    pending = loaded_data_core.get("/api/v1/predictions/pending", params=window).json()["count"]
    assert pending == 0
    stored = loaded_data_core.get("/api/v1/residuals", params=window).json()["count"]
    assert stored == 3 * 2 * 24


def test_the_orchestration_api_lists_and_triggers_deployments(prefect_harness, make_settings):
    import httpx
    from prefect.settings import PREFECT_API_URL

    from deployments.definitions import build
    from services.data_core.app import create_app as data_core_app
    from services.orchestration.app import create_app
    from tests.conftest import AUTH
    from tests.services.orchestration.conftest import orchestration_settings

    for deployment in build():
        deployment.apply()
    with LiveServer(data_core_app(make_settings())) as dc, \
            LiveServer(create_app(orchestration_settings(dc.url, prefect_api_url=PREFECT_API_URL.value()))) as oe, \
            httpx.Client(base_url=oe.url, headers=AUTH, timeout=60, trust_env=False) as http:
        listed = {d["name"]: d for d in http.get("/api/v1/deployments").json()["deployments"]}
        assert {"ingest/ingest", "fill-expected/predict", "hotspot-scan/hotspot-scan",
                "train-baseline/train-baseline"} <= set(listed)
        scan = listed["hotspot-scan/hotspot-scan"]
        assert scan["schedules"][0]["cron"] == "15 * * * *" and scan["description"] and scan["ui"].startswith("http")
        run = http.post("/api/v1/deployments/hotspot-scan/run", json={"parameters": {"lookback_days": 7}})
        assert run.status_code == 201, run.text
        body = run.json()
        assert body["deployment"] == "hotspot-scan/hotspot-scan" and body["parameters"]["lookback_days"] == 7
        assert body["state"] == "Scheduled"
        runs = http.get("/api/v1/flow-runs", params={"limit": 50}).json()["flow_runs"]
        assert body["id"] in {r["id"] for r in runs}
        one = http.get(f"/api/v1/flow-runs/{body['id']}")  # one run, in the shape of the list
        assert one.status_code == 200 and one.json() == next(r for r in runs if r["id"] == body["id"])
        for unknown in ("00000000-0000-4000-8000-000000000000", "not-a-uuid"):
            missing = http.get(f"/api/v1/flow-runs/{unknown}")
            assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem")
        bad = http.post("/api/v1/deployments/hotspot-scan/run", json={"parameters": {"nope": 1}})
        assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
        assert http.post("/api/v1/deployments/no-such/thing/run", json={}).status_code == 404
        assert http.post("/api/v1/deployments/hotspot-scan/run", json={}, headers={"Authorization": "Bearer x"}
                         ).status_code == 401
        assert http.get("/api/v1/links").json()["prefect"].startswith("http")

"""No secret leaves through flow runs (issue #15).

* Unit: no deployment's parameter schema and no flow signature takes an address, a path, a tracking URI or a
  secret; no task takes a token, a URL or settings.
* End to end: a real runner (``python -m deployments.serve``) against a real Prefect server runs EVERY
  deployment (ingest, fill-expected/predict, hotspot-scan, train-baseline, monthly-bills) with the data core, the ML engine
  (its registry) and the orchestration engine running for real; every run completes. Then Prefect's stored
  flow runs and task runs, logs, artifacts, deployments and events (through its API) and every answer of the
  orchestration engine's GET endpoints are searched for the API token and the other secrets: none is found.
  A run stored the old way (the token as a parameter) before the runner starts is scrubbed by it.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from services.common.settings import OFFLINE_ENV
from tests.conftest import AUTH, TOKEN, LiveServer

ROOT = Path(__file__).resolve().parents[2]
# names a run parameter must not have: addresses, paths, registries, schedulers, secrets
FORBIDDEN = re.compile(r"url|uri|address|path|folder|dir|sources|token|secret|passw|key|auth|credential|settings",
                       re.IGNORECASE)
# task parameters may be paths of files found (ingest), never addresses, secrets or settings
FORBIDDEN_IN_TASKS = re.compile(r"url|uri|address|token|secret|passw|auth|credential|settings", re.IGNORECASE)
SITE = "b33"


def _flows_and_tasks() -> tuple[list[Any], list[Any]]:
    from prefect import Flow
    from prefect.tasks import Task

    import flows.fit_reference
    import flows.hotspot_scan
    import flows.ingest
    import flows.monthly_bills
    import flows.predict_expected
    import flows.train_baseline

    found: dict[int, Any] = {}
    for module in (flows.ingest, flows.predict_expected, flows.hotspot_scan, flows.train_baseline, flows.monthly_bills,
                   flows.fit_reference):
        for value in vars(module).values():
            if isinstance(value, Flow | Task):
                found[id(value)] = value
    return [v for v in found.values() if isinstance(v, Flow)], [v for v in found.values() if isinstance(v, Task)]


def test_no_deployment_flow_or_task_takes_an_address_a_path_or_a_secret() -> None:
    from deployments.definitions import build

    deployments = build()
    assert len(deployments) == 6
    for deployment in deployments:
        properties = deployment._parameter_openapi_schema.properties  # the schema Prefect stores and validates
        bad = [name for name in properties if FORBIDDEN.search(name)]
        assert not bad, f"{deployment.flow_name}/{deployment.name} takes {bad}"
        assert not [name for name in deployment.parameters if FORBIDDEN.search(name)]
    all_flows, all_tasks = _flows_and_tasks()
    assert {f.name for f in all_flows} >= {"ingest", "ingest-files", "fill-expected", "hotspot-scan", "scan-chunks",
                                           "train-baseline"}
    for item in all_flows:
        bad = [name for name in inspect.signature(item.fn).parameters if FORBIDDEN.search(name)]
        assert not bad, f"flow {item.name} takes {bad}"
    assert len(all_tasks) >= 10
    for item in all_tasks:
        bad = [name for name in inspect.signature(item.fn).parameters if FORBIDDEN_IN_TASKS.search(name)]
        assert not bad, f"task {item.name} takes {bad}"


# --------------------------------------------------------------------------- end to end
RUNS = {
    "ingest/ingest": {},
    "fill-expected/predict": {"start": "2019-04-20T00:00:00Z", "end": "2019-04-21T00:00:00Z", "sites": [SITE],
                              "max_readings": 1000},
    "hotspot-scan/hotspot-scan": {"start": "2019-04-14T00:00:00Z", "end": "2019-04-22T00:00:00Z", "sites": [SITE],
                                  "chunk_size": 1},
    "train-baseline/train-baseline": {"activity_types": ["electricity"], "train_start": "2019-01-15",
                                      "holdout_start": "2019-04-08", "holdout_end": "2019-04-22", "max_iter": 5},
    "monthly-bills/monthly-bills": {"sites": [SITE], "chunk_size": 1},
    "fit-reference/fit-reference": {"sites": [SITE], "pending": True, "new_only": True, "days": 60},
}
CUT = pd.Timestamp("2019-04-22T00:00:00Z")


def _secrets() -> dict[str, str]:
    values = {"API_TOKEN": TOKEN, "READ_TOKEN": os.environ.get("READ_TOKEN", "flow-secrets-read-token-0123456789"),
              "PREFECT_API_AUTH_STRING": "runner:prefect-password-0123456789",
              "MLFLOW_TRACKING_PASSWORD": "mlflow-password-0123456789"}
    if os.environ.get("MODEL_SIGNING_KEY"):
        values["MODEL_SIGNING_KEY"] = os.environ["MODEL_SIGNING_KEY"]
    return values


def _load_site(client: Any, csv: bytes, inbox: Path) -> int:
    """The organisation and one building; its readings before CUT through the data core, two days of its
    electricity after CUT dropped in the ingest folder (the ingest deployment sends them)."""
    from services.data_core.demo import ORG, demo_sites

    assert client.post("/api/v1/organisations", json=ORG, headers=AUTH).status_code == 201
    [site] = [s for s in demo_sites() if s["id"] == SITE]
    assert client.post("/api/v1/sites", json=site, headers=AUTH).status_code == 201
    import io

    frame = pd.read_csv(io.BytesIO(csv))
    frame = frame[frame["site"] == SITE]
    ts = pd.to_datetime(frame["timestamp"], utc=True)
    r = client.post("/api/v1/ingest", params={"editions": "DESNZ-2024"}, headers=AUTH,
                    files={"file": ("b33.csv", frame[ts < CUT].to_csv(index=False).encode(), "text/csv")})
    assert r.status_code == 200 and r.json()["rejected"] == 0, r.text
    # electricity only: 2019 gas has no factor without an edition applied on purpose (the flow applies none)
    late = frame[(ts >= CUT) & (ts < CUT + pd.Timedelta(days=2)) & (frame["activity_type"] == "electricity")]
    inbox.mkdir(parents=True)
    path = inbox / "late.csv"
    path.write_bytes(late.to_csv(index=False).encode())
    os.utime(path, (time.time() - 60, time.time() - 60))  # settled
    return len(late)


def _old_style_run(secret: str) -> str:
    """A run stored before the fix: the token as a subflow parameter, as flows/ingest.py passed it."""
    from prefect import flow

    @flow(name="ingest-files-before-15")
    def before(data_core_url: str, token: str, paths: list[str]) -> None:
        return None

    state = before("http://127.0.0.1:9", secret, [], return_state=True)
    return str(state.state_details.flow_run_id)


def _wait_registered(client: Any, runner: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 120
    for name in RUNS:
        while True:
            try:
                client.read_deployment_by_name(name)
                break
            except Exception:  # noqa: BLE001 - not registered yet
                assert time.monotonic() < deadline and runner.poll() is None, log.read_text()
                time.sleep(0.5)


def _run(http: httpx.Client, prefect: Any, name: str, log: Path) -> Any:
    """Trigger through the orchestration engine; wait for the runner to finish it."""
    from uuid import UUID

    answer = http.post(f"/api/v1/deployments/{name}/run", json={"parameters": RUNS[name]})
    assert answer.status_code == 201, answer.text
    run_id = UUID(answer.json()["id"])
    deadline = time.monotonic() + 900
    while True:
        run = prefect.read_flow_run(run_id)
        if run.state is not None and run.state.is_final():
            assert run.state.is_completed(), (name, run.state, log.read_text()[-5000:])
            return run
        assert time.monotonic() < deadline, (name, run.state, log.read_text()[-5000:])
        time.sleep(1)


def _prefect_dump(prefect: Any) -> dict[str, str]:
    """Everything Prefect's API hands out about runs: flow runs (parameters, states), task runs, logs,
    artifacts, deployments and events, as JSON text."""
    out: dict[str, str] = {}
    for path, key in (("/flow_runs/filter", "flow_runs"), ("/task_runs/filter", "task_runs"), ("/logs/filter", "logs"),
                      ("/artifacts/filter", "artifacts"), ("/deployments/filter", "deployments"),
                      ("/flows/filter", "flows"), ("/variables/filter", "variables")):
        items: list[Any] = []
        while True:
            page = prefect._client.post(path, json={"limit": 200, "offset": len(items)})
            page.raise_for_status()
            items.extend(page.json())
            if len(page.json()) < 200:
                break
        out[key] = json.dumps(items)
    events: list[Any] = []
    page = prefect._client.post("/events/filter", json={"filter": {"occurred": {"since": "2000-01-01T00:00:00Z"}},
                                                        "limit": 50}).json()
    while True:
        events.extend(page["events"])
        if not page.get("next_page"):
            break
        page = prefect._client.get(page["next_page"]).json()
    out["events"] = json.dumps(events)
    return out


def _orchestration_dump(http: httpx.Client, app: Any, run_ids: list[str]) -> dict[str, str]:
    """Every GET endpoint of the orchestration engine without path parameters, and each flow run."""
    paths = {path for path, ops in app.openapi()["paths"].items() if "get" in ops and "{" not in path}
    out: dict[str, str] = {}
    for path in sorted(paths | {"/health", "/metrics"}):
        out[path] = http.get(path, params={"limit": 200} if path.endswith("/flow-runs") else None).text
    for run_id in run_ids:
        out[f"/api/v1/flow-runs/{run_id}"] = http.get(f"/api/v1/flow-runs/{run_id}").text
    assert out["/api/v1/flow-runs"].startswith('{"flow_runs"') and len(out) > 20
    return out


def _leaks(texts: dict[str, str], secrets: dict[str, str]) -> list[str]:
    out = []
    for where, text in texts.items():
        for name, value in secrets.items():
            for shown in {value, json.dumps(value)[1:-1], value.partition(":")[2]} - {""}:
                if shown in text:
                    at = text.index(shown)
                    out.append(f"{name} in {where}: ...{text[max(0, at - 300):at]}[{name}]{text[at + len(shown):at + len(shown) + 100]}...")
    return sorted(set(out))


@pytest.mark.slow
@pytest.mark.integration
def test_every_deployment_runs_and_no_secret_is_stored_or_answered(prefect_harness, client, make_settings,
                                                                   engine_settings, store_uri, cambridge_csv,
                                                                   tmp_path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    from services.data_core.app import create_app as data_core_app
    from services.ml_engine.app import create_app as ml_engine_app
    from services.orchestration.app import create_app as orchestration_app
    from tests.services.orchestration.conftest import orchestration_settings

    secrets = _secrets()
    inbox = tmp_path / "inbox"
    late_rows = _load_site(client, cambridge_csv, inbox)
    old_run = _old_style_run(TOKEN)
    log = tmp_path / "runner.log"
    oe_app = None
    with LiveServer(data_core_app(make_settings())) as dc, \
            LiveServer(ml_engine_app(engine_settings(data_core_url=dc.url))) as ml:
        oe_app = orchestration_app(orchestration_settings(dc.url, ml_engine_url=ml.url,
                                                          prefect_api_url=PREFECT_API_URL.value()))
        with LiveServer(oe_app) as oe, httpx.Client(base_url=oe.url, headers=AUTH, timeout=120, trust_env=False) as http:
            env = {**os.environ, **OFFLINE_ENV, **secrets, "PREFECT_API_URL": PREFECT_API_URL.value(),
                   "PREFECT_RUNNER_POLL_FREQUENCY": "2", "DATA_CORE_URL": dc.url, "ML_ENGINE_URL": ml.url,
                   "ORCHESTRATION_URL": oe.url, "MLFLOW_TRACKING_URI": store_uri, "INGEST_DIR": str(inbox),
                   "INGEST_SOURCES": "[]", "TASK_RUNNER": "thread", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "LOG_JSON": "false"}
            env.pop("RAG_SERVICE_URL", None)
            # cwd: the test's directory, so that no .env of the checkout is read
            runner = subprocess.Popen([sys.executable, "-m", "deployments.serve"], cwd=tmp_path, env=env,
                                      stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
            try:
                with get_client(sync_client=True) as prefect:
                    _wait_registered(prefect, runner, log)
                    runs = {name: _run(http, prefect, name, log) for name in RUNS}
                    # the runs did their work
                    assert (inbox / "done" / "late.csv").exists()
                    report = json.loads((inbox / "done" / "late.csv.report.json").read_text())
                    assert report["accepted"] == late_rows
                    window = {k: RUNS["fill-expected/predict"][k] for k in ("start", "end")}
                    assert client.get("/api/v1/predictions/pending", params={**window, "site": SITE},
                                      headers=AUTH).json()["count"] == 0
                    assert prefect.read_flow_run(runs["hotspot-scan/hotspot-scan"].id).state.is_completed()
                    # the run stored the old way was scrubbed when the runner started
                    assert prefect.read_flow_run(old_run).parameters["token"] == "[redacted]"
                    stored = _prefect_dump(prefect)
                    answered = _orchestration_dump(http, oe_app, [str(r.id) for r in runs.values()] + [old_run])
            finally:
                os.killpg(runner.pid, signal.SIGTERM)
                runner.wait(timeout=60)
    assert "scrub of stored runs" in log.read_text()
    assert json.loads(stored["flow_runs"]) and json.loads(stored["task_runs"]) and json.loads(stored["logs"])
    assert json.loads(stored["artifacts"])  # the ingest and hotspot-scan tables
    subflows = [r for r in json.loads(stored["flow_runs"]) if r["parent_task_run_id"]]
    assert subflows  # ingest-files, scan-chunks, fill-expected under hotspot-scan: parameters stored too
    leaks = _leaks({**{f"prefect {k}": v for k, v in stored.items()}, **answered}, secrets)
    assert not leaks, leaks

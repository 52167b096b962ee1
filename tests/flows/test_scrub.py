"""deployments.scrub against a real Prefect server: a run stored the old way (the API token as a subflow
parameter, as ``ingest-files`` had it before issue #15, plus an artifact and a log line quoting it) is
redacted through Prefect's API; the artifact is deleted; the log line, which Prefect's API cannot delete, is
counted; a second scrub changes nothing; the orchestration engine never answered the token anyway."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def _old_style_run(secret: str) -> str:
    """A parent flow passing the token to a subflow, the way flows/ingest.py did before the fix."""
    from prefect import flow, get_run_logger
    from prefect.artifacts import create_markdown_artifact
    from prefect.context import get_run_context

    @flow(name="old-ingest-files")
    def old_ingest_files(data_core_url: str, token: str, paths: list[str]) -> str:
        create_markdown_artifact(markdown=f"sent with `{token}`", key="old-report")
        get_run_logger().info("calling %s with Bearer %s", data_core_url, token)
        return str(get_run_context().flow_run.id)  # type: ignore[union-attr]

    @flow(name="old-ingest")
    def old_ingest() -> str:
        return old_ingest_files("http://127.0.0.1:9", secret, ["a.csv"])

    return old_ingest()


async def _stored(run_id: str) -> dict[str, Any]:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        run = await client.read_flow_run(run_id)  # type: ignore[arg-type]
        artifacts = (await client.request("POST", "/artifacts/filter", json={})).json()  # type: ignore[arg-type]
    return {"parameters": run.parameters, "artifacts": json.dumps(artifacts)}


def _wait_for_log(secret: str) -> None:
    import time

    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + 60
    with get_client(sync_client=True) as client:
        while secret not in client._client.post("/logs/filter", json={"logs": {"text": {"query": f'"{secret}"'}}}).text:
            assert time.monotonic() < deadline, "the run's log line never reached the server"
            time.sleep(0.5)


def test_a_run_stored_with_the_token_is_scrubbed_once(prefect_harness, monkeypatch, capsys) -> None:
    from deployments import scrub

    # this test's own value, unrelated to the session's TOKEN: the Prefect harness is the session's, and the log
    # line below cannot be deleted, so a value containing TOKEN would be found by tests that run later and
    # search Prefect for the session's secrets (tests/security/test_flow_secrets.py)
    secret = f"scrub-{uuid.uuid4().hex}"
    monkeypatch.setenv("API_TOKEN", secret)
    for name in ("READ_TOKEN", "PREFECT_API_AUTH_STRING", "MLFLOW_TRACKING_PASSWORD", "MODEL_SIGNING_KEY",
                 "POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(scrub.ScrubSettings, "model_config", {**scrub.ScrubSettings.model_config, "env_file": None})
    sub_id = _old_style_run(secret)
    _wait_for_log(secret)  # the run's log lines reach the server in batches
    before = asyncio.run(_stored(sub_id))
    assert before["parameters"]["token"] == secret and secret in before["artifacts"]

    assert scrub.main(["--dry-run"]) == 1  # the log line is left: exit 1 so that an operator sees it
    dry = json.loads(capsys.readouterr().out)
    assert dry["flow_runs_redacted"] >= 1 and asyncio.run(_stored(sub_id))["parameters"]["token"] == secret

    assert scrub.main([]) == 1
    first = json.loads(capsys.readouterr().out)
    assert first["flow_runs_redacted"] == dry["flow_runs_redacted"] and first["artifacts_deleted"] == 1
    assert first["log_lines_left"] == 1 and first["task_runs_deleted"] == 0
    after = asyncio.run(_stored(sub_id))
    assert after["parameters"] == {"data_core_url": "http://127.0.0.1:9", "token": "[redacted]", "paths": ["a.csv"]}
    assert secret not in after["artifacts"]

    scrub.main([])
    again = json.loads(capsys.readouterr().out)
    assert again == {"flow_runs_redacted": 0, "task_runs_deleted": 0, "artifacts_deleted": 0,
                     "log_lines_left": 1}


def test_the_orchestration_engine_redacts_secret_parameters(prefect_harness, make_settings) -> None:
    """Even a run that still holds a secret (stored before the fix, not scrubbed yet) is answered redacted:
    by name (token, password, ...) and by value (any value containing one of the engine's secrets)."""
    import httpx
    from prefect import flow
    from prefect.settings import PREFECT_API_URL

    from services.data_core.app import create_app as data_core_app
    from services.orchestration.app import create_app
    from tests.conftest import AUTH, LiveServer
    from tests.services.orchestration.conftest import orchestration_settings

    @flow(name="old-with-secrets")
    def old(api_key: str, note: str, nested: dict) -> None:  # type: ignore[type-arg]
        return None

    auth = "prefect:auth-string-password-0123"
    # by value: the engine's Prefect password (not the session's TOKEN, which later tests search Prefect for)
    old("k-123456789", f"Basic {auth.partition(':')[2]}", {"password": "p-123456789", "ok": 1})
    with LiveServer(data_core_app(make_settings())) as dc, \
            LiveServer(create_app(orchestration_settings(dc.url, prefect_api_url=PREFECT_API_URL.value(),
                                                         prefect_api_auth_string=auth))) as oe, \
            httpx.Client(base_url=oe.url, headers=AUTH, timeout=60, trust_env=False) as http:
        runs = http.get("/api/v1/flow-runs", params={"limit": 200}).json()["flow_runs"]
        # the Prefect harness is the session's: the other dialect's run of this test is listed too (the newest first)
        run = next(r for r in runs if "note" in r["parameters"])
        one = http.get(f"/api/v1/flow-runs/{run['id']}").json()
    for answer in (run, one):
        assert answer["parameters"] == {"api_key": "[redacted]", "note": "[redacted]",
                                        "nested": {"password": "[redacted]", "ok": 1}}
    text = json.dumps(runs)
    assert "auth-string-password-0123" not in text and "k-123456789" not in text and "p-123456789" not in text


def test_the_prefect_client_sends_the_auth_string() -> None:
    from services.orchestration.prefect_api import get_client
    from tests.services.orchestration.conftest import orchestration_settings

    client = get_client(orchestration_settings("http://127.0.0.1:9", prefect_api_auth_string="user:pass"))
    assert client._client.headers["authorization"] == "Basic dXNlcjpwYXNz"  # base64("user:pass")
    assert "authorization" not in get_client(orchestration_settings("http://127.0.0.1:9"))._client.headers

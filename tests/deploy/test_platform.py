"""make up's process table: every service on its own port, started after what it needs, offline."""

from __future__ import annotations

import pytest

from services.platform import FLOW_ENV, SERVICES

pytestmark = pytest.mark.unit


def test_ports_names_and_order() -> None:
    names = [s.name for s in SERVICES]
    assert len(set(names)) == len(names) and len({s.port for s in SERVICES}) == len(SERVICES)
    assert {s.port for s in SERVICES} >= {4200, 5000, 8001, 8002}
    for i, s in enumerate(SERVICES):
        assert set(s.after) <= set(names[:i]), f"{s.name} starts before {s.after}"


def test_flows_and_engine_point_at_the_local_services() -> None:
    by_name = {s.name: s for s in SERVICES}
    assert by_name["ml-engine"].env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5000"
    assert by_name["flow-runner"].env["PREFECT_API_URL"] == FLOW_ENV["PREFECT_API_URL"] == "http://127.0.0.1:4200/api"
    assert by_name["flow-runner"].env["PREFECT_RUNNER_SERVER_PORT"] == str(by_name["flow-runner"].port)
    assert by_name["mlflow"].env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert "--analytics-off" in by_name["prefect-server"].command
    for s in SERVICES:  # make up binds to the loopback interface only
        assert "0.0.0.0" not in " ".join(s.command) and s.env.get("HOST", "127.0.0.1") == "127.0.0.1"


def test_the_chatbot_runs_with_the_platform_and_the_flows_find_it() -> None:
    by_name = {s.name: s for s in SERVICES}
    rag = by_name["rag-chatbot"]
    assert rag.port == 8004 and rag.health == "/api/health" and rag.env["DATA_CORE_URL"] == "http://127.0.0.1:8002"
    assert FLOW_ENV["RAG_SERVICE_URL"] == "http://127.0.0.1:8004"
    assert by_name["orchestration"].env["RAG_SERVICE_URL"] == FLOW_ENV["RAG_SERVICE_URL"]


def test_the_dashboard_runs_with_the_platform_and_points_the_browser_at_the_two_services() -> None:
    by_name = {s.name: s for s in SERVICES}
    ui = by_name["frontend-ui"]
    assert ui.port == 5173 and ui.health == "/api/health" and set(ui.after) == {"orchestration", "rag-chatbot"}
    assert ui.env["ORCHESTRATION_PUBLIC_URL"] == by_name["orchestration"].url
    assert ui.env["CHATBOT_PUBLIC_URL"] == by_name["rag-chatbot"].url
    # the browser's origin is allowed by both services it talks to
    from services.common.settings import ServiceSettings
    from services.orchestration.settings import OrchestrationSettings

    origin = "http://127.0.0.1:5173"
    assert origin in OrchestrationSettings(api_token="x" * 30).ws_allowed_origins  # type: ignore[call-arg]
    assert origin in ServiceSettings(api_token="x" * 30).cors_origins  # type: ignore[call-arg]


def test_the_dashboard_link_carries_the_read_token_in_the_fragment_only(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from services.platform import dashboard_url

    monkeypatch.setenv("READ_TOKEN", "a/b+c" + "r" * 30)
    monkeypatch.setenv("API_TOKEN", "write-" + "w" * 30)
    url = dashboard_url()
    assert url.startswith("http://127.0.0.1:5173/#token=") and "a%2Fb%2Bc" in url
    assert "write-" not in url  # the write token never goes into terminal scrollback


def test_each_process_gets_its_credentials_in_its_environment_never_on_its_command_line(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from services import platform_env
    from services.platform import Platform

    values = {key: f"{key.lower()}-value-0123456789" for key in platform_env.SECRETS}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    platform = Platform()
    by_name = {s.name: s for s in platform.services}
    env = {name: platform.child_credentials(name) for name in by_name}
    assert env["prefect-server"]["PREFECT_SERVER_API_AUTH_STRING"] == values["PREFECT_API_AUTH_STRING"]
    assert env["mlflow"]["MLFLOW_AUTH_ADMIN_PASSWORD"] == values["MLFLOW_TRACKING_PASSWORD"]
    assert "--app-name" in by_name["mlflow"].command and "basic-auth" in by_name["mlflow"].command
    assert by_name["mlflow"].env["MLFLOW_AUTH_CONFIG_PATH"].endswith("basic_auth.ini")
    for name in ("ml-engine", "flow-runner"):
        assert env[name]["MLFLOW_TRACKING_PASSWORD"] == values["MLFLOW_TRACKING_PASSWORD"]
        assert env[name]["MODEL_SIGNING_KEY"] == values["MODEL_SIGNING_KEY"]
    for name in ("orchestration", "flow-runner"):
        assert env[name]["PREFECT_API_AUTH_STRING"] == values["PREFECT_API_AUTH_STRING"]
    # least privilege: the servers get none of the platform's tokens, the dashboard only the read token
    assert "API_TOKEN" not in env["prefect-server"] and "API_TOKEN" not in env["mlflow"]
    assert "API_TOKEN" not in env["frontend-ui"] and env["frontend-ui"]["READ_TOKEN"] == values["READ_TOKEN"]
    for service in platform.services:  # no secret on a command line (ps) or in a URL
        text = " ".join(service.command) + " " + " ".join(service.env.values())
        assert not any(value in text for value in values.values()), service.name
        assert env[service.name]["CARBON_NEXUS_ENV_FILE"] == ""  # the suite's: no env file


def _web(port: int, delay: float = 0.0) -> list[str]:
    """A tiny real process answering 200 on every path after ``delay`` seconds."""
    import sys

    code = (f"import time,http.server as h; time.sleep({delay}); "
            f"h.HTTPServer(('127.0.0.1',{port}),type('H',(h.BaseHTTPRequestHandler,),"
            "{'do_GET':lambda s:(s.send_response(200),s.end_headers()),'log_message':lambda *a:None})).serve_forever()")
    return [sys.executable, "-c", code]


def _toy_platform(tmp_path, services):  # type: ignore[no-untyped-def]
    from services.platform import Platform, PlatformSettings

    platform = Platform(PlatformSettings(var=tmp_path / "var", mlflow=tmp_path / "mlflow"))
    platform.services = services
    return platform


@pytest.mark.integration
def test_each_process_starts_once_what_it_waits_for_is_healthy_not_in_list_order(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from services.platform import Service
    from tests.conftest import free_port

    slow, needs_slow, independent = free_port(), free_port(), free_port()
    services = [Service("slow", slow, "/", _web(slow, delay=3)),
                Service("needs-slow", needs_slow, "/", _web(needs_slow), after=("slow",)),
                Service("independent", independent, "/", _web(independent))]
    platform = _toy_platform(tmp_path, services)
    try:
        assert platform.start_all(timeout=30)
        started = {s.name: (platform.run / f"{s.name}.pid").stat().st_mtime for s in services}
        assert started["independent"] < started["slow"] + 1 < started["needs-slow"]  # not held back by "slow"
    finally:
        platform.down(timeout=5)
    assert not list(platform.run.glob("*.pid")) and all(platform.running_pid(s) is None for s in services)


@pytest.mark.integration
def test_a_process_that_exits_during_start_fails_at_once_with_its_log(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    import sys
    import time

    from services.platform import Service
    from tests.conftest import free_port

    port = free_port()
    crash = [sys.executable, "-c", "import sys; print('API_TOKEN is missing'); sys.exit(3)"]
    platform = _toy_platform(tmp_path, [Service("crashes", port, "/", crash)])
    begun = time.monotonic()
    assert platform.start_all(timeout=60) is False
    assert time.monotonic() - begun < 20  # not the 60 s deadline
    assert "crashes exited during start" in capsys.readouterr().err
    assert "API_TOKEN is missing" in (platform.log / "crashes.log").read_text()

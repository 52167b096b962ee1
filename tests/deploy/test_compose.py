"""compose.yaml checked against the code: names, ports, health routes, network, restart, logging."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_data_core_service_matches_the_architecture(compose: dict) -> None:
    svc = compose["services"]["data-core"]
    assert svc["image"] == "carbon-nexus-data-core"
    assert "8002:8002" in svc["ports"]
    assert svc["networks"] == ["carbon_network"]
    assert svc["restart"] == "unless-stopped"
    assert svc["depends_on"]["postgres"]["condition"] == "service_healthy"
    hc = svc["healthcheck"]
    assert (hc["interval"], hc["retries"], hc["start_period"]) == ("30s", 3, "40s")
    assert "http://127.0.0.1:8002/health" in " ".join(hc["test"])
    assert svc["logging"]["driver"] == "json-file"
    assert svc["logging"]["options"] == {"max-size": "10m", "max-file": "3"}
    assert (ROOT / svc["build"]["dockerfile"]).exists()
    assert (ROOT / svc["env_file"]).exists()


def test_health_route_in_compose_exists_in_the_app() -> None:
    from services.data_core.app import create_app
    from services.data_core.settings import DataCoreSettings

    app = create_app(DataCoreSettings(api_token="a-real-token-for-this-check", database_url="sqlite://"))
    paths = {getattr(r, "path", None) for r in app.routes}
    assert "/health" in paths and "/metrics" in paths


def test_environment_names_are_settings_the_service_reads(compose: dict) -> None:
    from services.data_core.settings import DataCoreSettings

    fields = {name.upper() for name in DataCoreSettings.model_fields}
    env = compose["services"]["data-core"]["environment"]
    assert set(env) <= fields, set(env) - fields


def test_network_is_a_bridge(compose: dict) -> None:
    assert compose["networks"]["carbon_network"]["driver"] == "bridge"


def test_dockerfile_ends_as_non_root() -> None:
    text = (ROOT / "docker/python.Dockerfile").read_text()
    for stage in text.split("\nFROM ")[1:]:
        users = [line for line in stage.splitlines() if line.startswith("USER ")]
        if " AS development" in stage.splitlines()[0] or " AS production" in stage.splitlines()[0]:
            assert users and users[-1].split()[1] != "root"


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="Debian docker-compose not installed")
def test_docker_compose_config_is_valid() -> None:
    env = {**os.environ, "POSTGRES_PASSWORD": "check-only", "API_TOKEN": "check-only"}
    result = subprocess.run(["docker-compose", "-f", "compose.yaml", "config", "-q"], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


LONG_RUNNING = {"postgres": None, "prefect-db": None, "data-core": 8002, "prefect-server": 4200, "mlflow": 5000,
                "ml-engine": 8001, "orchestration-engine": 8003, "rag-chatbot": 8004, "flow-runner": None,
                "frontend-ui": 5173}


@pytest.mark.parametrize("name", sorted(LONG_RUNNING))
def test_every_service_is_healthchecked_restarted_logged_and_on_the_network(compose: dict, name: str) -> None:
    svc = compose["services"][name]
    assert svc["networks"] == ["carbon_network"] and svc["restart"] == "unless-stopped"
    hc = svc["healthcheck"]
    assert (hc["interval"], hc["retries"], hc["start_period"]) == ("30s", 3, "40s")
    assert svc["logging"]["driver"] == "json-file"
    port = LONG_RUNNING[name]
    if port:
        assert f"{port}:{port}" in svc["ports"]
        assert f"http://127.0.0.1:{port}/" in " ".join(hc["test"])


def test_ml_engine_service_matches_the_code(compose: dict) -> None:
    from services.ml_engine.app import create_app
    from services.ml_engine.settings import MLEngineSettings

    svc = compose["services"]["ml-engine"]
    assert svc["build"]["args"]["SERVICE_MODULE"] == "services.ml_engine.app"
    assert svc["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert {"mlflow", "data-core"} <= set(svc["depends_on"])
    fields = {name.upper() for name in MLEngineSettings.model_fields}
    assert set(svc["environment"]) <= fields, set(svc["environment"]) - fields
    example = [line.split("=")[0] for line in (ROOT / svc["env_file"]).read_text().splitlines()
               if line and not line.startswith("#")]
    assert set(example) <= fields, set(example) - fields
    paths = set(create_app(MLEngineSettings(api_token="a-real-token-for-this-check")).openapi()["paths"])
    assert {"/health", "/ping", "/version", "/invocations", "/api/v1/predict", "/api/v1/models"} <= paths


def test_mlflow_and_trainer(compose: dict) -> None:
    mlflow = compose["services"]["mlflow"]
    assert mlflow["environment"]["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert "mlflow:5000" in " ".join(mlflow["command"])  # other containers reach it by name
    trainer = compose["services"]["model-trainer"]
    assert trainer["command"][:3] == ["python", "-m", "flows.train_baseline"] and trainer["restart"] == "no"
    assert trainer["environment"]["PREFECT_API_URL"] == "http://prefect-server:4200/api"


def test_pipeline_services_match_the_code(compose: dict) -> None:
    from flows.common import FlowSettings
    from services.orchestration.settings import OrchestrationSettings

    oe = compose["services"]["orchestration-engine"]
    assert oe["build"]["args"]["SERVICE_MODULE"] == "services.orchestration.app"
    fields = {name.upper() for name in OrchestrationSettings.model_fields}
    assert set(oe["environment"]) <= fields, set(oe["environment"]) - fields
    assert compose["services"]["data-core"]["environment"]["ORCHESTRATION_URL"] == "http://orchestration-engine:8003"
    runner = compose["services"]["flow-runner"]
    assert runner["command"] == ["python", "-m", "deployments.serve"]
    prefect_only = {"PREFECT_API_URL", "MLFLOW_TRACKING_URI"} | {k for k in runner["environment"] if k.startswith("PREFECT_")}
    flow_fields = {name.upper() for name in FlowSettings.model_fields}
    assert set(runner["environment"]) - prefect_only <= flow_fields
    prefect = compose["services"]["prefect-server"]["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert prefect.startswith("postgresql+asyncpg://") and "@prefect-db:5432/" in prefect


def test_rag_chatbot_service_matches_the_code(compose: dict) -> None:
    from services.rag.app import create_app
    from services.rag.settings import RagSettings

    rag = compose["services"]["rag-chatbot"]
    assert rag["image"] == "carbon-nexus-rag-chatbot" and rag["build"]["args"]["SERVICE_MODULE"] == "services.rag.app"
    assert rag["ports"] == ["8004:8004"] and "/api/health" in " ".join(rag["healthcheck"]["test"])
    assert rag["depends_on"]["orchestration-engine"]["condition"] == "service_healthy"
    fields = {name.upper() for name in RagSettings.model_fields}
    assert set(rag["environment"]) <= fields, set(rag["environment"]) - fields
    app = create_app(RagSettings(api_token="a-real-token-for-this-check"))  # type: ignore[call-arg]
    paths = set(app.openapi()["paths"]) | {getattr(r, "path", None) for r in app.routes}
    assert {"/api/health", "/api/chat", "/api/chat/stream", "/api/recommendations", "/metrics"} <= paths
    for svc in ("orchestration-engine", "flow-runner"):
        assert compose["services"][svc]["environment"]["RAG_SERVICE_URL"] == "http://rag-chatbot:8004"


def test_frontend_ui_serves_the_dashboard_after_the_chatbot(compose: dict) -> None:
    from fastapi.testclient import TestClient

    from services.frontend.app import FrontendSettings, create_app

    ui = compose["services"]["frontend-ui"]
    assert ui["image"] == "carbon-nexus-frontend-ui" and ui["ports"] == ["5173:5173"]
    assert ui["build"]["dockerfile"] == "docker/ui.Dockerfile" and ui["build"]["target"] == "production"
    assert ui["depends_on"]["rag-chatbot"]["condition"] == "service_healthy"
    assert "http://127.0.0.1:5173/'" in " ".join(ui["healthcheck"]["test"])  # the document's health route: /
    fields = {name.upper() for name in FrontendSettings.model_fields}
    assert set(ui["environment"]) <= fields, set(ui["environment"]) - fields
    env_file = {line.split("=", 1)[0] for line in (ROOT / ui["env_file"]).read_text().splitlines()
                if line and not line.startswith("#")}
    assert env_file <= fields, env_file - fields
    # the browser (on the host) reaches the published ports; the services allow that origin
    assert ui["environment"]["ORCHESTRATION_PUBLIC_URL"].endswith("http://localhost:8003}")
    assert "http://localhost:5173" in compose["services"]["orchestration-engine"]["environment"]["WS_ALLOWED_ORIGINS"]
    # the route the health check calls answers 200 with the page (here from a minimal bundle)
    dist = ROOT / "var" / "test-ui-dist"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "index.html").write_text("<!doctype html><div id=root></div>")
    assert TestClient(create_app(FrontendSettings(ui_dist=dist))).get("/").status_code == 200


def test_ui_dockerfile_builds_the_bundle_and_ends_as_non_root() -> None:
    text = (ROOT / "docker/ui.Dockerfile").read_text()
    stages = [line.split()[-1] for line in text.splitlines() if line.startswith("FROM ")]
    assert {"development", "production"} <= set(stages) and stages[-1] == "production"
    assert "npm ci" in text and "npm run build" in text and "COPY --from=build /ui/dist" in text
    last_user = [line for line in text.splitlines() if line.startswith("USER ")][-1]
    assert last_user.split()[1] not in ("root", "0")

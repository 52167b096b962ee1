"""The compose files checked point by point against the architecture document and against the code: service
names, images, ports, health checks that call routes the apps really have, the dependency chain, restart
policies, the network, volumes mounted where the settings point, logging, limits, environment names the
services' settings really read, secrets only from the environment, non-root images; and Debian's
``docker-compose config -q`` on every compose file."""

from __future__ import annotations

import importlib
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy.compose_env import REQUIRED_SECRETS, docker_compose, env_file_without, needs_compose

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.unit
# variables the services' libraries read themselves (MLflow's client, Prefect's client), not their settings
LIBRARY_VARIABLES = {"MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "PREFECT_API_AUTH_STRING"}

# the architecture document's contract: service -> (port, health route, app module, settings class)
APPS: dict[str, tuple[int, str, str, str]] = {
    "ml-engine": (8001, "/health", "services.ml_engine.app", "services.ml_engine.settings:MLEngineSettings"),
    "data-core": (8002, "/health", "services.data_core.app", "services.data_core.settings:DataCoreSettings"),
    "orchestration-engine": (8003, "/health", "services.orchestration.app",
                             "services.orchestration.settings:OrchestrationSettings"),
    "rag-chatbot": (8004, "/api/health", "services.rag.app", "services.rag.settings:RagSettings"),
    "frontend-ui": (5173, "/", "services.frontend.app", "services.frontend.app:FrontendSettings"),
}
PLATFORM = {"prefect-server": (4200, "/api/health"), "mlflow": (5000, "/health")}
CHAIN = ["ml-engine", "data-core", "orchestration-engine", "rag-chatbot", "frontend-ui"]
LONG_RUNNING = [*APPS, *PLATFORM, "postgres", "prefect-db", "flow-runner"]
# the flows' processes read FlowSettings plus Prefect's and MLflow's own variables
FLOW_PROCESSES = ["flow-runner", "model-trainer"]


def _load(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / name).read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load("compose.yaml")


@cache
def _resolved(*files: str, env: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    """What compose itself makes of the files (interpolated, merged), from Debian's docker-compose, with the
    placeholder secrets (never the checkout's .env) and ``env`` on top."""
    args = [a for f in files for a in ("-f", f)]
    result = docker_compose(*args, "config", extra_env=dict(env))
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def _settings_fields(path: str) -> set[str]:
    module, cls = path.split(":")
    settings = getattr(__import__(module, fromlist=[cls]), cls)
    return {name.upper() for name in settings.model_fields}


def _env_file_keys(path: str) -> set[str]:
    return {line.split("=", 1)[0].strip() for line in (ROOT / path).read_text().splitlines()
            if line.strip() and not line.startswith("#")}


def _ports(service: dict[str, Any]) -> set[tuple[int, int]]:
    """(published, target) pairs from either the short ("8001:8001") or the long form."""
    pairs = set()
    for port in service.get("ports", []):
        if isinstance(port, dict):
            pairs.add((int(port["published"]), int(port["target"])))
        else:
            published, target = str(port).split("/")[0].rsplit(":", 1)  # [ip:]published:target[/tcp]
            if published.rsplit(":", 1)[-1].isdigit():  # not a ${...} range or an ephemeral port
                pairs.add((int(published.rsplit(":", 1)[-1]), int(target)))
    return pairs


def _health_url(service: dict[str, Any]) -> str:
    match = re.search(r"http://127\.0\.0\.1:(\d+)(/[^'\"\s]*)", " ".join(service["healthcheck"]["test"]))
    assert match, service["healthcheck"]
    return match.group(0)


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Each service's app, built from its settings (nothing started)."""
    from services.data_core.app import create_app as data_core
    from services.data_core.settings import DataCoreSettings
    from services.frontend.app import FrontendSettings
    from services.frontend.app import create_app as frontend
    from services.ml_engine.app import create_app as ml_engine
    from services.ml_engine.settings import MLEngineSettings
    from services.orchestration.app import create_app as orchestration
    from services.orchestration.settings import OrchestrationSettings
    from services.rag.app import create_app as rag
    from services.rag.settings import RagSettings

    token = "a-real-token-for-this-check"
    dist = tmp_path_factory.mktemp("dist")
    (dist / "index.html").write_text("<!doctype html><div id=root></div>")
    apps = {
        "ml-engine": ml_engine(MLEngineSettings(api_token=token)),
        "data-core": data_core(DataCoreSettings(api_token=token, database_url="sqlite://")),
        "orchestration-engine": orchestration(OrchestrationSettings(api_token=token)),  # type: ignore[call-arg]
        "rag-chatbot": rag(RagSettings(api_token=token)),  # type: ignore[call-arg]
        "frontend-ui": frontend(FrontendSettings(ui_dist=dist)),
    }
    return apps


def _routes_to_get(app: Any, path: str) -> bool:
    """The app has a GET route matching ``path`` (its router's own matching, so /{path:path} counts)."""
    from starlette.routing import Match

    scope = {"type": "http", "path": path, "method": "GET", "root_path": ""}
    return any(route.matches(scope)[0] == Match.FULL for route in app.routes)


# ----------------------------------------------------------------------------- services, images, builds
def test_every_service_of_the_document_is_there(compose: dict[str, Any]) -> None:
    assert set(APPS) | set(PLATFORM) | {"postgres", "flow-runner"} <= set(compose["services"])


@pytest.mark.parametrize("name", sorted(APPS))
def test_image_build_context_and_dockerfile_per_service(compose: dict[str, Any], name: str) -> None:
    svc = compose["services"][name]
    # the document's image names (carbon-nexus-orchestration, carbon-nexus-frontend)
    assert svc["image"] == {"orchestration-engine": "carbon-nexus-orchestration",
                            "frontend-ui": "carbon-nexus-frontend"}.get(name, f"carbon-nexus-{name}")
    assert svc["build"]["context"] == "." and (ROOT / svc["build"]["dockerfile"]).is_file()
    assert svc["build"]["target"] == "production"
    if svc["build"]["dockerfile"] == "docker/python.Dockerfile":  # one recipe, the entry point per service
        assert svc["build"]["args"]["SERVICE_MODULE"] == APPS[name][2]
        assert callable(importlib.import_module(APPS[name][2]).main)  # the module and its entry point exist


@pytest.mark.parametrize("dockerfile", sorted(p.name for p in (ROOT / "docker").glob("*.Dockerfile")))
def test_every_dockerfile_has_both_targets_and_ends_as_a_non_root_user(dockerfile: str) -> None:
    text = (ROOT / "docker" / dockerfile).read_text()
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    names = {stage.splitlines()[0].split()[-1]: stage for stage in stages}
    assert {"development", "production"} <= set(names)
    for target in ("development", "production"):
        stage = names[target]
        users = [line.split()[1] for line in stage.splitlines() if line.startswith("USER ")]
        if not users:  # a stage may inherit its USER from the stage it is built FROM
            parent = stage.splitlines()[0].split()[0]
            users = [line.split()[1] for line in names.get(parent, "").splitlines() if line.startswith("USER ")]
        assert users and users[-1] not in ("root", "0"), f"{dockerfile}:{target} runs as root"
    # production comes before development: the classic builder (docker-compose v1, `docker build` without
    # BuildKit) builds every stage up to its target, so the other order built the development stage too
    order = [stage.splitlines()[0].split()[-1] for stage in stages]
    assert order.index("production") < order.index("development")


# ----------------------------------------------------------------------------- ports and health checks
@pytest.mark.parametrize("name", sorted(APPS) + sorted(PLATFORM))
def test_ports_and_health_checks_match_the_document(compose: dict[str, Any], name: str) -> None:
    port, health = APPS[name][:2] if name in APPS else PLATFORM[name]
    svc = compose["services"][name]
    assert _health_url(svc) == f"http://127.0.0.1:{port}{health}"
    if name != "ml-engine":  # it scales: host port 8001 is its load balancer's (a variable; checked resolved)
        assert (port, port) in _ports(svc)


@needs_compose
def test_resolved_ports_are_the_documents() -> None:
    resolved = _resolved("compose.yaml")["services"]
    wanted = {name: spec[0] for name, spec in APPS.items()} | {name: spec[0] for name, spec in PLATFORM.items()}
    for name, port in wanted.items():
        assert (port, port) in _ports(resolved["ml-engine-lb" if name == "ml-engine" else name]), name


@pytest.mark.parametrize("name", sorted(APPS))
def test_health_checks_call_routes_the_apps_really_have(compose: dict[str, Any], apps: dict[str, Any],
                                                        name: str) -> None:
    route = _health_url(compose["services"][name]).split(str(APPS[name][0]), 1)[1]
    assert _routes_to_get(apps[name], route), f"{name} has no {route}"
    assert _routes_to_get(apps[name], "/metrics") and not _routes_to_get(apps[name], "/no/such/route/at/all") \
        or name == "frontend-ui"  # the dashboard's SPA fallback matches every path (and answers 404 itself)


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_health_check_timing_restart_network_and_logging(compose: dict[str, Any], name: str) -> None:
    svc = compose["services"][name]
    hc = svc["healthcheck"]
    # every 10 s (the chain of health waits starts in about a minute; 30 s made it three), with 180 s to
    # start (the chatbot embeds its knowledge base first): failures count only after it
    assert (hc["interval"], hc["retries"], hc["start_period"]) == ("10s", 3, "180s")
    assert svc["restart"] == "unless-stopped"
    assert svc["networks"] == ["carbon_network"]
    assert svc["logging"] == {"driver": "json-file", "options": {"max-size": "10m", "max-file": "3"}}


def test_every_service_is_on_the_bridge_network_and_logs_rotate(compose: dict[str, Any]) -> None:
    assert compose["networks"] == {"carbon_network": {"driver": "bridge"}}
    for name, svc in compose["services"].items():
        assert svc["networks"] == ["carbon_network"], name
        assert svc["logging"]["options"] == {"max-size": "10m", "max-file": "3"}, name
        assert svc.get("restart") in ("unless-stopped", "on-failure"), name
    # one-shot, restarted (with Docker's back-off) until the data core holds data and a champion is trained
    assert compose["services"]["model-trainer"]["restart"] == "on-failure"


# ----------------------------------------------------------------------------- dependency chain
def test_the_documents_dependency_chain_waits_for_health(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for before, after in zip(CHAIN, CHAIN[1:], strict=False):
        assert services[after]["depends_on"][before] == {"condition": "service_healthy"}, f"{after} -> {before}"
    assert services["ml-engine"]["depends_on"] == {"mlflow": {"condition": "service_healthy"}}
    assert services["data-core"]["depends_on"]["postgres"] == {"condition": "service_healthy"}


def test_every_dependency_can_become_healthy_and_there_is_no_cycle(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, svc in services.items():
        for dep, how in svc.get("depends_on", {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            if how["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep}, which has no health check"
            assert not set(services[dep].get("profiles", [])) - set(svc.get("profiles", [])), \
                f"{name} depends on {dep}, which only a profile starts"
    seen: dict[str, int] = {}

    def visit(name: str, depth: int = 0) -> None:
        assert depth <= len(services), f"dependency cycle through {name}"
        for dep in services[name].get("depends_on", {}):
            visit(dep, depth + 1)
        seen[name] = depth

    for name in services:
        visit(name)


def test_the_ml_engine_is_alive_before_a_champion_exists_and_ready_after() -> None:
    """The chain starts the engine before the data core, and the champion is trained from the data core's
    data: so /health must not wait for a champion (readiness is /ping, the scoring protocol's)."""
    import inspect

    from services.ml_engine import app

    source = inspect.getsource(app._app)  # create_app wraps it with the rate limit
    assert "holder.registry_reachable" in source and '"ready": current is not None' in source
    assert "/ping" in {getattr(r, "path", "") for r in app.scoring.routes}


# ----------------------------------------------------------------------------- environment and secrets
@pytest.mark.parametrize("name", sorted(APPS))
def test_environment_and_env_file_name_settings_the_service_reads(compose: dict[str, Any], name: str) -> None:
    svc = compose["services"][name]
    fields = _settings_fields(APPS[name][3]) | LIBRARY_VARIABLES
    assert set(svc["environment"]) <= fields, set(svc["environment"]) - fields
    assert (ROOT / svc["env_file"]).is_file()
    assert _env_file_keys(svc["env_file"]) <= fields, _env_file_keys(svc["env_file"]) - fields


@pytest.mark.parametrize("name", FLOW_PROCESSES)
def test_the_flow_processes_read_flow_settings_and_prefect_mlflow_variables(compose: dict[str, Any],
                                                                            name: str) -> None:
    svc = compose["services"][name]
    # train-baseline (and the runner executing it) reads the ML engine's settings too: MODEL_SIGNING_KEY
    fields = _settings_fields("flows.common:FlowSettings") | _settings_fields(APPS["ml-engine"][3])
    env = {k for k in set(svc["environment"]) | _env_file_keys(svc["env_file"])
           if not k.startswith(("PREFECT_", "MLFLOW_"))}
    assert env <= fields, env - fields
    assert svc["environment"]["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    assert svc["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"


@needs_compose
def test_services_find_each_other_by_service_name() -> None:
    """Every *_URL a container gets (resolved: defaults of variables applied) names a compose service on
    its port, as the document says: http://ml-engine:8001, ..."""
    services = _resolved("compose.yaml")["services"]
    ports = {name: spec[0] for name, spec in APPS.items()} | {n: p[0] for n, p in PLATFORM.items()}
    wanted = {"ML_ENGINE_URL": "http://ml-engine:8001", "DATA_CORE_URL": "http://data-core:8002",
              "ORCHESTRATION_URL": "http://orchestration-engine:8003", "RAG_SERVICE_URL": "http://rag-chatbot:8004",
              "PREFECT_API_URL": "http://prefect-server:4200/api", "MLFLOW_TRACKING_URI": "http://mlflow:5000"}
    checked = 0
    for name, svc in services.items():
        for key, value in (svc.get("environment") or {}).items():
            if key in wanted:
                assert value == wanted[key], f"{name}: {key}={value}"
                checked += 1
            elif key.endswith("_URL") and "PUBLIC" not in key and key not in ("PREFECT_UI_URL", "MLFLOW_UI_URL") \
                    and value:
                url = urlsplit(value)  # DATABASE_URL, PREFECT_API_DATABASE_CONNECTION_URL, ...
                assert url.hostname in services, f"{name}: {key}={value}"
                assert url.port == ports.get(url.hostname, url.port), f"{name}: {key}={value}"
    assert checked >= 12
    assert services["data-core"]["environment"]["DATABASE_URL"].endswith("@postgres:5432/carbon_nexus")


def test_no_secrets_in_the_repository(compose: dict[str, Any]) -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert ".env" not in tracked.splitlines()
    examples = [str(p.relative_to(ROOT)) for p in ROOT.glob("**/.env.example") if "node_modules" not in p.parts]
    assert len(examples) >= 6
    for path in examples:
        values = dict(line.split("=", 1) for line in (ROOT / path).read_text().splitlines()
                      if "=" in line and not line.startswith("#"))
        for key, value in values.items():
            if any(word in key for word in ("TOKEN", "PASSWORD", "SECRET", "API_KEY")):
                assert value == "", f"{path}: {key} has a value"
    text = (ROOT / "compose.yaml").read_text()
    for secret in REQUIRED_SECRETS:  # required: compose refuses to start without them
        uses = re.findall(r"(?<!\$)\$\{" + secret + r"[^}]*\}", text)  # not $${...}: a shell's, escaped
        assert uses and all(u.startswith("${" + secret + ":?") for u in uses), (secret, uses)


def test_the_root_env_example_copied_to_env_changes_only_the_secrets_compose_reads() -> None:
    """compose reads .env for ${...}: a value there meant for a local service must not rewire containers."""
    text = (ROOT / "compose.yaml").read_text()
    interpolated = set(re.findall(r"(?<!\$)\$\{([A-Z_]+)", text))
    active = _env_file_keys(".env.example")
    assert active & interpolated == set(REQUIRED_SECRETS)
    commented = {line[2:].split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines()
                 if re.match(r"# [A-Z_]+=", line)}
    assert interpolated <= active | commented, interpolated - active - commented  # every knob documented


@needs_compose
@pytest.mark.parametrize("missing", REQUIRED_SECRETS)
def test_a_missing_required_secret_fails_at_start(missing: str, tmp_path: Path) -> None:
    """Never decided by the checkout's .env (make up writes one): the secrets come from a test file only."""
    result = docker_compose("-f", "compose.yaml", "--profile", "monitoring", "config", "-q",
                            env_file=env_file_without(tmp_path, missing))
    assert result.returncode != 0 and missing in result.stderr


# ----------------------------------------------------------------------------- volumes, limits
def test_volumes_are_mounted_where_the_settings_point(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"ml-models", "ml-data", "orchestration-logs", "postgres-data"} <= set(compose["volumes"])

    def mounts(name: str) -> dict[str, str]:
        return {v.split(":")[0]: v.split(":")[1] for v in services[name].get("volumes", [])}

    engine = services["ml-engine"]
    assert mounts("ml-engine")["ml-models"] == engine["environment"]["MODEL_CACHE_DIR"]
    logs = services["orchestration-engine"]
    assert Path(logs["environment"]["LOG_FILE"]).parent == Path(mounts("orchestration-engine")["orchestration-logs"])
    store = mounts("mlflow")["ml-data"]
    assert all(store in arg for arg in services["mlflow"]["command"] if arg.startswith(("sqlite:", "/app/var")))
    assert mounts("postgres")["postgres-data"] == "/var/lib/postgresql/data"
    assert mounts("rag-chatbot")["rag-cache"] == services["rag-chatbot"]["environment"]["CACHE_DIR"]
    assert mounts("flow-runner")["inbox"] == services["flow-runner"]["environment"]["INGEST_DIR"]
    used = {m.split(":")[0] for svc in services.values() for m in svc.get("volumes", [])}
    assert set(compose["volumes"]) <= used, set(compose["volumes"]) - used  # no orphan volume


def test_the_ml_engine_has_limits_and_reservations(compose: dict[str, Any]) -> None:
    resources = compose["services"]["ml-engine"]["deploy"]["resources"]
    assert set(resources) == {"limits", "reservations"}
    for kind in resources.values():
        assert float(kind["cpus"]) > 0 and re.fullmatch(r"\d+[MG]", kind["memory"])
    assert float(resources["limits"]["cpus"]) >= float(resources["reservations"]["cpus"])


def test_the_ml_engine_can_scale(compose: dict[str, Any]) -> None:
    engine = compose["services"]["ml-engine"]
    assert "container_name" not in engine  # a fixed name allows one container only
    # every replica on 127.0.0.1: an ephemeral port, or a range (ML_ENGINE_PORTS=8101-8103); 8001 is the LB's
    assert engine["ports"] == ["127.0.0.1:${ML_ENGINE_PORTS:-}:8001"]


def test_the_logging_volume_receives_the_log(tmp_path: Path) -> None:
    """LOG_FILE (the orchestration-logs volume in compose) really gets the service's log lines."""
    import logging

    import services.common.logging as service_logging

    root = logging.getLogger()
    before = list(root.handlers)
    configured = service_logging._configured
    service_logging._configured = False
    try:
        service_logging.configure_logging(service="orchestration", level="INFO", log_file=tmp_path / "log" / "o.log")
        logging.getLogger("check").info("written to the volume")
    finally:
        for handler in set(root.handlers) - set(before):
            handler.close()
            root.removeHandler(handler)
        service_logging._configured = configured
    line = (tmp_path / "log" / "o.log").read_text()
    assert "written to the volume" in line and '"service": "orchestration"' in line


# ----------------------------------------------------------------------------- profiles
def test_profiles_monitoring_and_scale(compose: dict[str, Any]) -> None:
    services = compose["services"]
    profiled = {name: svc["profiles"] for name, svc in services.items() if "profiles" in svc}
    # the LB is no profile's: it always publishes 8001, so --scale ml-engine=3 needs no setting
    assert profiled == {"prometheus": ["monitoring"], "grafana": ["monitoring"]}
    lb = services["ml-engine-lb"]
    assert lb["volumes"] == ["./deployments/scale/nginx.conf:/etc/nginx/nginx.conf:ro"]
    conf = (ROOT / "deployments/scale/nginx.conf").read_text()
    assert "listen 8001;" in conf and "http://ml-engine:8001" in conf and "resolver 127.0.0.11" in conf
    assert any(p.endswith(":8001") for p in lb["ports"]) and "unprivileged" in lb["image"]
    assert "location = /lb-health" in conf and "/lb-health" in _health_url(lb)
    # the services that call the engine can be pointed at the LB (ML_ENGINE_INTERNAL_URL in .env)
    for name in ("orchestration-engine", "flow-runner"):
        assert services[name]["environment"]["ML_ENGINE_URL"] == "${ML_ENGINE_INTERNAL_URL:-http://ml-engine:8001}"


@needs_compose
def test_scaled_engine_resolves_with_a_port_range_and_the_lb() -> None:
    env = (("ML_ENGINE_PORTS", "8101-8103"), ("ML_ENGINE_INTERNAL_URL", "http://ml-engine-lb:8001"))
    services = _resolved("compose.yaml", env=env)["services"]
    ports = services["ml-engine"]["ports"][0]
    if isinstance(ports, dict):  # compose v2's long form
        ports = f"{ports.get('host_ip')}:{ports.get('published')}:{ports['target']}"
    assert ports.split("/")[0] == "127.0.0.1:8101-8103:8001"
    assert services["orchestration-engine"]["environment"]["ML_ENGINE_URL"] == "http://ml-engine-lb:8001"


# ----------------------------------------------------------------------------- dev and prod overrides
def test_dev_overrides_mount_the_source_and_reload() -> None:
    dev = _load("compose.dev.yaml")["services"]
    for name in ("ml-engine", "data-core", "orchestration-engine", "rag-chatbot"):
        svc = dev[name]
        assert svc["build"]["target"] == "development" and svc["environment"]["LOG_LEVEL"] == "DEBUG"
        assert "./services:/app/services" in svc["volumes"]
        command = svc["command"]
        assert command[:2] == ["uvicorn", "--factory"] and "--reload" in command
        module, factory = command[2].split(":")
        assert module == APPS[name][2] and callable(getattr(__import__(module, fromlist=[factory]), factory))
        assert command[command.index("--port") + 1] == str(APPS[name][0])
        for mount in svc["volumes"]:
            source = mount.split(":")[0]
            assert not source.startswith("./") or (ROOT / source).exists(), mount
    ui = dev["frontend-ui"]
    assert ui["build"]["target"] == "development" and "./ui/src:/ui/src" in ui["volumes"]


def test_prod_overrides_restart_always_with_limits() -> None:
    base, prod = _load("compose.yaml")["services"], _load("compose.prod.yaml")["services"]
    for name in LONG_RUNNING:
        assert prod[name]["restart"] == "always", name
        limits = prod[name]["deploy"]["resources"]
        assert limits["limits"]["memory"] and limits["reservations"]["memory"], name
    assert set(prod) <= set(base)


# ----------------------------------------------------------------------------- compose itself
@needs_compose
@pytest.mark.parametrize("files", [["compose.yaml"], ["compose.yaml", "compose.dev.yaml"],
                                   ["compose.yaml", "compose.prod.yaml"]], ids=lambda f: "+".join(f))
def test_docker_compose_config_is_valid(files: list[str]) -> None:
    args = [a for f in files for a in ("-f", f)]
    for profiles in ([], ["--profile", "monitoring"], ["--profile", "scale"]):
        result = docker_compose(*args, *profiles, "config", "-q")
        assert result.returncode == 0, result.stderr


@needs_compose
def test_prod_resolves_restart_always_everywhere() -> None:
    services = _resolved("compose.yaml", "compose.prod.yaml")["services"]
    for name in LONG_RUNNING:
        assert services[name]["restart"] == "always", name
    assert services["ml-engine"]["deploy"]["resources"]["reservations"]["memory"] == "2G"

"""The compose profile "monitoring" (Prometheus + Grafana) checked against compose.yaml and the code.

Every Carbon Nexus app service that compose publishes is scraped under its compose name at its port, and
its app answers ``/metrics`` in the Prometheus text format; every series the Grafana dashboard queries is
one the services really export (read from their live ``/metrics``, started with TestClient), every
``job``/``route`` label it filters on exists; the provisioned datasource and dashboard paths are the ones
compose mounts. No container runs: ``promtool check config`` runs only where promtool is installed.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import READ_AUTH

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deployments" / "monitoring"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "carbon-nexus.json"
DATASOURCES = MONITORING / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = MONITORING / "grafana" / "provisioning" / "dashboards" / "carbon-nexus.yml"
TOKEN = "a-real-token-for-this-check-000"
pytestmark = pytest.mark.unit

# series Prometheus writes itself for every target (not in any /metrics answer)
PROMETHEUS_SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped",
                        "scrape_samples_post_metric_relabeling", "scrape_series_added"}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
                "offset", "inf", "nan", "sum", "min", "max", "avg", "count", "topk", "bottomk", "quantile",
                "stddev", "stdvar", "group", "count_values"}


# ------------------------------------------------------------------ the apps compose runs


def _data_core() -> FastAPI:
    from services.data_core.app import create_app
    from services.data_core.settings import DataCoreSettings

    return create_app(DataCoreSettings(api_token=TOKEN, database_url="sqlite://"))


def _ml_engine() -> FastAPI:
    from services.ml_engine.app import create_app
    from services.ml_engine.settings import MLEngineSettings

    return create_app(MLEngineSettings(api_token=TOKEN))


def _orchestration() -> FastAPI:
    from services.orchestration.app import create_app
    from services.orchestration.settings import OrchestrationSettings

    return create_app(OrchestrationSettings(api_token=TOKEN))


def _rag() -> FastAPI:
    from services.rag.app import create_app
    from services.rag.settings import RagSettings

    return create_app(RagSettings(api_token=TOKEN))  # type: ignore[call-arg]


# compose service -> (module the container runs, app factory; the frontend's gets the bundle dir)
APPS: dict[str, tuple[str, Callable[..., FastAPI]]] = {
    "data-core": ("services.data_core.app", _data_core),
    "ml-engine": ("services.ml_engine.app", _ml_engine),
    "orchestration-engine": ("services.orchestration.app", _orchestration),
    "rag-chatbot": ("services.rag.app", _rag),
    "frontend-ui": ("services.frontend.app", lambda: None),
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def prometheus() -> dict:
    return yaml.safe_load((MONITORING / "prometheus.yml").read_text())


@pytest.fixture(scope="module")
def jobs(prometheus: dict) -> dict[str, dict]:
    names = [job["job_name"] for job in prometheus["scrape_configs"]]
    assert len(names) == len(set(names)), names
    return {job["job_name"]: job for job in prometheus["scrape_configs"]}


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


@pytest.fixture(scope="module")
def datasource() -> dict:
    sources = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    assert len(sources) == 1 and sources[0]["type"] == "prometheus"
    return sources[0]


def _container_port(mapping: str) -> int:
    """``"127.0.0.1:${ML_ENGINE_PORTS:-}:8001"`` -> 8001 (the port inside the container)."""
    return int(mapping.rsplit(":", 1)[1].split("/")[0])


def app_services(compose: dict) -> dict[str, int]:
    """Carbon Nexus services that run their own app (built image, no command override) and publish its
    port: name -> container port."""
    return {name: _container_port(svc["ports"][0]) for name, svc in compose["services"].items()
            if svc.get("image", "").startswith("carbon-nexus-") and svc.get("ports") and "command" not in svc}


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, FastAPI]:
    from services.frontend.app import FrontendSettings
    from services.frontend.app import create_app as frontend

    dist = tmp_path_factory.mktemp("ui-dist")
    (dist / "index.html").write_text("<!doctype html><div id=root></div>")
    built = {name: factory() for name, (_, factory) in APPS.items() if name != "frontend-ui"}
    built["frontend-ui"] = frontend(FrontendSettings(ui_dist=dist))
    return built


@pytest.fixture(scope="module")
def exported(apps: dict[str, FastAPI]) -> dict[str, dict[str, str]]:
    """Per service: every sample name its /metrics answers (after some traffic) -> the family type.
    No lifespan runs (TestClient outside ``with``): /metrics needs none."""
    result: dict[str, dict[str, str]] = {}
    for name, app in apps.items():
        client = TestClient(app, headers=READ_AUTH)  # Prometheus scrapes with the read token
        for path in ("/config.json", "/no-such-route", "/metrics"):  # counters only show labelled samples
            client.get(path)
        response = client.get("/metrics")
        assert response.status_code == 200, (name, response.text)
        assert response.headers["content-type"].startswith("text/plain; version="), name
        result[name] = {sample.name: family.type
                        for family in text_string_to_metric_families(response.text) for sample in family.samples}
        assert result[name], f"{name}: /metrics answered no sample"
    return result


# ------------------------------------------------------------------ PromQL in the dashboard

_STRING = r'"(?:[^"\\]|\\.)*"'
_SELECTOR = re.compile(r"\{((?:[^{}\"]|" + _STRING + r")*)\}")
_MATCHER = re.compile(r"([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*(" + _STRING + ")")


def _walk(node: Any) -> Iterator[dict]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _panels(dashboard: dict) -> list[dict]:
    out: list[dict] = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))  # panels of a collapsed row
    return out


def panel_exprs(dashboard: dict) -> list[str]:
    return [t["expr"] for p in _panels(dashboard) for t in p.get("targets", []) if t.get("expr")]


def variable_metrics(dashboard: dict) -> list[str]:
    """Metrics the template variables query (``label_values(metric{...}, label)``)."""
    names = []
    for var in dashboard.get("templating", {}).get("list", []):
        query = var.get("query")
        query = query.get("query", "") if isinstance(query, dict) else query or ""
        match = re.match(r"\s*label_values\(\s*(?:([a-zA-Z_:][\w:]*)\s*(?:\{[^}]*\})?\s*,)?\s*\w+\s*\)\s*$", query)
        if var.get("type") == "query":
            assert match, f"variable {var.get('name')}: only label_values(...) queries are checked here: {query!r}"
            if match.group(1):
                names.append(match.group(1))
    return names


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression selects: identifiers left once strings, label matchers,
    ranges, grouping clauses, Grafana variables and function calls are taken out."""
    e = re.sub(_STRING, '""', expr)
    e = _SELECTOR.sub(" ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\$\{[^}]*\}|\$\w+", " ", e)
    names = set()
    for match in re.finditer(r"(?<![\w.:])([a-zA-Z_:][\w:]*)(\s*\()?", e):
        if not match.group(2) and match.group(1).lower() not in PROMQL_WORDS:
            names.add(match.group(1))
    return names


def selectors(expr: str) -> list[dict[str, tuple[str, str]]]:
    """Every ``{...}`` of an expression as label -> (operator, value)."""
    out = []
    for content in _SELECTOR.findall(expr):
        out.append({label: (op, json.loads(value)) for label, op, value in _MATCHER.findall(content)})
    return out


def family_of(series: str, samples: dict[str, str]) -> tuple[str, str]:
    """``http_request_duration_seconds_bucket`` -> (``http_request_duration_seconds``, ``histogram``):
    a _bucket/_count/_sum suffix belongs to a histogram (or summary), _total to a counter, and only then."""
    kind = samples[series]
    for suffix, kinds in (("_bucket", {"histogram"}), ("_count", {"histogram", "summary"}),
                          ("_sum", {"histogram", "summary"}), ("_total", {"counter"})):
        if series.endswith(suffix) and kind in kinds:
            return series[: -len(suffix)], kind
    return series, kind


def test_metric_name_parser_on_known_expressions() -> None:
    expr = ('histogram_quantile(0.95, sum by (job, le) (rate(http_request_duration_seconds_bucket'
            '{job=~"$job", route="/api/v1/deployments/{name}/run"}[$__rate_interval]))) / '
            'sum(up{job="ml-engine"}) or vector(0) + on(job) group_left(route) scrape_duration_seconds offset 5m')
    assert metric_names(expr) == {"http_request_duration_seconds_bucket", "up", "scrape_duration_seconds"}
    assert selectors(expr)[0] == {"job": ("=~", "$job"), "route": ("=", "/api/v1/deployments/{name}/run")}
    samples = {"a_bucket": "histogram", "a_count": "histogram", "b_total": "counter", "c_count": "gauge"}
    assert family_of("a_bucket", samples) == ("a", "histogram")
    assert family_of("b_total", samples) == ("b", "counter")
    assert family_of("c_count", samples) == ("c_count", "gauge")  # a gauge that merely ends in _count


# ------------------------------------------------------------------ Prometheus scrape configuration


def test_every_app_service_is_scraped_under_its_name_at_its_port(compose: dict, jobs: dict) -> None:
    services = app_services(compose)
    assert set(services) == set(APPS), "a new app service in compose.yaml: add it to APPS and prometheus.yml"
    for name, port in services.items():
        svc = compose["services"][name]
        assert svc["environment"]["PORT"] == str(port), name
        assert name in jobs, f"{name} is not scraped"
        job = jobs[name]
        assert job.get("metrics_path", "/metrics") == "/metrics" and job.get("scheme", "http") == "http"
        if "container_name" in svc:
            assert [t for c in job["static_configs"] for t in c["targets"]] == [f"{name}:{port}"]
        else:  # scalable: every replica must be a target, so it is found through Docker's DNS
            assert "static_configs" not in job, f"{name} scales: a static target would reach one replica"
            assert job["dns_sd_configs"] == [{"names": [name], "type": "A", "port": port, "refresh_interval": "30s"}]


def test_the_ml_engine_scales_and_every_replica_is_scraped(compose: dict, jobs: dict) -> None:
    svc = compose["services"]["ml-engine"]
    assert "container_name" not in svc
    sd = jobs["ml-engine"]["dns_sd_configs"][0]
    assert (sd["names"], sd["type"], sd["port"]) == (["ml-engine"], "A", 8001)


def test_every_scrape_job_is_a_compose_service_on_prometheus_network(compose: dict, jobs: dict) -> None:
    network = compose["services"]["prometheus"]["networks"]
    for name in jobs:
        assert name in compose["services"], f"job {name} is no compose service"
        assert compose["services"][name]["networks"] == network, name


def test_prometheus_scrapes_itself(compose: dict, jobs: dict) -> None:
    port = _container_port(compose["services"]["prometheus"]["ports"][0])
    assert port == 9090 and not any("--web.listen-address" in a for a in compose["services"]["prometheus"]["command"])
    assert jobs["prometheus"]["static_configs"] == [{"targets": [f"localhost:{port}"]}]


def test_prefect_and_mlflow_are_scraped_exactly_when_compose_turns_their_metrics_on(compose: dict, jobs: dict) -> None:
    from prefect.settings.models.server.root import ServerSettings

    # Prefect 3.9 serves /api/metrics only with server.metrics_enabled (PREFECT_SERVER_METRICS_ENABLED,
    # legacy PREFECT_API_ENABLE_METRICS), off by default
    field = ServerSettings.model_fields["metrics_enabled"]
    assert field.default is False
    env = compose["services"]["prefect-server"].get("environment", {})
    prefect_on = any(str(env.get(k, "")).lower() == "true"
                     for k in ("PREFECT_SERVER_METRICS_ENABLED", "PREFECT_API_ENABLE_METRICS"))
    assert ("prefect-server" in jobs) == prefect_on
    if prefect_on:
        assert jobs["prefect-server"]["metrics_path"] == "/api/metrics"
        assert jobs["prefect-server"]["static_configs"] == [{"targets": ["prefect-server:4200"]}]
    # MLflow serves /metrics only with --expose-prometheus, which needs prometheus-flask-exporter
    mlflow_on = "--expose-prometheus" in compose["services"]["mlflow"]["command"]
    assert ("mlflow" in jobs) == mlflow_on
    if mlflow_on:
        assert importlib.util.find_spec("prometheus_flask_exporter") is not None, "the image lacks the exporter"
        assert jobs["mlflow"]["static_configs"] == [{"targets": ["mlflow:5000"]}]


def test_every_scraped_app_answers_prometheus_text_on_metrics(compose: dict, apps: dict,
                                                              exported: dict[str, dict[str, str]]) -> None:
    for name, app in apps.items():
        paths = {getattr(r, "path", None) for r in app.routes}
        assert "/metrics" in paths, name
        build = compose["services"][name]["build"]
        module = build.get("args", {}).get("SERVICE_MODULE")
        if module is None:  # the UI image names its module in the Dockerfile
            assert f'"-m", "{APPS[name][0]}"' in (ROOT / build["dockerfile"]).read_text()
        else:
            assert module == APPS[name][0], name
        assert app.title, name
    assert "http_requests_total" in exported["data-core"]
    assert exported["data-core"]["http_request_duration_seconds_bucket"] == "histogram"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_accepts_the_configuration() -> None:
    result = subprocess.run(["promtool", "check", "config", str(MONITORING / "prometheus.yml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# ------------------------------------------------------------------ the Grafana dashboard


def test_every_dashboard_series_is_exported_by_a_service(dashboard: dict,
                                                         exported: dict[str, dict[str, str]]) -> None:
    samples: dict[str, str] = {}
    for per_service in exported.values():
        samples.update(per_service)
    used: set[str] = set(variable_metrics(dashboard))
    exprs = panel_exprs(dashboard)
    assert len(exprs) >= 20
    for expr in exprs:
        names = metric_names(expr)
        assert names, expr
        used |= names
        for name in names - PROMETHEUS_SYNTHETIC:
            assert name in samples, f"{name} (in {expr!r}) is exported by no service: {sorted(samples)}"
        for name in re.findall(r"\b(?:rate|irate|increase)\(\s*([a-zA-Z_:][\w:]*)", expr):
            family, kind = family_of(name, samples)
            assert kind in ("counter", "histogram", "summary") and name != family, f"rate() of a gauge: {expr}"
        if "histogram_quantile(" in expr:
            assert any(n.endswith("_bucket") and family_of(n, samples)[1] == "histogram" for n in names), expr
    # nothing a service exports goes unshown (the _created timestamps aside)
    families = {family_of(n, samples)[0] for n in samples if not n.endswith("_created")}
    shown = {family_of(n, samples)[0] for n in used if n in samples}
    assert families <= shown, families - shown


def test_a_series_filtered_to_one_job_is_exported_by_that_job(dashboard: dict,
                                                               exported: dict[str, dict[str, str]]) -> None:
    pairs = 0
    for expr in panel_exprs(dashboard):
        for name, content in re.findall(r"([a-zA-Z_:][\w:]*)\s*\{((?:[^{}\"]|" + _STRING + r")*)\}", expr):
            op, job = {label: (o, json.loads(v)) for label, o, v in _MATCHER.findall(content)}.get("job", ("", ""))
            if op == "=" and job in exported and name not in PROMETHEUS_SYNTHETIC:
                pairs += 1
                assert name in exported[job], f"{job} does not export {name}: {expr!r}"
    assert pairs >= 10


def test_every_job_and_route_label_in_the_dashboard_exists(dashboard: dict, jobs: dict, apps: dict) -> None:
    routes: dict[str, dict[str, set[str]]] = {}
    for name, app in apps.items():
        table: dict[str, set[str]] = {"unmatched": set()}  # the middleware's label for no route
        for route in app.routes:
            if getattr(route, "path", None):
                table.setdefault(route.path, set()).update(getattr(route, "methods", None) or set())
        for path, item in app.openapi()["paths"].items():
            table.setdefault(path, set()).update(m.upper() for m in item)
        routes[name] = table
    exprs = panel_exprs(dashboard)
    for expr in exprs:
        for job in re.findall(r'\bjob\s*=\s*"([^"]*)"', expr):
            assert job in jobs, f"job {job!r} in {expr!r} is not a scrape job"
        for sel in selectors(expr):
            op, job = sel.get("job", ("=~", ".*"))
            candidates = {job} if op == "=" else set(routes)
            known = {path: methods for name in candidates for path, methods in routes.get(name, {}).items()}
            if "route" not in sel:
                continue
            rop, value = sel["route"]
            if rop in ("=", "!="):
                assert value in known, f"route {value!r} of {job} in {expr!r} does not exist"
                if "method" in sel and sel["method"][0] == "=" and rop == "=" and value != "unmatched":
                    assert sel["method"][1] in known[value], f"{sel['method'][1]} {value} is not served: {expr!r}"
            else:
                for alternative in value.split("|"):
                    assert any(re.fullmatch(alternative, p) for p in known), f"{alternative!r} matches no route of {job}"


def test_dashboard_identity_and_datasource(dashboard: dict, datasource: dict) -> None:
    assert dashboard["uid"] == "carbon-nexus" and dashboard["title"] == "Carbon Nexus"
    assert dashboard.get("id") is None
    ids = [p["id"] for p in _panels(dashboard)]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    refs = [node["datasource"] for node in _walk(dashboard) if isinstance(node.get("datasource"), dict)]
    assert refs and all(ref == {"type": "prometheus", "uid": datasource["uid"]} for ref in refs), refs
    for panel in _panels(dashboard):
        if panel["type"] != "row":
            assert panel.get("targets") and panel.get("datasource"), panel["title"]


# ------------------------------------------------------------------ compose wiring of the profile


def _mounts(svc: dict) -> dict[str, str]:
    """Bind mounts of a service: container path -> repository path (``./x:/y:ro``)."""
    out = {}
    for volume in svc["volumes"]:
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            out[target] = source[2:]
    return out


def test_grafana_provisioning_matches_the_compose_mounts(compose: dict, datasource: dict) -> None:
    grafana = _mounts(compose["services"]["grafana"])
    assert grafana["/etc/grafana/provisioning"] == str(DATASOURCES.parent.parent.relative_to(ROOT))
    # the datasource is the compose service prometheus, at the port it listens on
    url = urlsplit(datasource["url"])
    prometheus = compose["services"]["prometheus"]
    assert (url.scheme, url.hostname, url.port) == ("http", "prometheus", _container_port(prometheus["ports"][0]))
    assert prometheus["networks"] == compose["services"]["grafana"]["networks"]
    assert datasource["uid"] == "prometheus" and datasource["access"] == "proxy"
    scrape = yaml.safe_load((MONITORING / "prometheus.yml").read_text())["global"]["scrape_interval"]
    assert datasource["jsonData"]["timeInterval"] == scrape
    # the dashboard provider reads the directory compose mounts the dashboards at
    providers = yaml.safe_load(PROVIDERS.read_text())["providers"]
    assert len(providers) == 1 and providers[0]["type"] == "file"
    path = providers[0]["options"]["path"]
    assert grafana[path] == str(DASHBOARD.parent.relative_to(ROOT))
    home = compose["services"]["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(path + "/") and (ROOT / grafana[path] / home[len(path) + 1:]).is_file()


def test_prometheus_reads_this_configuration(compose: dict) -> None:
    svc = compose["services"]["prometheus"]
    config = next(a.split("=", 1)[1] for a in svc["command"] if a.startswith("--config.file="))
    assert _mounts(svc)[config] == str((MONITORING / "prometheus.yml").relative_to(ROOT))


@pytest.mark.parametrize("name", ["prometheus", "grafana"])
def test_monitoring_services_are_profiled_networked_and_healthchecked(compose: dict, name: str) -> None:
    svc = compose["services"][name]
    assert svc["profiles"] == ["monitoring"]
    assert svc["networks"] == ["carbon_network"]
    assert svc["restart"] == "unless-stopped" and svc["logging"]["driver"] == "json-file"
    hc = svc["healthcheck"]
    assert (hc["interval"], hc["retries"], hc["start_period"]) == ("10s", 3, "180s")
    port = _container_port(svc["ports"][0])
    assert f"http://127.0.0.1:{port}/" in " ".join(hc["test"])
    for service in app_services(compose):
        assert "monitoring" not in compose["services"][service].get("profiles", []), service
    if name == "grafana":
        assert svc["depends_on"]["prometheus"]["condition"] == "service_healthy"

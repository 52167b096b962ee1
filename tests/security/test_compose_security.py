"""Compose, hardened (issue #15), checked on what Debian's docker-compose makes of every file and profile
(no engine): every container read-only (a tmpfs where it writes), without capabilities, without privilege
gain; Prefect, MLflow, Prometheus and Grafana on 127.0.0.1 only; Prefect's auth string and MLflow's
basic-auth app on, their clients given the credentials; Prometheus scraping with the read token and
Prefect's auth string from files; every secret required (a missing one fails at start)."""

from __future__ import annotations

import configparser
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.compose_env import (
    PROFILES,
    REQUIRED_SECRETS,
    VARIANTS,
    docker_compose,
    env_file_without,
    needs_compose,
)

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.unit, needs_compose]
LOOPBACK_ONLY = {"prefect-server": 4200, "mlflow": 5000, "prometheus": 9090, "grafana": 3000}
# the architecture document's five service ports, published as before
# (8001 is the ML engine's load balancer: the replicas publish ephemeral ports on the loopback only, issue #20)
PUBLIC = {"ml-engine-lb": 8001, "data-core": 8002, "orchestration-engine": 8003, "rag-chatbot": 8004, "frontend-ui": 5173}
APPS = ["ml-engine", "data-core", "orchestration-engine", "rag-chatbot", "frontend-ui"]  # the services behind them
CASES = [(files, profile) for files in VARIANTS for profile in PROFILES]
IDS = ["+".join(f) + ("/" + p[1] if p else "") for f, p in CASES]


@cache
def resolved(files: tuple[str, ...], profile: tuple[str, ...]) -> dict[str, Any]:
    args = [a for f in files for a in ("-f", f)]
    result = docker_compose(*args, *profile, "config")
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]  # type: ignore[no-any-return]


def _bindings(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host ip, published, target) of each published port ("" = every interface)."""
    out = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            out.append((port.get("host_ip", ""), int(str(port["published"]).split("-")[0]), int(port["target"])))
            continue
        parts = str(port).split("/")[0].split(":")
        ip = parts[0] if len(parts) == 3 else ""
        published = parts[-2].split("-")[0]
        out.append((ip, int(published) if published else 0, int(parts[-1])))  # 0: an ephemeral port
    return out


@pytest.mark.parametrize(("files", "profile"), CASES, ids=IDS)
def test_every_container_is_read_only_without_capabilities_or_privilege_gain(files: list[str],
                                                                            profile: list[str]) -> None:
    services = resolved(tuple(files), tuple(profile))
    for name, svc in services.items():
        assert svc.get("read_only") is True, name
        assert svc.get("cap_drop") == ["ALL"] and not svc.get("cap_add"), name
        assert "no-new-privileges:true" in svc.get("security_opt", []), name
        assert not svc.get("privileged"), name
        tmpfs = svc.get("tmpfs", [])
        mounts = [str(m).split(":")[0] for m in tmpfs]
        assert "/tmp" in mounts and len(mounts) == len(set(mounts)), (name, tmpfs)  # one tmpfs per path
        if svc.get("image", "").startswith("postgres"):  # no root entrypoint: it could not chown or switch user
            # its socket on a tmpfs it can write: /tmp (a tmpfs on /var/run/postgresql belongs to root; the real
            # engine refused the lock file there, issue #20), PGHOST pointing the client tools at it
            command = svc.get("command", [])
            assert svc.get("user") == "postgres" and "unix_socket_directories=/tmp" in command, name
            assert svc["environment"].get("PGHOST") == "/tmp", name
    if profile:
        assert {"monitoring": {"prometheus", "grafana"}, "scale": {"ml-engine-lb"}}[profile[1]] <= set(services)


@pytest.mark.parametrize(("files", "profile"), CASES, ids=IDS)
def test_prefect_mlflow_prometheus_and_grafana_listen_on_the_loopback_only(files: list[str],
                                                                          profile: list[str]) -> None:
    services = resolved(tuple(files), tuple(profile))
    for name, port in LOOPBACK_ONLY.items():
        if name in services:
            assert _bindings(services[name]) == [("127.0.0.1", port, port)], (name, services[name]["ports"])
    for name, port in PUBLIC.items():  # the document's ports stay published as they were
        assert (port, port) in {(p, t) for _, p, t in _bindings(services[name])}, name
    exposed = {name for name, svc in services.items() for ip, _, _ in _bindings(svc) if ip != "127.0.0.1"}
    assert exposed <= set(PUBLIC), exposed
    assert {ip for ip, _, _ in _bindings(services["ml-engine"])} == {"127.0.0.1"}  # replicas behind the LB


@pytest.mark.parametrize("files", VARIANTS, ids=["+".join(f) for f in VARIANTS])
@pytest.mark.parametrize("missing", REQUIRED_SECRETS)
def test_a_missing_secret_fails_at_start(files: list[str], missing: str, tmp_path: Path) -> None:
    args = [a for f in files for a in ("-f", f)]
    result = docker_compose(*args, "--profile", "monitoring", "config", "-q",
                            env_file=env_file_without(tmp_path, missing))
    assert result.returncode != 0 and missing in result.stderr, result.stderr


def test_grafana_has_no_default_admin_password() -> None:
    grafana = resolved(("compose.yaml",), ("--profile", "monitoring"))["grafana"]
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == "check-only-grafana-password"
    raw = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["grafana"]["environment"]
    assert raw["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")


def test_prefect_and_mlflow_require_credentials_and_their_clients_have_them() -> None:
    services = resolved(("compose.yaml",), ())
    prefect = services["prefect-server"]["environment"]
    assert prefect["PREFECT_SERVER_API_AUTH_STRING"] == "check-only:prefect-password"
    mlflow = services["mlflow"]
    command = mlflow["command"]
    assert command[command.index("--app-name") + 1] == "basic-auth"
    env = mlflow["environment"]
    assert (env["MLFLOW_AUTH_ADMIN_USERNAME"], env["MLFLOW_AUTH_ADMIN_PASSWORD"]) == ("check-only",
                                                                                      "check-only-mlflow-password")
    assert env["MLFLOW_FLASK_SERVER_SECRET_KEY"]
    mounts = {v["target"]: v for v in mlflow["volumes"] if isinstance(v, dict)} or {
        str(v).split(":")[1]: v for v in mlflow["volumes"]}
    ini_path = env["MLFLOW_AUTH_CONFIG_PATH"]
    assert ini_path in mounts
    config = configparser.ConfigParser()
    config.read(ROOT / "docker" / "mlflow-basic-auth.ini")
    assert "admin_password" not in config["mlflow"] and config["mlflow"]["default_permission"] == "NO_PERMISSIONS"
    store = next(str(v).split(":")[1] for v in yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
                 ["mlflow"]["volumes"] if str(v).startswith("ml-data:"))
    assert config["mlflow"]["database_uri"] == f"sqlite:///{store}/basic_auth.db"  # kept in the volume
    for name, svc in services.items():  # whoever talks to Prefect or MLflow has the credentials
        env = svc.get("environment") or {}
        if "PREFECT_API_URL" in env:
            assert env.get("PREFECT_API_AUTH_STRING") == "check-only:prefect-password", name
        if "MLFLOW_TRACKING_URI" in env:
            assert env.get("MLFLOW_TRACKING_USERNAME") == "check-only", name
            assert env.get("MLFLOW_TRACKING_PASSWORD") == "check-only-mlflow-password", name
        if name in APPS or name in ("flow-runner", "model-trainer"):
            assert env.get("READ_TOKEN") == "check-only-read-token-of-enough-length", name


def test_prometheus_scrapes_with_the_read_token_and_prefects_auth_string_from_files(tmp_path: Path) -> None:
    raw = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["prometheus"]
    scrape = yaml.safe_load((ROOT / "deployments/monitoring/prometheus.yml").read_text())["scrape_configs"]
    jobs = {job["job_name"]: job for job in scrape}
    secrets_dir = next(str(t).split(":")[0] for t in raw["tmpfs"] if str(t).startswith("/run/prometheus"))
    for name in APPS:
        assert jobs[name]["authorization"] == {"credentials_file": f"{secrets_dir}/read_token"}, name
    # the user is written into a copy of the configuration by the entrypoint (username_file needs 2.43)
    assert jobs["prefect-server"]["basic_auth"] == {"username": "@PREFECT_USER@",
                                                   "password_file": f"{secrets_dir}/prefect_password"}
    assert "password" not in str({k: v for job in scrape for k, v in job.get("basic_auth", {}).items()
                                  if not k.endswith("_file")})
    # the entrypoint really writes those files from the environment (run here with a stand-in for Prometheus)
    mounts = {v.split(":")[1]: v.split(":")[0] for v in raw["volumes"] if v.startswith("./")}
    assert raw["entrypoint"] == ["/bin/sh", "/etc/prometheus/entrypoint.sh"]
    script = (ROOT / mounts["/etc/prometheus/entrypoint.sh"]).read_text().replace(secrets_dir, str(tmp_path))
    script = script.replace("cd /prometheus", f"cd {tmp_path}").replace("exec /bin/prometheus", "exec echo")
    config = ROOT / mounts["/etc/prometheus/prometheus.yml"]

    def entrypoint(auth: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["/bin/sh", "-c", script, "prometheus", f"--config.file={config}", "--web.x=y"],
                              capture_output=True, text=True, check=False,
                              env={"PATH": "/usr/bin:/bin", "READ_TOKEN": "the-read-token", "PREFECT_API_AUTH_STRING": auth})

    result = entrypoint("prefect-user:pass:word")
    assert result.returncode == 0 and result.stdout.split() == [f"--config.file={tmp_path}/prometheus.yml",
                                                                "--web.x=y"], result.stderr
    files = {p.name: p.read_text() for p in tmp_path.iterdir()}
    rendered = files.pop("prometheus.yml")
    assert files == {"read_token": "the-read-token", "prefect_password": "pass:word"}
    assert rendered == config.read_text().replace("@PREFECT_USER@", "prefect-user") and "pass:word" not in rendered
    rendered_jobs = {job["job_name"]: job for job in yaml.safe_load(rendered)["scrape_configs"]}
    assert rendered_jobs["prefect-server"]["basic_auth"]["username"] == "prefect-user"
    assert all((tmp_path / name).stat().st_mode & 0o077 == 0 for name in [*files, "prometheus.yml"])
    # a user that could break out of the YAML string (or sed's expression) is refused
    for bad in ('a"b:pw', "a/b:pw", ":pw"):
        assert entrypoint(bad).returncode == 1, bad

"""The local platform's files and its two credentialed servers (issue #15): ``.env`` written 0600 with every
secret random and the missing ones appended; the dashboard link carries the read token, never the write
token; the test suite never reads the checkout's ``.env``; and a real Prefect server and a real MLflow
server, started the way ``make up`` starts them, refuse anonymous calls and serve credentialed ones (the
registry calls the ML engine and train-baseline make: register a version, set the alias, download)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from dotenv import dotenv_values

from services import platform_env
from services.common.settings import ENV_FILE_VARIABLE, ServiceSettings
from services.platform import DEFAULT_PORTS, Platform, PlatformSettings
from tests.deploy.compose_env import CHECK_ENV_FILE, docker_compose, env_file_without, needs_compose

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.unit


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def no_secrets_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in platform_env.SECRETS:
        monkeypatch.delenv(key, raising=False)


# ----------------------------------------------------------------------------- .env
def test_env_is_written_0600_with_every_secret_random(tmp_path: Path, no_secrets_in_env: None) -> None:
    path = tmp_path / ".env"
    written = platform_env.ensure_env_file(path)
    assert written == list(platform_env.SECRETS) and _mode(path) == 0o600
    values = dotenv_values(path)
    again = dotenv_values(_fresh(tmp_path / "other.env"))
    for key in platform_env.SECRETS:
        assert values[key], key
        if key != "MLFLOW_TRACKING_USERNAME":  # a user name, the rest random: two files never share one
            assert values[key] != again[key] and len(values[key] or "") >= 32, key
    assert values["API_TOKEN"] != values["READ_TOKEN"]
    user, password = (values["PREFECT_API_AUTH_STRING"] or "").split(":", 1)
    assert user and len(password) >= 32
    assert platform_env.ensure_env_file(path) == [] and dotenv_values(path) == values  # idempotent


def _fresh(path: Path) -> Path:
    platform_env.ensure_env_file(path)
    return path


def test_an_older_env_keeps_its_token_gets_the_missing_keys_and_becomes_0600(tmp_path: Path,
                                                                              no_secrets_in_env: None) -> None:
    path = tmp_path / ".env"
    path.write_text("# mine\nAPI_TOKEN=my-old-token-kept-as-it-is-0123456789\nLOG_LEVEL=DEBUG")  # no final newline
    path.chmod(0o644)
    written = platform_env.ensure_env_file(path)
    assert "API_TOKEN" not in written and set(written) == set(platform_env.SECRETS) - {"API_TOKEN"}
    values = dotenv_values(path)
    assert values["API_TOKEN"] == "my-old-token-kept-as-it-is-0123456789" and values["LOG_LEVEL"] == "DEBUG"
    assert all(values[key] for key in platform_env.SECRETS) and _mode(path) == 0o600
    assert path.read_text().startswith("# mine\n")


def test_make_env_writes_the_file_the_variable_names(tmp_path: Path, no_secrets_in_env: None) -> None:
    path = tmp_path / "platform.env"
    env = {k: v for k, v in os.environ.items() if k not in platform_env.SECRETS} | {ENV_FILE_VARIABLE: str(path)}
    result = subprocess.run([sys.executable, "-m", "services.platform", "env"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert _mode(path) == 0o600 and set(dotenv_values(path)) == set(platform_env.SECRETS)
    assert not any(value in result.stdout + result.stderr for value in dotenv_values(path).values() if value)


def test_the_servers_files_are_the_owners_only(tmp_path: Path) -> None:
    ini = platform_env.mlflow_auth_config(platform_env.private_dir(tmp_path / "mlflow"))
    assert _mode(ini) == 0o600 and _mode(tmp_path / "mlflow") == 0o700
    import configparser

    config = configparser.ConfigParser()
    config.read(ini)
    assert "admin_password" not in config["mlflow"]  # MLflow takes it from the environment only


# ----------------------------------------------------------------------------- the dashboard link
def test_the_printed_link_carries_the_read_token_and_says_where_the_write_token_is(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        no_secrets_in_env: None) -> None:
    path = tmp_path / ".env"
    platform_env.ensure_env_file(path)
    monkeypatch.setenv(ENV_FILE_VARIABLE, str(path))
    values = dotenv_values(path)
    platform = Platform(PlatformSettings(var=tmp_path / "var", mlflow=tmp_path / "mlflow", port_offset=54000))
    platform.print_table()  # nothing listens there: every service DOWN, the links printed all the same
    out = capsys.readouterr().out
    assert f"#token={values['READ_TOKEN']}" in out
    for key in set(platform_env.SECRETS) - {"READ_TOKEN", "MLFLOW_TRACKING_USERNAME"}:
        assert values[key] not in out, key
    assert "API_TOKEN" in out and str(path) in out


# ----------------------------------------------------------------------------- tests never read the checkout's .env
def test_settings_ignore_a_env_file_in_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("API_TOKEN=bogus-token-from-a-dot-env-0123456789\nLOG_LEVEL=BOGUS\n"
                                   "CARBON_NEXUS_PORT_OFFSET=777\nPREFECT_API_AUTH_STRING=bogus:bogus\n")
    monkeypatch.chdir(tmp_path)
    assert os.environ[ENV_FILE_VARIABLE] == ""  # tests/conftest.py
    settings = ServiceSettings(api_token="a-token-of-this-test-0123456789")  # type: ignore[call-arg]
    assert settings.log_level == "INFO"
    assert PlatformSettings().port_offset == 0
    from prefect.settings import Settings

    auth = Settings().api.auth_string  # Prefect reads ./.env itself: the suite's environment shadows it
    assert auth is None or auth.get_secret_value() != "bogus:bogus"
    # the same file is read when the variable names it (the mechanism make up points its processes at)
    monkeypatch.setenv(ENV_FILE_VARIABLE, str(tmp_path / ".env"))
    assert ServiceSettings(api_token="a-token-of-this-test-0123456789").log_level == "BOGUS"  # type: ignore[call-arg]


@needs_compose
def test_compose_checks_ignore_a_env_file_next_to_the_compose_files(tmp_path: Path) -> None:
    """A copy of the compose files with a .env holding every secret: the tests' checks still see a missing
    secret as missing (the issue: `make up` then `make test` passed the check on the checkout's .env)."""
    for name in ("compose.yaml", "compose.dev.yaml", "compose.prod.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    for example in ROOT.glob("services/*/.env.example"):
        (tmp_path / example.parent.relative_to(ROOT)).mkdir(parents=True, exist_ok=True)
        shutil.copy(example, tmp_path / example.relative_to(ROOT))
    (tmp_path / "flows").mkdir()
    shutil.copy(ROOT / "flows/.env.example", tmp_path / "flows/.env.example")
    shutil.copy(CHECK_ENV_FILE, tmp_path / ".env")
    plain = subprocess.run(["docker-compose", "-f", "compose.yaml", "config", "-q"], cwd=tmp_path, capture_output=True,
                           text=True, env={k: v for k, v in os.environ.items() if k not in platform_env.SECRETS})
    assert plain.returncode == 0, plain.stderr  # without --env-file, compose would use that .env
    checked = docker_compose("-f", "compose.yaml", "config", "-q", cwd=tmp_path,
                             env_file=env_file_without(tmp_path, "API_TOKEN"))
    assert checked.returncode != 0 and "API_TOKEN" in checked.stderr


# ----------------------------------------------------------------------------- Prefect and MLflow, really started
@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, dict[str, str]]]:
    """The Prefect server and the MLflow server of a platform of its own (ports, data, env file), started
    with ``Platform.start`` as ``make up`` does."""
    import socket

    base = tmp_path_factory.mktemp("servers")
    env_path = base / ".env"
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k in platform_env.SECRETS}
    os.environ[ENV_FILE_VARIABLE] = str(env_path)
    offset = next(o for o in range(23000, 40000, 991) if _free(socket, [p + o for p in DEFAULT_PORTS.values()]))
    platform = Platform(PlatformSettings(var=base / "var", mlflow=base / "mlflow", port_offset=offset))
    started = []
    try:
        assert platform.prepare_credentials() == 0
        for name in ("prefect-server", "mlflow"):
            platform.start(platform.service(name))
            started.append(platform.service(name))
        deadline = time.monotonic() + 300
        for service in started:  # fails at once when a server exits (e.g. MLflow without its auth extra)
            while not platform.wait_healthy([service], timeout=2)[service.name]:
                assert platform.running_pid(service) and time.monotonic() < deadline, _logs(platform)
        yield platform, {k: v or "" for k, v in dotenv_values(env_path).items()}
    finally:
        for service in started:
            platform.stop(service)
        os.environ[ENV_FILE_VARIABLE] = ""
        os.environ.update(saved)


def _free(socket, ports: list[int]) -> bool:  # type: ignore[no-untyped-def]
    try:
        for port in ports:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port))
    except OSError:
        return False
    return True


def _logs(platform: Platform) -> str:
    return "".join(f"\n--- {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in platform.log.glob("*.log"))


@pytest.mark.integration
def test_the_servers_get_their_credentials_from_the_environment_not_the_command_line(servers) -> None:  # type: ignore[no-untyped-def]
    platform, secrets = servers
    for name in ("prefect-server", "mlflow"):
        pid = platform.running_pid(platform.service(name))
        assert pid
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        assert not any(value in cmdline for value in secrets.values() if len(value) > 16), name
    assert _mode(platform.prefect_home) == 0o700 and _mode(platform.mlflow_dir) == 0o700
    assert _mode(platform.mlflow_dir / "basic_auth.ini") == 0o600


@pytest.mark.integration
def test_prefect_refuses_anonymous_calls_and_serves_its_auth_string(servers) -> None:  # type: ignore[no-untyped-def]
    platform, secrets = servers
    api = platform.prefect_api_url
    with httpx.Client(timeout=30, trust_env=False) as http:
        assert http.get(api + "/health").status_code == 200  # liveness stays open
        assert http.post(api + "/flows/filter", json={}).status_code == 401
        assert http.post(api + "/flows/filter", json={}, auth=("carbon-nexus", "wrong")).status_code == 401
        assert http.get(api + "/admin/settings").status_code == 401
        user, password = secrets["PREFECT_API_AUTH_STRING"].split(":", 1)
        assert http.post(api + "/flows/filter", json={}, auth=(user, password)).status_code == 200
    # Prefect's own client (the runner's, the flows', the CLI's) with PREFECT_API_AUTH_STRING: a real flow run
    code = ("from prefect import flow\n"
            "@flow(name='auth-check')\n"
            "def check() -> int:\n    return 41 + 1\n"
            "assert check() == 42\n"
            "from prefect.client.orchestration import get_client\n"
            "with get_client(sync_client=True) as c:\n"
            "    runs = c.read_flow_runs()\n"
            "    assert [r.state_type.value for r in runs] == ['COMPLETED'], runs\n")
    env = {**os.environ, "PREFECT_API_URL": api, "PREFECT_HOME": str(platform.prefect_home),
           **platform_env.credentials("flow-runner", secrets)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    env["PREFECT_API_AUTH_STRING"] = ""
    refused = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                             check=False)
    assert refused.returncode != 0 and "401" in refused.stderr


@pytest.mark.integration
def test_mlflow_refuses_anonymous_calls_and_serves_the_registry_to_its_user(servers, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    platform, secrets = servers
    url = platform.mlflow_url
    user, password = secrets["MLFLOW_TRACKING_USERNAME"], secrets["MLFLOW_TRACKING_PASSWORD"]
    # what the ML engine and train-baseline do, with MLflow's own variables (MLFLOW_TRACKING_*)
    code = ("import sys, mlflow\n"
            "from mlflow import MlflowClient\n"
            "c = MlflowClient()\n"
            "run = c.create_run(c.create_experiment('auth-check'))\n"
            "rid = run.info.run_id\n"
            "c.log_text(rid, 'weights', 'model/weights.txt')\n"
            "c.set_terminated(rid)\n"
            "c.create_registered_model('auth-check')\n"
            "mv = c.create_model_version('auth-check', run.info.artifact_uri + '/model', run_id=rid)\n"
            "c.set_registered_model_alias('auth-check', 'champion', mv.version)\n"
            "assert c.get_model_version_by_alias('auth-check', 'champion').version == mv.version\n"
            "path = mlflow.artifacts.download_artifacts('models:/auth-check@champion', dst_path=sys.argv[1])\n"
            "assert open(path + '/weights.txt').read() == 'weights'\n"
            "print(rid)\n")
    # the registry too: mlflow.set_registry_uri in an earlier test of this worker left MLFLOW_REGISTRY_URI set
    env = {**os.environ, "MLFLOW_TRACKING_URI": url, "MLFLOW_REGISTRY_URI": url,
           **platform_env.credentials("ml-engine", secrets)}
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    run_id = result.stdout.strip().splitlines()[-1]
    rest = url + "/api/2.0/mlflow"
    with httpx.Client(timeout=30, trust_env=False) as http:
        assert http.get(url + "/health").status_code == 200  # liveness stays open
        anonymous = [
            http.get(rest + "/registered-models/alias", params={"name": "auth-check", "alias": "champion"}),
            http.post(rest + "/registered-models/alias", json={"name": "auth-check", "alias": "champion",
                                                               "version": "1"}),
            http.post(rest + "/registered-models/create", json={"name": "evil"}),
            http.get(rest + "/runs/get", params={"run_id": run_id}),
            http.get(url + f"/api/2.0/mlflow-artifacts/artifacts/1/{run_id}/artifacts/model/weights.txt"),
            http.put(url + f"/api/2.0/mlflow-artifacts/artifacts/1/{run_id}/artifacts/model/weights.txt",
                     content=b"tampered"),
            http.post(rest + "/users/create", json={"username": "eve", "password": "eve-password-123"}),
            http.get(url + "/"),
        ]
        assert [r.status_code for r in anonymous] == [401] * len(anonymous)
        wrong = http.get(rest + "/registered-models/alias", auth=(user, "wrong-password"),
                         params={"name": "auth-check", "alias": "champion"})
        assert wrong.status_code == 401
        ok = http.get(rest + "/registered-models/alias", auth=(user, password),
                      params={"name": "auth-check", "alias": "champion"})
        assert ok.status_code == 200 and ok.json()["model_version"]["version"] == "1", (ok.status_code, ok.text[:500])
    env.pop("MLFLOW_TRACKING_PASSWORD")
    refused = subprocess.run([sys.executable, "-c", code.replace("'auth-check'", "'auth-check-2'"), str(tmp_path)],
                             env=env, capture_output=True, text=True, timeout=300, check=False)
    assert refused.returncode != 0 and ("401" in refused.stderr or "not authenticated" in refused.stderr)


@pytest.mark.integration
def test_a_rotated_mlflow_password_in_env_takes_effect_at_the_next_start(tmp_path: Path) -> None:
    """MLflow reads the admin password only when it creates the user; make up syncs the stored one."""
    import sqlite3
    from contextlib import closing

    from werkzeug.security import check_password_hash, generate_password_hash

    db = tmp_path / "basic_auth.db"
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT UNIQUE, password_hash TEXT, "
                     "is_admin BOOLEAN)")
        conn.execute("INSERT INTO users (username, password_hash, is_admin) VALUES (?, ?, 1)",
                     ("carbon-nexus", generate_password_hash("the-old-password-0123")))
    assert platform_env.sync_mlflow_admin(tmp_path, "carbon-nexus", "the-new-password-0123")
    assert not platform_env.sync_mlflow_admin(tmp_path, "carbon-nexus", "the-new-password-0123")
    with closing(sqlite3.connect(db)) as conn:
        stored = conn.execute("SELECT password_hash FROM users").fetchone()[0]
    assert check_password_hash(stored, "the-new-password-0123")

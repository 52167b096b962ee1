"""Run the whole platform locally on its embedded default: ``python -m services.platform up|down|status``.

Each service is a real process on 127.0.0.1 with its log under ``var/log/`` and its pid under
``var/run/``; data lives under ``var/`` (the MLflow store under ``mlflow/``) so a restart keeps it.

``up`` starts the Prefect server (4200), the MLflow tracking server and registry (5000), the data core
(8002), the ML engine (8001), the orchestration engine (8003), the chatbot (8004), the dashboard (5173,
the bundle ``make ui`` builds) and the Prefect runner that executes the deployments (health on 4201); loads the demo data; trains ``carbon-baseline`` with the ``train-baseline``
flow when the registry has no champion; fills the expected values of the demo holdout period with the
``fill-expected`` flow; scans that period for hotspots with the ``hotspot-scan`` flow; and judges the demo's
monthly bills with the ``monthly-bills`` flow.

Credentials: ``up`` first writes the secrets ``.env`` lacks (mode 0600, services/platform_env.py); Prefect
and MLflow run with authentication on (the Prefect server's auth string, MLflow's ``basic-auth`` app) and
every process gets the credentials it needs as environment variables, never on its command line.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from services import platform_env
from services.common.settings import ENV_FILE_VARIABLE, OFFLINE_ENV, env_file_source

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# the demo's judged period (issue #3): train on 2019, hold out 2020-01-01 .. 2020-03-15
DEMO_WINDOW = ["--train-start", "2019-01-01", "--holdout-start", "2020-01-01", "--holdout-end", "2020-03-15"]
DEFAULT_PORTS = {"prefect-server": 4200, "mlflow": 5000, "data-core": 8002, "ml-engine": 8001,
                 "orchestration": 8003, "rag-chatbot": 8004, "frontend-ui": 5173, "flow-runner": 4201}


class PlatformSettings(BaseSettings):
    """Where ``make up`` keeps its data and which ports it uses (``CARBON_NEXUS_*`` variables or ``.env``).
    The defaults are the documented ports; a second platform on the same machine (e.g. the test that
    starts the whole stack) moves every port by ``PORT_OFFSET`` and keeps its data elsewhere."""

    model_config = SettingsConfigDict(env_prefix="CARBON_NEXUS_", env_file=".env", extra="ignore")

    # data of the embedded default: SQLite database, Prefect home, logs, pids, inbox, caches
    var: Path = ROOT / "var"
    # the MLflow tracking store and artefacts
    mlflow: Path = ROOT / "mlflow"
    # added to every port (4200, 5000, 8001-8004, 5173, 4201)
    port_offset: int = Field(default=0, ge=0, le=55000)
    # load the demo meters of these sites only (comma-separated, e.g. b33,b2; empty = all 40 buildings)
    demo_sites: str = ""

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, env_file_source(settings_cls, dotenv_settings), file_secret_settings


@dataclass(frozen=True)
class Service:
    name: str
    port: int
    health: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    after: tuple[str, ...] = ()  # services that must be healthy before this one starts

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _python() -> str:
    return sys.executable


class Platform:
    """The processes of one platform: their ports, data folders, environment and start order."""

    def __init__(self, settings: PlatformSettings | None = None) -> None:
        self.settings = s = settings or PlatformSettings()
        self.var, self.mlflow_dir = s.var.resolve(), s.mlflow.resolve()
        self.log, self.run = self.var / "log", self.var / "run"
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self.ports = {name: port + s.port_offset for name, port in DEFAULT_PORTS.items()}
        url = {name: f"http://127.0.0.1:{port}" for name, port in self.ports.items()}
        self.url = url
        self.prefect_api_url = url["prefect-server"] + "/api"
        self.mlflow_url = url["mlflow"]
        dashboard = [url["frontend-ui"], f"http://localhost:{self.ports['frontend-ui']}"]
        # where the flows started by ``up`` send their runs (the Prefect server below) and find the registry
        self.flow_env = {"PREFECT_API_URL": self.prefect_api_url, "MLFLOW_TRACKING_URI": self.mlflow_url,
                         "DATA_CORE_URL": url["data-core"], "ML_ENGINE_URL": url["ml-engine"],
                         "ORCHESTRATION_URL": url["orchestration"], "RAG_SERVICE_URL": url["rag-chatbot"],
                         "INGEST_DIR": str(self.var / "inbox"), "PREFECT_HOME": str(self.var / "prefect")}
        path = f"{BIN}:{os.environ.get('PATH', '')}"
        origins = json.dumps(dashboard)
        p = self.ports
        # the servers hold credentials: their data folders are the owner's only (0700)
        self.prefect_home = self.var / "prefect"
        self.services: list[Service] = [
            # the API (and UI) need PREFECT_SERVER_API_AUTH_STRING; /api/health stays open
            Service("prefect-server", p["prefect-server"], "/api/health",
                    [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(p["prefect-server"]),
                     "--analytics-off"],
                    {"PREFECT_HOME": str(self.var / "prefect"), "PATH": path}),
            # MLflow's basic-auth app: every call but /health needs the admin user (MLFLOW_TRACKING_* in .env)
            Service("mlflow", p["mlflow"], "/health",
                    [str(BIN / "mlflow"), "server", "--app-name", "basic-auth", "--host", "127.0.0.1", "--port", str(p["mlflow"]), "--workers", "1",
                     "--backend-store-uri", f"sqlite:///{self.mlflow_dir / 'mlflow.db'}",
                     "--artifacts-destination", str(self.mlflow_dir / "artifacts")],
                    {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "PATH": path,
                     "MLFLOW_AUTH_CONFIG_PATH": str(self.mlflow_dir / "basic_auth.ini")}),
            # ingestion events go to the orchestration engine (kept in the data core's outbox until it answers)
            Service("data-core", p["data-core"], "/health", [_python(), "-m", "services.data_core.app"],
                    {"PORT": str(p["data-core"]), "HOST": "127.0.0.1", "ORCHESTRATION_URL": url["orchestration"],
                     "DATABASE_URL": f"sqlite:///{self.var / 'data' / 'carbon_nexus.db'}", "CORS_ORIGINS": origins}),
            # /health: running and the registry answers (asked every second until MLflow is up); /ping
            # (readiness) once a champion is loaded
            Service("ml-engine", p["ml-engine"], "/health", [_python(), "-m", "services.ml_engine.app"],
                    {"PORT": str(p["ml-engine"]), "HOST": "127.0.0.1", "MLFLOW_TRACKING_URI": self.mlflow_url,
                     "DATA_CORE_URL": url["data-core"], "ML_ENGINE_URL": url["ml-engine"],
                     "MODEL_CACHE_DIR": str(self.var / "ml-models"), "MODEL_POLL_SECONDS": "10"}),
            # thin: flow results and events in, WebSockets and REST out; /health is ok once the channel logs load
            Service("orchestration", p["orchestration"], "/health", [_python(), "-m", "services.orchestration.app"],
                    {**self.flow_env, "PORT": str(p["orchestration"]), "HOST": "127.0.0.1",
                     "PREFECT_UI_URL": url["prefect-server"], "MLFLOW_UI_URL": self.mlflow_url,
                     "WS_ALLOWED_ORIGINS": origins, "CORS_ORIGINS": origins},
                    after=("data-core",)),
            # the chatbot: haystack pipelines over docs/kb and the data core (first start embeds the knowledge base)
            Service("rag-chatbot", p["rag-chatbot"], "/api/health", [_python(), "-m", "services.rag.app"],
                    {"PORT": str(p["rag-chatbot"]), "HOST": "127.0.0.1", "DATA_CORE_URL": url["data-core"],
                     "CACHE_DIR": str(self.var / "rag"), "CORS_ORIGINS": origins},
                    after=("data-core",)),
            # the dashboard: the built bundle (make ui) and /config.json; the browser talks to 8003 and 8004
            Service("frontend-ui", p["frontend-ui"], "/api/health", [_python(), "-m", "services.frontend.app"],
                    {"PORT": str(p["frontend-ui"]), "HOST": "127.0.0.1", "ORCHESTRATION_PUBLIC_URL": url["orchestration"],
                     "CHATBOT_PUBLIC_URL": url["rag-chatbot"], "PREFECT_UI_URL": url["prefect-server"],
                     "MLFLOW_UI_URL": self.mlflow_url},
                    after=("orchestration", "rag-chatbot")),
            # the Prefect runner: registers the deployments (deployments/definitions.py) and executes their runs
            Service("flow-runner", p["flow-runner"], "/health", [_python(), "-m", "deployments.serve"],
                    {**self.flow_env, "PREFECT_RUNNER_SERVER_ENABLE": "true", "PREFECT_RUNNER_SERVER_HOST": "127.0.0.1",
                     "PREFECT_RUNNER_SERVER_PORT": str(p["flow-runner"]), "PREFECT_LOGGING_LEVEL": "INFO"},
                    after=("prefect-server",)),
        ]

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    # ------------------------------------------------------------------ processes
    def _pidfile(self, service: Service) -> Path:
        return self.run / f"{service.name}.pid"

    def running_pid(self, service: Service) -> int | None:
        path = self._pidfile(service)
        if not path.exists():
            return None
        pid = int(path.read_text().strip() or 0)
        child = self._children.get(pid)
        if child is not None:  # started by this process: reap it (an exited child stays a zombie until then)
            return pid if child.poll() is None else None
        return pid if pid and _alive(pid) else None

    def _alive(self, pid: int) -> bool:
        child = self._children.get(pid)
        return child.poll() is None if child is not None else _alive(pid)

    def start(self, service: Service) -> int:
        pid = self.running_pid(service)
        if pid:
            return pid
        self.log.mkdir(parents=True, exist_ok=True)
        self.run.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **OFFLINE_ENV, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", **service.env,
               **self.child_credentials(service.name)}
        log = open(self.log / f"{service.name}.log", "ab")  # noqa: SIM115 (handed to the child process)
        process = subprocess.Popen(service.command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self._pidfile(service).write_text(str(process.pid))
        self._children[process.pid] = process
        return process.pid

    def stop(self, service: Service, timeout: float = 15.0) -> bool:
        pid = self.running_pid(service)
        if not pid:
            self._pidfile(service).unlink(missing_ok=True)
            return False
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self._alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if self._alive(pid):
            os.killpg(pid, signal.SIGKILL)
        self._pidfile(service).unlink(missing_ok=True)
        return True

    def wait_healthy(self, services: list[Service], timeout: float) -> dict[str, bool]:
        deadline = time.monotonic() + timeout
        state = {s.name: False for s in services}
        while time.monotonic() < deadline and not all(state.values()):
            for s in services:
                if not state[s.name]:
                    state[s.name] = _healthy(s)[0]
            time.sleep(0.5)
        return state

    def print_table(self) -> None:
        print(f"\n{'service':22} {'url':28} {'health':10} pid")
        for s in self.services:
            ok, detail = _healthy(s)
            print(f"{s.name:22} {s.url:28} {('ok' if ok else 'DOWN ' + detail):10} {self.running_pid(s) or '-'}")
        u = self.url
        print(f"\ndashboard (read-only): {self.dashboard_url()}")
        where = self.env_file or "the environment"
        print(f"to change anything, sign in on the dashboard with API_TOKEN from {where}")
        print(f"logs: {self.log}/   API docs: {u['data-core']}/docs (data core), {u['ml-engine']}/docs (ML engine), "
              f"{u['orchestration']}/docs (orchestration), {u['rag-chatbot']}/docs (chatbot)\n"
              f"MLflow UI: {self.mlflow_url} (user MLFLOW_TRACKING_USERNAME, password MLFLOW_TRACKING_PASSWORD)   "
              f"Prefect UI: {u['prefect-server']} (sign in with PREFECT_API_AUTH_STRING)   "
              f"live alerts: ws://127.0.0.1:{self.ports['orchestration']}/ws/alerts\n"
              f"credentials: {where}\n")

    def dashboard_url(self) -> str:
        """The dashboard's address with the READ token in the fragment (never sent to a server; the page
        keeps it in the browser and takes it out of the address bar). Never the write token: the link ends
        up in terminal scrollback; writes need a sign-in with API_TOKEN."""
        from urllib.parse import quote

        base = self.url["frontend-ui"]
        token = self.secrets()["READ_TOKEN"]
        return f"{base}/#token={quote(token, safe='')}" if token else base

    # ------------------------------------------------------------------ credentials
    @property
    def env_file(self) -> Path | None:
        return platform_env.env_file()

    def secrets(self) -> dict[str, str]:
        return platform_env.load(self.env_file)

    def child_credentials(self, name: str) -> dict[str, str]:
        """What a child process gets: its credentials (environment only) and the env file its settings read."""
        file = self.env_file
        return {ENV_FILE_VARIABLE: str(file or ""), **platform_env.credentials(name, self.secrets())}

    def prepare_credentials(self) -> int:
        """Write the secrets .env lacks (0600), MLflow's auth configuration, the owner-only data folders."""
        if self.env_file is not None:
            written = platform_env.ensure_env_file(self.env_file)
            if written:
                print(f"wrote {', '.join(written)} to {self.env_file} (mode 0600)")
        values = self.secrets()
        missing = [k for k in ("API_TOKEN", "READ_TOKEN", "PREFECT_API_AUTH_STRING", "MLFLOW_TRACKING_USERNAME",
                               "MLFLOW_TRACKING_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY") if not values[k]]
        if missing:
            print(f"missing {', '.join(missing)}: set them or let `make up` write .env", file=sys.stderr)
            return 2
        platform_env.private_dir(self.prefect_home)
        platform_env.private_dir(self.mlflow_dir)
        platform_env.mlflow_auth_config(self.mlflow_dir)
        if platform_env.sync_mlflow_admin(self.mlflow_dir, values["MLFLOW_TRACKING_USERNAME"],
                                          values["MLFLOW_TRACKING_PASSWORD"]):
            print("MLflow admin password updated to MLFLOW_TRACKING_PASSWORD")
        return 0

    # ------------------------------------------------------------------ the platform
    def up(self, load_demo: bool = True) -> int:
        started = time.monotonic()
        if (code := self.prepare_credentials()) != 0:
            return code
        if not self.start_all(timeout=180):
            self.print_table()
            failed = [s.name for s in self.services if not _healthy(s)[0]]
            print(f"not healthy: {', '.join(failed)}; see {self.log}/<service>.log", file=sys.stderr)
            return 1
        print(f"all {len(self.services)} services healthy in {time.monotonic() - started:.1f} s")
        if load_demo and (self.load_demo() != 0 or self.ensure_model() != 0):
            self.print_table()
            return 1
        self.print_table()
        print(f"platform up in {time.monotonic() - started:.1f} s")
        return 0

    def start_all(self, timeout: float) -> bool:
        """Start each service as soon as the ones it waits for are healthy (not in list order: a slow
        first start of one, e.g. the chatbot embedding its knowledge base, holds back only what needs it);
        True once every one is healthy."""
        deadline = time.monotonic() + timeout
        pending, healthy, started = list(self.services), set[str](), set[str]()
        while time.monotonic() < deadline:
            for s in list(pending):
                if set(s.after) <= healthy:
                    self.start(s)
                    pending.remove(s)
                    started.add(s.name)
            for s in self.services:
                if s.name in healthy or s.name not in started:
                    continue
                if not self.running_pid(s):  # it exited: say why now rather than wait for the deadline
                    tail = (self.log / f"{s.name}.log").read_text(errors="replace").strip().splitlines()[-5:]
                    print(f"{s.name} exited during start:\n  " + "\n  ".join(tail), file=sys.stderr)
                    return False
                if _healthy(s)[0]:
                    healthy.add(s.name)
            if len(healthy) == len(self.services):
                return True
            time.sleep(0.25)
        return False

    def load_demo(self) -> int:
        from services.data_core.demo import demo_files
        from services.data_core.demo import load_demo as load

        sites = {x.strip() for x in self.settings.demo_sites.split(",") if x.strip()} or None
        print("loading demo data (first run ingests ~1.3 million hourly readings; later runs are instant) ...")
        try:
            reports = load(self.url["data-core"], self.secrets()["API_TOKEN"], files=demo_files(sites))
        except Exception as exc:  # noqa: BLE001 - told to the user, with where to look
            print(f"demo load failed: {exc}; see {self.log}/data-core.log", file=sys.stderr)
            return 1
        for name, r in reports.items():
            note = "  (already loaded)" if r.get("replayed") else ""
            print(f"  {name:30} accepted {r['accepted']:>8}  duplicates {r['duplicates']:>8}  "
                  f"rejected {r['rejected']}{note}")
        return 0

    def flow(self, module: str, *args: str) -> int:
        env = {**os.environ, **OFFLINE_ENV, **self.flow_env, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
               "PREFECT_LOGGING_LEVEL": "WARNING", **self.child_credentials("flow-runner")}
        return subprocess.run([_python(), "-m", module, *args], cwd=ROOT, env=env, check=False).returncode

    def ensure_model(self) -> int:
        """Train a champion when the registry has none (train-baseline), make the ML engine load it, and fill
        the expected values of the demo holdout period (fill-expected); fit the reference baselines the scan
        judges lasting faults by (fit-reference); then scan, and judge the bills (monthly-bills). All idempotent."""
        print("model: train-baseline when carbon-baseline has no champion (first run: about 1-2 minutes) ...")
        if self.flow("flows.train_baseline", "--if-no-champion", *DEMO_WINDOW) != 0:
            print("train-baseline failed; see the output above and the Prefect UI", file=sys.stderr)
            return 1
        httpx.post(self.url["ml-engine"] + "/api/v1/models/reload", headers={"Authorization": f"Bearer {self.secrets()['API_TOKEN']}"},
                   timeout=120, trust_env=False)
        engine = self.service("ml-engine")
        if not self.wait_healthy([Service(engine.name, engine.port, "/ping", engine.command)], timeout=120)[engine.name]:
            print(f"the ML engine did not load the champion; see {self.log}/ml-engine.log", file=sys.stderr)
            return 1
        print("expected values: fill-expected for 2020-01-01 .. 2020-03-15 (readings that have none yet) ...")
        if self.flow("flows.predict_expected", "--start", "2020-01-01", "--end", "2020-03-15",
                     "--max-readings", "200000") != 0:
            print("fill-expected failed; the readings stay pending and the next run fills them", file=sys.stderr)
            return 1
        print("references: fit-reference for series without one (their first half-year; issue #18) ...")
        if self.flow("flows.fit_reference", "--new-only", "--pending", "--days", "181") != 0:
            print("fit-reference failed; the daily schedule retries it (the scan runs without references)",
                  file=sys.stderr)
        print("hotspots: hotspot-scan of 2020-01-01 .. 2020-03-15 (idempotent: a re-run changes nothing) ...")
        if self.flow("flows.hotspot_scan", "--start", "2020-01-01", "--end", "2020-03-15") != 0:
            print("hotspot-scan failed; the hourly schedule retries it", file=sys.stderr)
            return 1
        print("bills: monthly-bills (the demo's b35 gas is billed monthly; idempotent) ...")
        if self.flow("flows.monthly_bills") != 0:
            print("monthly-bills failed; the daily schedule retries it", file=sys.stderr)
            return 1
        return 0

    def down(self, timeout: float = 15.0) -> int:
        """Stop what nothing waits for first (the runner, the dashboard: the runner would keep calling a
        Prefect server that is going away), then the rest; each wave gets SIGTERM at once and shuts down
        in parallel; SIGKILL to any process still running after ``timeout``."""
        needed = {name for s in self.services for name in s.after}
        leaves = [s for s in self.services if s.name not in needed]
        for wave in (leaves, [s for s in self.services if s.name in needed]):
            self._stop_wave(list(reversed(wave)), timeout)
        for s in self.services:
            self._pidfile(s).unlink(missing_ok=True)
        return 0

    def _stop_wave(self, services: list[Service], timeout: float) -> None:
        pids = {s.name: pid for s in services if (pid := self.running_pid(s))}
        for pid in pids.values():
            with suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while any(self._alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        for name, pid in pids.items():
            if self._alive(pid):
                with suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                print(f"killed {name} (no exit {timeout:.0f} s after SIGTERM)")
            print(f"stopped {name}")

    def status(self) -> int:
        self.print_table()
        return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _healthy(service: Service) -> tuple[bool, str]:
    try:
        response = httpx.get(service.url + service.health, timeout=2.0, trust_env=False)
    except httpx.HTTPError as exc:
        return False, type(exc).__name__
    return response.status_code == 200, str(response.status_code)


# the platform of this checkout (make up / make down / make status), and its parts by their old names
PLATFORM = Platform()
SERVICES = PLATFORM.services
FLOW_ENV = PLATFORM.flow_env
VAR, LOG, RUN = PLATFORM.var, PLATFORM.log, PLATFORM.run
start, stop, wait_healthy, up, down, status = (PLATFORM.start, PLATFORM.stop, PLATFORM.wait_healthy, PLATFORM.up,
                                               PLATFORM.down, PLATFORM.status)
dashboard_url = PLATFORM.dashboard_url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.platform")
    parser.add_argument("command", choices=["up", "down", "status", "env"],
                        help="env: write the secrets .env lacks (mode 0600) and stop")
    parser.add_argument("--no-demo", action="store_true", help="do not load the demo data")
    args = parser.parse_args(argv)
    platform = Platform()  # read now: CARBON_NEXUS_* may differ from this module's import
    if args.command == "up":
        return platform.up(load_demo=not args.no_demo)
    if args.command == "env":  # the .env compose reads too; nothing else is written
        if platform.env_file is None:
            print(f"{ENV_FILE_VARIABLE} is empty: no env file to write", file=sys.stderr)
            return 2
        written = platform_env.ensure_env_file(platform.env_file)
        print(f"{platform.env_file}: {'wrote ' + ', '.join(written) if written else 'every secret set'} (mode 0600)")
        return 0
    if args.command == "down":
        return platform.down()
    return platform.status()


if __name__ == "__main__":
    sys.exit(main())

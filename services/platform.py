"""Run the whole platform locally on its embedded default: ``python -m services.platform up|down|status``.

Each service is a real process on 127.0.0.1 with its log under ``var/log/`` and its pid under
``var/run/``; data lives under ``var/`` (the MLflow store under ``mlflow/``) so a restart keeps it.

``up`` starts the Prefect server (4200), the MLflow tracking server and registry (5000), the data core
(8002), the ML engine (8001), the orchestration engine (8003), the chatbot (8004), the dashboard (5173,
the bundle ``make ui`` builds) and the Prefect runner that executes the deployments (health on 4201); loads the demo data; trains ``carbon-baseline`` with the ``train-baseline``
flow when the registry has no champion; fills the expected values of the demo holdout period with the
``fill-expected`` flow; and scans that period for hotspots with the ``hotspot-scan`` flow.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.common.settings import OFFLINE_ENV

ROOT = Path(__file__).resolve().parents[1]
VAR = ROOT / "var"
LOG = VAR / "log"
RUN = VAR / "run"


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


BIN = Path(sys.executable).parent
MLFLOW_DIR = ROOT / "mlflow"
PREFECT_API_URL = "http://127.0.0.1:4200/api"
MLFLOW_URL = "http://127.0.0.1:5000"
# where the flows started by ``up`` send their runs (the Prefect server below) and find the registry
FLOW_ENV = {"PREFECT_API_URL": PREFECT_API_URL, "MLFLOW_TRACKING_URI": MLFLOW_URL,
            "DATA_CORE_URL": "http://127.0.0.1:8002", "ML_ENGINE_URL": "http://127.0.0.1:8001",
            "ORCHESTRATION_URL": "http://127.0.0.1:8003", "RAG_SERVICE_URL": "http://127.0.0.1:8004"}
# the demo's judged period (issue #3): train on 2019, hold out 2020-01-01 .. 2020-03-15
DEMO_WINDOW = ["--train-start", "2019-01-01", "--holdout-start", "2020-01-01", "--holdout-end", "2020-03-15"]

SERVICES: list[Service] = [
    Service("prefect-server", 4200, "/api/health",
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", "4200", "--analytics-off"],
            {"PREFECT_HOME": str(VAR / "prefect"), "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}),
    Service("mlflow", 5000, "/health",
            [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", "5000", "--workers", "1",
             "--backend-store-uri", f"sqlite:///{MLFLOW_DIR / 'mlflow.db'}",
             "--artifacts-destination", str(MLFLOW_DIR / "artifacts")],
            {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}),
    # ingestion events go to the orchestration engine (kept in the data core's outbox until it answers)
    Service("data-core", 8002, "/health", [_python(), "-m", "services.data_core.app"],
            {"PORT": "8002", "HOST": "127.0.0.1", "ORCHESTRATION_URL": "http://127.0.0.1:8003"}),
    # /version answers as soon as the engine runs; /health turns ok once a champion is loaded
    Service("ml-engine", 8001, "/version", [_python(), "-m", "services.ml_engine.app"],
            {"PORT": "8001", "HOST": "127.0.0.1", "MLFLOW_TRACKING_URI": MLFLOW_URL,
             "DATA_CORE_URL": "http://127.0.0.1:8002", "MODEL_POLL_SECONDS": "10"}),
    # thin: flow results and events in, WebSockets and REST out; /health is ok once the channel logs load
    Service("orchestration", 8003, "/health", [_python(), "-m", "services.orchestration.app"],
            {**FLOW_ENV, "PORT": "8003", "HOST": "127.0.0.1", "PREFECT_UI_URL": "http://127.0.0.1:4200",
             "MLFLOW_UI_URL": MLFLOW_URL},
            after=("data-core",)),
    # the chatbot: haystack pipelines over docs/kb and the data core (first start embeds the knowledge base)
    Service("rag-chatbot", 8004, "/api/health", [_python(), "-m", "services.rag.app"],
            {"PORT": "8004", "HOST": "127.0.0.1", "DATA_CORE_URL": "http://127.0.0.1:8002",
             "CACHE_DIR": str(VAR / "rag")},
            after=("data-core",)),
    # the dashboard: the built bundle (make ui) and /config.json; it talks to 8003 and 8004 from the browser
    Service("frontend-ui", 5173, "/api/health", [_python(), "-m", "services.frontend.app"],
            {"PORT": "5173", "HOST": "127.0.0.1", "ORCHESTRATION_PUBLIC_URL": "http://127.0.0.1:8003",
             "CHATBOT_PUBLIC_URL": "http://127.0.0.1:8004", "PREFECT_UI_URL": "http://127.0.0.1:4200",
             "MLFLOW_UI_URL": MLFLOW_URL},
            after=("orchestration", "rag-chatbot")),
    # the Prefect runner: registers the deployments (deployments/definitions.py) and executes their runs
    Service("flow-runner", 4201, "/health", [_python(), "-m", "deployments.serve"],
            {**FLOW_ENV, "PREFECT_RUNNER_SERVER_ENABLE": "true", "PREFECT_RUNNER_SERVER_HOST": "127.0.0.1",
             "PREFECT_RUNNER_SERVER_PORT": "4201", "PREFECT_LOGGING_LEVEL": "INFO"},
            after=("prefect-server",)),
]


def _pidfile(service: Service) -> Path:
    return RUN / f"{service.name}.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _running_pid(service: Service) -> int | None:
    path = _pidfile(service)
    if not path.exists():
        return None
    pid = int(path.read_text().strip() or 0)
    return pid if pid and _alive(pid) else None


def _healthy(service: Service) -> tuple[bool, str]:
    try:
        response = httpx.get(service.url + service.health, timeout=2.0, trust_env=False)
    except httpx.HTTPError as exc:
        return False, type(exc).__name__
    return response.status_code == 200, str(response.status_code)


def start(service: Service) -> int:
    pid = _running_pid(service)
    if pid:
        return pid
    LOG.mkdir(parents=True, exist_ok=True)
    RUN.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **OFFLINE_ENV, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", **service.env}
    log = open(LOG / f"{service.name}.log", "ab")  # noqa: SIM115 (handed to the child process)
    process = subprocess.Popen(service.command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    _pidfile(service).write_text(str(process.pid))
    return process.pid


def stop(service: Service, timeout: float = 15.0) -> bool:
    pid = _running_pid(service)
    if not pid:
        _pidfile(service).unlink(missing_ok=True)
        return False
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)
    _pidfile(service).unlink(missing_ok=True)
    return True


def wait_healthy(services: list[Service], timeout: float) -> dict[str, bool]:
    deadline = time.monotonic() + timeout
    state = {s.name: False for s in services}
    while time.monotonic() < deadline and not all(state.values()):
        for s in services:
            if not state[s.name]:
                state[s.name] = _healthy(s)[0]
                if not state[s.name] and _running_pid(s) is None:
                    state[s.name] = False
        time.sleep(0.5)
    return state


def print_table(services: list[Service]) -> None:
    print(f"\n{'service':22} {'url':28} {'health':10} pid")
    for s in services:
        ok, detail = _healthy(s)
        print(f"{s.name:22} {s.url:28} {('ok' if ok else 'DOWN ' + detail):10} {_running_pid(s) or '-'}")
    print(f"\ndashboard: {dashboard_url()}")
    print(f"logs: {LOG}/   API docs: http://127.0.0.1:8002/docs (data core), http://127.0.0.1:8001/docs "
          f"(ML engine), http://127.0.0.1:8003/docs (orchestration), http://127.0.0.1:8004/docs (chatbot)\nMLflow UI: {MLFLOW_URL}   "
          f"Prefect UI: http://127.0.0.1:4200   live alerts: ws://127.0.0.1:8003/ws/alerts\n")


def dashboard_url() -> str:
    """The dashboard's address with the API token in the fragment (never sent to a server): the page keeps
    it in the browser and takes it out of the address bar."""
    from urllib.parse import quote

    from services.common.settings import ServiceSettings

    try:
        token = ServiceSettings().api_token.get_secret_value()  # type: ignore[call-arg]
    except Exception:  # noqa: BLE001 - no .env yet: the plain address
        return "http://127.0.0.1:5173"
    return f"http://127.0.0.1:5173/#token={quote(token, safe='')}"


def up(load_demo: bool = True) -> int:
    started = time.monotonic()
    by_name = {s.name: s for s in SERVICES}
    for s in SERVICES:
        if s.after and not all(wait_healthy([by_name[n] for n in s.after], timeout=120).values()):
            print(f"{s.name} waits for {', '.join(s.after)}, which did not become healthy", file=sys.stderr)
            break
        start(s)
    state = wait_healthy(SERVICES, timeout=120)
    failed = [n for n, ok in state.items() if not ok]
    if failed:
        print_table(SERVICES)
        print(f"not healthy: {', '.join(failed)}; see {LOG}/<service>.log", file=sys.stderr)
        return 1
    if load_demo:
        from services.data_core.demo import load_demo as load
        from services.data_core.settings import get_settings

        print("loading demo data (first run ingests ~1.3 million hourly readings; later runs are instant) ...")
        reports = load("http://127.0.0.1:8002", get_settings().api_token.get_secret_value())
        for name, r in reports.items():
            note = "  (already loaded)" if r.get("replayed") else ""
            print(f"  {name:30} accepted {r['accepted']:>8}  duplicates {r['duplicates']:>8}  "
                  f"rejected {r['rejected']}{note}")
        if ensure_model() != 0:
            print_table(SERVICES)
            return 1
    print_table(SERVICES)
    print(f"platform up in {time.monotonic() - started:.1f} s")
    return 0


def _flow(module: str, *args: str) -> int:
    env = {**os.environ, **OFFLINE_ENV, **FLOW_ENV, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "PREFECT_LOGGING_LEVEL": "WARNING"}
    return subprocess.run([_python(), "-m", module, *args], cwd=ROOT, env=env, check=False).returncode


def ensure_model() -> int:
    """Train a champion when the registry has none (train-baseline), make the ML engine load it, and fill
    the expected values of the demo holdout period (fill-expected). Both are idempotent."""
    print("model: train-baseline when carbon-baseline has no champion (first run: about 1-2 minutes) ...")
    if _flow("flows.train_baseline", "--if-no-champion", *DEMO_WINDOW) != 0:
        print("train-baseline failed; see the output above and the Prefect UI", file=sys.stderr)
        return 1
    from services.common.settings import ServiceSettings

    token = ServiceSettings().api_token.get_secret_value()  # type: ignore[call-arg]
    httpx.post("http://127.0.0.1:8001/api/v1/models/reload", headers={"Authorization": f"Bearer {token}"},
               timeout=120, trust_env=False)
    engine = next(s for s in SERVICES if s.name == "ml-engine")
    if not wait_healthy([Service(engine.name, engine.port, "/ping", engine.command)], timeout=120)[engine.name]:
        print(f"the ML engine did not load the champion; see {LOG}/ml-engine.log", file=sys.stderr)
        return 1
    print("expected values: fill-expected for 2020-01-01 .. 2020-03-15 (readings that have none yet) ...")
    if _flow("flows.predict_expected", "--start", "2020-01-01", "--end", "2020-03-15",
             "--max-readings", "200000") != 0:
        print("fill-expected failed; the readings stay pending and the next run fills them", file=sys.stderr)
        return 1
    print("hotspots: hotspot-scan of 2020-01-01 .. 2020-03-15 (idempotent: a re-run changes nothing) ...")
    if _flow("flows.hotspot_scan", "--start", "2020-01-01", "--end", "2020-03-15") != 0:
        print("hotspot-scan failed; the hourly schedule retries it", file=sys.stderr)
        return 1
    return 0


def down() -> int:
    for s in reversed(SERVICES):
        if stop(s):
            print(f"stopped {s.name}")
    return 0


def status() -> int:
    print_table(SERVICES)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.platform")
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--no-demo", action="store_true", help="do not load the demo data")
    args = parser.parse_args(argv)
    if args.command == "up":
        return up(load_demo=not args.no_demo)
    if args.command == "down":
        return down()
    return status()


if __name__ == "__main__":
    sys.exit(main())

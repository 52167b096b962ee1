"""Run the whole platform locally on its embedded default: ``python -m services.platform up|down|status``.

Each service is a real process on 127.0.0.1 with its log under ``var/log/`` and its pid under
``var/run/``; data lives under ``var/`` so a restart keeps it. Later services add themselves to
``SERVICES``.
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

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _python() -> str:
    return sys.executable


SERVICES: list[Service] = [
    Service("data-core", 8002, "/health", [_python(), "-m", "services.data_core.app"],
            {"PORT": "8002", "HOST": "127.0.0.1"}),
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
    print(f"\nlogs: {LOG}/   API docs: http://127.0.0.1:8002/docs\n")


def up(load_demo: bool = True) -> int:
    started = time.monotonic()
    for s in SERVICES:
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
    print_table(SERVICES)
    print(f"platform up in {time.monotonic() - started:.1f} s")
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

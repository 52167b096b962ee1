"""bench/harness.py: ports, processes, percentiles, timer and tables; and that it stays the one place the
benchmarks get them from."""

from __future__ import annotations

import ast
import math
import os
import signal
import socket
from pathlib import Path

import numpy as np
import pytest

from bench.harness import (
    OFFLINE_ENV,
    PYTHON,
    REPO,
    Service,
    child_env,
    free_port,
    md_header,
    md_row,
    percentile,
    percentiles,
    ratio,
    timer,
)

BENCH = REPO / "bench"
# modules that are not bench scripts: the harness itself, the frozen anchor copy, and the scripts' helper modules
NOT_SCRIPTS = {"__init__.py", "harness.py", "parse_before.py", "ws_roles.py", "scan_breakdown.py"}
HARNESS_NAMES = {"free_port", "offline_env", "pct", "percentile", "percentiles", "wait_healthy", "wait_ok",
                 "wait_ping", "spawn"}


def test_free_port_is_bindable() -> None:
    port = free_port()
    assert 1024 <= port < 65536
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_percentiles_on_a_known_list() -> None:
    samples = [7.0, 1.0, 10.0, 3.0, 5.0, 2.0, 9.0, 4.0, 8.0, 6.0]  # 1..10, unordered
    linear = percentiles(samples, (0, 50, 95, 99, 100))
    assert linear == pytest.approx({0: 1.0, 50: 5.5, 95: 9.55, 99: 9.91, 100: 10.0})
    assert list(linear.values()) == pytest.approx(np.percentile(samples, [0, 50, 95, 99, 100]).tolist())
    # nearest rank: round(q/100 * (n-1)), half to even (bench/ws.py's figures)
    assert percentiles(samples, (50, 90, 99), method="nearest") == {50: 5.0, 90: 9.0, 99: 10.0}
    assert percentile([42.0], 99) == 42.0
    assert math.isnan(percentile([], 50)) and math.isnan(percentile([], 50, "nearest"))
    with pytest.raises(ValueError):
        percentile(samples, 50, "cubic")


def test_ratio_timer_and_tables() -> None:
    assert ratio(6.0, 2.0) == 3.0
    assert math.isnan(ratio(1.0, 0.0))
    with timer() as t:
        running = t.s
    assert 0 <= running <= t.s == t.s and t.ms == t.s * 1000
    assert md_header(["a", "b"]) == "| a | b |\n|---|---|"
    assert md_row(["x", 1]) == "| x | 1 |"


def test_child_env_has_the_offline_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHESTRATION_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("DO_NOT_TRACK", "false")
    env = child_env({"PORT": "1234"}, unset=("ORCHESTRATION_URL",))
    assert {k: env[k] for k in OFFLINE_ENV} == OFFLINE_ENV
    assert env["PORT"] == "1234" and "ORCHESTRATION_URL" not in env
    assert env["PATH"].split(":")[0] == str(Path(PYTHON).parent)


def test_wait_healthy_fails_at_once_with_the_log_tail_when_the_process_exits(tmp_path: Path) -> None:
    svc = Service("doomed", [PYTHON, "-c", "import sys; print('boom: no database here', flush=True); sys.exit(3)"],
                  tmp_path / "doomed.log", port=free_port())
    try:
        # a RuntimeError, not the TimeoutError of a 10-minute wait: it noticed the exit
        with pytest.raises(RuntimeError) as failure:
            svc.wait_healthy(timeout=600)
    finally:
        assert svc.stop() == 3
    message = str(failure.value)
    assert "doomed exited with 3" in message and "boom: no database here" in message
    assert str(tmp_path / "doomed.log") in message


def test_wait_healthy_returns_the_answer(tmp_path: Path) -> None:
    port = free_port()
    svc = Service("http", [PYTHON, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)],
                  tmp_path / "http.log", port=port)
    try:
        assert svc.wait_healthy(svc.url + "/", timeout=60).status_code == 200
    finally:
        svc.stop()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_stop_terminates_and_reaps(tmp_path: Path) -> None:
    svc = Service("sleeper", [PYTHON, "-c", "import time; time.sleep(600)"],
                  tmp_path / "sleeper.log")
    assert svc.stop() == -signal.SIGTERM
    assert svc.proc.poll() is not None and _gone(svc.pid)  # reaped: no zombie left
    assert svc.stop() == -signal.SIGTERM  # a second stop is harmless


def test_stop_kills_what_ignores_sigterm(tmp_path: Path) -> None:
    code = ("import json, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print(json.dumps({'ready': True}), flush=True); time.sleep(600)")
    svc = Service("stubborn", [PYTHON, "-c", code], tmp_path / "stubborn.log", pipes=True)
    assert svc.line(timeout=60) == {"ready": True}
    assert svc.stop(timeout=0.5) == -signal.SIGKILL
    assert _gone(svc.pid)


def test_python_module_command(tmp_path: Path) -> None:
    svc = Service("module", "json.tool", tmp_path / "module.log", pipes=True)
    svc.send('{"a": 1}')
    assert svc.proc.stdin is not None
    svc.proc.stdin.close()
    assert svc.proc.wait(timeout=60) == 0
    assert svc.stop() == 0


# ----------------------------------------------------------------------- the harness stays the one place
def _bench_modules() -> list[Path]:
    return sorted(p for p in BENCH.glob("*.py") if p.name != "parse_before.py")


def test_no_bench_defines_its_own_harness() -> None:
    for path in _bench_modules():
        if path.name == "harness.py":
            continue
        tree = ast.parse(path.read_text(), str(path))
        defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
        assert not defined & HARNESS_NAMES, f"{path.name} defines {defined & HARNESS_NAMES}: use bench.harness"


def test_no_sys_path_hack_to_bench() -> None:
    scripts = {p.stem for p in BENCH.glob("*.py")}
    for path in _bench_modules():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("sys.path.insert", "sys.path.append"):
                target = ast.unparse(node.args[-1])
                assert target == "str(Path(__file__).resolve().parents[1])", f"{path.name}: sys.path gets {target}"
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                assert not {n.split(".")[0] for n in names} & scripts, f"{path.name}: import bench modules as bench.X"


def test_every_bench_script_uses_the_harness() -> None:
    for path in _bench_modules():
        if path.name in NOT_SCRIPTS:
            continue
        tree = ast.parse(path.read_text(), str(path))
        modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert "bench.harness" in modules, f"{path.name} does not use bench.harness"

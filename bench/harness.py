"""What every benchmark needs around the code it measures: the repository's paths, the telemetry-off
environment of its child processes, free ports, processes that are waited for and stopped, percentiles,
a timer and the small table and ratio printers.

A bench script is run as ``python bench/X.py``; it puts the repository root on ``sys.path`` once and
imports from here::

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.harness import Service, free_port  # noqa: E402
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from services.common.settings import OFFLINE_ENV

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
PYTHON = sys.executable
BIN = Path(PYTHON).parent

__all__ = ["BIN", "OFFLINE_ENV", "OUT", "PYTHON", "REPO", "DataCore", "Service", "Timer", "child_env", "free_port",
           "md_header", "md_row", "percentile", "percentiles", "ratio", "timer", "use_offline_env"]


# --------------------------------------------------------------------------------------- environment
def use_offline_env(**defaults: str) -> None:
    """Telemetry off in this process (and so in what it imports and starts), plus ``defaults`` such as
    ``OMP_NUM_THREADS="1"``; a variable already set keeps its value."""
    for key, value in {**OFFLINE_ENV, **defaults}.items():
        os.environ.setdefault(key, value)


def child_env(extra: dict[str, str] | None = None, unset: Iterable[str] = ()) -> dict[str, str]:
    """A child's environment: this process's, the telemetry-off variables, ``OMP_NUM_THREADS`` (default 1),
    the venv's ``bin`` first on ``PATH``, then ``extra``; ``unset`` names are left out."""
    env = {**os.environ, **OFFLINE_ENV}
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PATH"] = f"{BIN}:{os.environ.get('PATH', '')}"
    for key in unset:
        env.pop(key, None)
    env.update(extra or {})
    return env


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------------------------ processes
class Service:
    """A child process with its own log file and process group: ``python -m module`` (``cmd`` a string) or
    a command (a list). ``pipes=True`` gives it a stdin and a stdout for JSON lines (``send``/``line``);
    its stderr still goes to the log."""

    def __init__(self, name: str, cmd: str | Sequence[str], log: Path, env: dict[str, str] | None = None, *,
                 port: int | None = None, pipes: bool = False, unset: Iterable[str] = ()) -> None:
        self.name, self.port, self.log_path = name, port, Path(log)
        self.url = f"http://127.0.0.1:{port}" if port else ""
        argv = [PYTHON, "-m", cmd] if isinstance(cmd, str) else list(cmd)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log: IO[str] = open(self.log_path, "w")  # noqa: SIM115 - closed in stop
        self.proc = subprocess.Popen(argv, cwd=REPO, env=child_env(env, unset), text=True, start_new_session=True,
                                     stdout=subprocess.PIPE if pipes else self._log,
                                     stderr=self._log if pipes else subprocess.STDOUT,
                                     stdin=subprocess.PIPE if pipes else subprocess.DEVNULL)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the log."""
        with contextlib.suppress(ValueError, OSError):
            self._log.flush()
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _failure(self, what: str) -> str:
        return f"{self.name} {what}; {self.log_path}, last lines:\n{self.tail()}"

    def wait_healthy(self, url: str | None = None, timeout: float = 120.0, interval: float = 0.25) -> Any:
        """Poll ``url`` (default ``<url>/health``) until it answers 200 and return the response; fail at once
        (with the log's tail) if the process exits first, or after ``timeout`` seconds."""
        import httpx

        url = url or self.url + "/health"
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self._failure(f"exited with {self.proc.returncode} before {url} answered"))
            try:
                response = httpx.get(url, timeout=5, trust_env=False)
                if response.status_code == 200:
                    return response
                last = f"{response.status_code}: {response.text[:300]}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(interval)
        raise TimeoutError(self._failure(f"did not answer 200 on {url} in {timeout:.0f} s (last: {last})"))

    def send(self, text: str) -> None:
        """One line to the child's stdin (``pipes=True``)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def line(self, timeout: float) -> dict[str, Any]:
        """The next JSON line of the child's stdout (``pipes=True``)."""
        assert self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise TimeoutError(self._failure(f"gave no answer in {timeout:.0f}s"))
        text = self.proc.stdout.readline()
        if not text:
            raise RuntimeError(self._failure(f"exited ({self.proc.poll()})"))
        return dict(json.loads(text))

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the process so far (``/proc/<pid>/stat``), NaN once it is gone."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return float("nan")

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM to the process group, then SIGKILL if it is still there after ``timeout`` seconds; reaps
        the process, closes the log and returns the exit code."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._log.close()
        return self.proc.returncode


class DataCore(Service):
    """The data core (``python -m services.data_core.app``) on ``database_url``: 127.0.0.1, a free port,
    ``token`` (default a random one) as its ``API_TOKEN``, ``LOG_JSON=false``, then ``env``."""

    def __init__(self, database_url: str, log: Path, token: str | None = None, *, name: str = "data core",
                 unset: Iterable[str] = (), **env: str) -> None:
        self.token = token or secrets.token_urlsafe(32)
        port = free_port()
        super().__init__(name, "services.data_core.app", log, {
            "DATABASE_URL": database_url, "API_TOKEN": self.token, "PORT": str(port), "HOST": "127.0.0.1",
            "LOG_JSON": "false", **env}, port=port, unset=unset)

    @property
    def base(self) -> str:
        return self.url

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


# ---------------------------------------------------------------------------------------- statistics
def percentile(samples: Sequence[float], q: float, method: str = "linear") -> float:
    """The ``q``-th percentile (0..100) of ``samples``; NaN when there are none. ``linear``: between the
    closest ranks (numpy's default); ``nearest``: the sample at rank ``round(q/100 * (n-1))``."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    if method == "nearest":
        return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]
    if method != "linear":
        raise ValueError(f"unknown percentile method {method!r}")
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def percentiles(samples: Sequence[float], qs: Iterable[float] = (50, 95, 99),
                method: str = "linear") -> dict[float, float]:
    """``{q: percentile}`` for each of ``qs``."""
    return {q: percentile(samples, q, method) for q in qs}


def ratio(value: float, anchor: float) -> float:
    """``value / anchor``, NaN when the anchor is (about) zero."""
    return value / anchor if abs(anchor) > 1e-9 else float("nan")


class Timer:
    """Seconds since it was made (``Timer()``), or of a ``with timer() as t:`` block: ``t.s`` (while the block
    runs: so far)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.start = clock()
        self.end: float | None = None

    @property
    def s(self) -> float:
        return (self.end if self.end is not None else self.clock()) - self.start

    @property
    def ms(self) -> float:
        return self.s * 1000


@contextlib.contextmanager
def timer(clock: Callable[[], float] = time.perf_counter) -> Iterator[Timer]:
    """Time a block (wall clock by default; ``time.process_time`` for CPU seconds)."""
    t = Timer(clock)
    try:
        yield t
    finally:
        t.end = clock()


# -------------------------------------------------------------------------------------------- tables
def md_row(cells: Iterable[object]) -> str:
    """One row of a Markdown table."""
    return "| " + " | ".join(str(c) for c in cells) + " |"


def md_header(header: Sequence[str]) -> str:
    """A Markdown table's header and rule."""
    return md_row(header) + "\n|" + "---|" * len(header)

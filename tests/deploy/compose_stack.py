"""The compose stack built and run for real on a Docker engine (`make compose-test`, part of `make test`).

Starts dockerd when no engine answers (and stops it at the end), builds same-named stand-ins for the base
images only when the official ones cannot be pulled (docker/standins), builds every image, brings
compose.yaml up and checks, phase by phase (each timed):

* every service healthy, each started only once the one before it in the chain was healthy;
* the five ports answer on 127.0.0.1; `docker compose logs -f ml-engine` streams the engine's lines, in which
  the engine sees the client behind its load balancer and never a forged X-Forwarded-For;
* the demo loads; model-trainer waits for the data and trains a champion;
* a file dropped into the ingest volume becomes an alert on ws://127.0.0.1:8003/ws/alerts;
* the chatbot answers with a citation; the dashboard renders in Chromium without console errors;
* three ml-engine replicas behind the load balancer all serve, and killing one mid-load fails no request;
* restarting every container keeps all data; backup, `down -v`, restore gives the same inventory totals;
* compose.prod.yaml brings a service up with its production target, compose.dev.yaml one with its
  development target (source mounted, --reload);
* every process runs as a non-root uid; no .env, token or .git in any image layer (docker save);
* the monitoring profile's Prometheus scrapes every service (its /api/v1/targets: every job up).

It ends with `down -v` and prints the image sizes and the time of each phase. Exit status 0 = all passed.
Usage: python tests/deploy/compose_stack.py [--keep] (--keep: leave the stack up for a look; the engine
it started is still stopped unless --keep-engine). `--build-only` runs the engine, base-image and build
phases and leaves the engine running for the full run that follows: `make test` runs it in the background
during pytest, so the image build (downloads, mostly waiting) overlaps the tests. An engine a --build-only
run started (its pid in var/compose-test/engine.pid) is stopped by the full run as its own; that engine runs
at a low CPU priority, so the build takes only what pytest leaves.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import os
import secrets
import shutil
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from tests.deploy import compose_checks as checks  # noqa: E402

PROJECT = "carbon_nexus_ci"
DATA_ROOT = Path(os.environ.get("COMPOSE_TEST_DOCKER_ROOT", "/var/lib/carbon-nexus-docker"))
STANDIN_CACHE = Path(os.environ.get("COMPOSE_TEST_STANDIN_CACHE", "/var/cache/carbon-nexus-standin"))
# official base image -> the docker/standins target that stands in for it
BASES = {"python:3.11-slim": "python", "node:20-bookworm-slim": "node", "postgres:16-alpine": "postgres",
         "nginxinc/nginx-unprivileged:1.27-alpine": "nginx", "prom/prometheus:v2.55.1": "prometheus",
         "alpine:3.20": "alpine"}
# image -> (Dockerfile, SERVICE_MODULE); every Python image shares all layers but the last
IMAGES = {"carbon-nexus-python": ("docker/python.Dockerfile", None),
          "carbon-nexus-ml-engine": ("docker/python.Dockerfile", "services.ml_engine.app"),
          "carbon-nexus-data-core": ("docker/python.Dockerfile", "services.data_core.app"),
          "carbon-nexus-orchestration": ("docker/python.Dockerfile", "services.orchestration.app"),
          "carbon-nexus-rag-chatbot": ("docker/python.Dockerfile", "services.rag.app"),
          "carbon-nexus-frontend": ("docker/ui.Dockerfile", None)}
# the development target of one service (compose.dev.yaml), built after the production images: it shares
# their dependency layers and adds the dev extras (a layer cached until pyproject.toml changes)
DEV_IMAGES = {"carbon-nexus-data-core-dev": ("docker/python.Dockerfile", "services.data_core.app")}
TORCH_WHEELS = Path("/opt/wheels")  # this machine's CPU torch wheel (elsewhere: download.pytorch.org)

PHASES: list[tuple[str, float]] = []


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    log(f"--- {name}")
    start = time.monotonic()
    try:
        yield
    finally:
        PHASES.append((name, time.monotonic() - start))
        log(f"--- {name}: {PHASES[-1][1]:.0f} s")


def run(*cmd: str, check: bool = True, capture: bool = False, env: dict[str, str] | None = None,
        timeout: float | None = None, quiet: bool = False) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(cmd, cwd=REPO, env=env, text=True, timeout=timeout,
                         stdout=subprocess.PIPE if capture or quiet else None,
                         stderr=subprocess.STDOUT if quiet else (subprocess.PIPE if capture else None))
    if check and out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {out.returncode}:\n{(out.stdout or '')[-3000:]}"
                           f"{(out.stderr or '')[-3000:]}")
    return out


# ---------------------------------------------------------------------------------------------- engine
def engine_answers() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


ENGINE_PID = REPO / "var" / "compose-test" / "engine.pid"


class HandedEngine:
    """The dockerd a --build-only run started and left running: the full run stops it as its own."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def terminate(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, 15)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, 9)

    def wait(self, timeout: float | None = None) -> int:
        deadline = time.monotonic() + (timeout or 1e9)
        while handed_pid() == self.pid:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("dockerd", timeout or 0)
            time.sleep(0.5)
        ENGINE_PID.unlink(missing_ok=True)
        return 0


def handed_pid() -> int | None:
    """The pid in var/compose-test/engine.pid while that process is a live dockerd, else None."""
    with contextlib.suppress(OSError, ValueError):
        pid = int(ENGINE_PID.read_text())
        if Path(f"/proc/{pid}/comm").read_text().strip() == "dockerd":
            return pid
    return None


def start_engine(background: bool = False) -> subprocess.Popen[bytes] | HandedEngine | None:
    """dockerd when none answers (root only; no systemd here): its own data root, so the layer cache stays.
    ``background``: at nice 10 (a build during pytest), its pid recorded for the full run to stop."""
    if engine_answers():
        pid = handed_pid()
        if pid is not None and not background:
            log(f"the engine a --build-only run started answers (pid {pid}): using it, and stopping it at the end")
            return HandedEngine(pid)
        log("a Docker engine answers: using it")
        return None
    if os.geteuid() != 0 or not shutil.which("dockerd"):
        raise SystemExit("no Docker engine answers and dockerd cannot be started here (root and "
                         "`apt-get install docker.io` needed: make system-deps)")
    exec_root = Path("/run/carbon-nexus-docker")
    DATA_ROOT.mkdir(parents=True, exist_ok=True)
    exec_root.mkdir(parents=True, exist_ok=True)
    logf = open(REPO / "var" / "compose-test" / "dockerd.log", "ab")  # noqa: SIM115 - lives with the engine
    nice = ["nice", "-n", "10"] if background else []
    proc = subprocess.Popen([*nice, "dockerd", "--storage-driver=overlay2", f"--data-root={DATA_ROOT}",
                             f"--exec-root={exec_root}", "-H", "unix:///var/run/docker.sock",
                             "--pidfile", str(exec_root / "dockerd.pid")], stdout=logf, stderr=logf)
    for _ in range(60):
        if engine_answers():
            log(f"started dockerd (pid {proc.pid})")
            if background:
                ENGINE_PID.write_text(str(proc.pid))
            return proc
        time.sleep(1)
    proc.terminate()
    raise SystemExit("dockerd did not answer within 60 s (var/compose-test/dockerd.log)")


def stop_engine(proc: subprocess.Popen[bytes] | HandedEngine | None) -> None:
    if proc is None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log(f"stopped dockerd (pid {proc.pid})")


# ---------------------------------------------------------------------------------------------- images
def have(image: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode == 0


def standins_present() -> list[str]:
    """The base images that are stand-ins (their first layer is the debootstrap root file system's)."""
    def first_layer(image: str) -> str:
        out = run("docker", "image", "inspect", "-f", "{{index .RootFS.Layers 0}}", image, check=False, capture=True)
        return out.stdout.strip() if out.returncode == 0 else ""

    root = first_layer("carbon-nexus-standin/debian:bookworm")
    return [b for b in BASES if root and first_layer(b) == root]


def ensure_bases() -> list[str]:
    """The official base images, pulled; where no registry answers, the stand-ins (same names). Returns the
    base images that are stand-ins."""
    missing = [b for b in BASES if not have(b)]
    missing = [b for b in missing if run("docker", "pull", "-q", b, check=False, quiet=True, timeout=120).returncode]
    if not missing:
        return standins_present()
    log(f"no registry for {', '.join(missing)}: building stand-ins (docker/standins)")
    if not have("carbon-nexus-standin/debian:bookworm"):
        rootfs = STANDIN_CACHE / "rootfs"
        if not (rootfs / "etc" / "debian_version").exists():
            shutil.rmtree(rootfs, ignore_errors=True)
            run("debootstrap", "--variant=minbase", "bookworm", str(rootfs), debian_mirror(), quiet=True)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(["docker", "import", "-", "carbon-nexus-standin/debian:bookworm"], stdin=tar.stdout,
                       check=True, capture_output=True)
        tar.wait()
    with tempfile.TemporaryDirectory() as ctx:
        for f in (REPO / "docker" / "standins").iterdir():
            shutil.copy(f, ctx)
        shutil.copy("/etc/ssl/certs/ca-certificates.crt", ctx)
        node = Path(shutil.which("node") or "/usr/bin/node")
        shutil.copy(node, Path(ctx) / "node")
        npm = Path("/usr/lib/node_modules/npm")
        if not npm.exists():
            npm = node.resolve().parents[1] / "lib" / "node_modules" / "npm"
        shutil.copytree(npm, Path(ctx) / "npm", symlinks=True)
        for image in missing:
            run("docker", "build", "-q", "--network", "host", "--target", BASES[image], "-t", image, ctx, quiet=True)
    return standins_present()


def debian_mirror() -> str:
    for f in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        with contextlib.suppress(OSError):
            for line in f.read_text().splitlines():
                words = line.split()
                if words[:1] == ["deb"] and len(words) > 1:
                    return words[1] if not words[1].startswith("[") else words[2]
                if words[:1] == ["URIs:"] and "security" not in words[1]:
                    return words[1]
    return "http://deb.debian.org/debian"


@contextlib.contextmanager
def wheel_server() -> Iterator[str]:
    """A find-links index of the local CPU torch wheel on 127.0.0.1 (builds use --network host)."""
    if not any(TORCH_WHEELS.glob("torch-*cpu*.whl")):
        yield "--index-url https://download.pytorch.org/whl/cpu"
        return

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):  # type: ignore[no-untyped-def]
            super().__init__(*a, directory=str(TORCH_WHEELS), **k)

        def log_message(self, *a):  # type: ignore[no-untyped-def]
            pass

    # a fixed port: the address is part of a build argument, and so of the layer cache's key
    port = int(os.environ.get("COMPOSE_TEST_WHEEL_PORT", "8765"))
    socketserver.TCPServer.allow_reuse_address = True
    with socketserver.TCPServer(("127.0.0.1", port), Quiet) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"--find-links http://127.0.0.1:{port}/"
        finally:
            server.shutdown()


def build_images() -> None:
    with wheel_server() as torch_args:
        builds = [(i, d, m, "production") for i, (d, m) in IMAGES.items()]
        builds += [(i, d, m, "development") for i, (d, m) in DEV_IMAGES.items()]
        for image, dockerfile, module, target in builds:
            args = ["--build-arg", "PYTHON_IMAGE=python:3.11-slim", "--build-arg", f"TORCH_PIP_ARGS={torch_args}"]
            if module:
                args += ["--build-arg", f"SERVICE_MODULE={module}"]
            start = time.monotonic()
            run("docker", "build", "-q", "--network", "host", "-f", dockerfile, "--target", target, *args,
                "-t", image, ".", quiet=True)
            log(f"built {image} in {time.monotonic() - start:.0f} s")


def image_sizes() -> dict[str, int]:
    names = [*IMAGES, *DEV_IMAGES, *BASES]
    out = run("docker", "image", "inspect", "-f", "{{.Size}}", *names, capture=True, check=False).stdout
    return dict(zip(names, (int(x) for x in out.split()), strict=False))


# ---------------------------------------------------------------------------------------------- the run
def test_env() -> dict[str, str]:
    """Fresh random secrets (never the checkout's .env) in the environment compose reads."""
    s = {name: secrets.token_urlsafe(24) for name in ("API_TOKEN", "READ_TOKEN", "MLFLOW_TRACKING_PASSWORD",
                                                      "MLFLOW_FLASK_SERVER_SECRET_KEY", "MODEL_SIGNING_KEY",
                                                      "POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD")}
    s["MLFLOW_TRACKING_USERNAME"] = "admin"
    s["PREFECT_API_AUTH_STRING"] = "admin:" + secrets.token_urlsafe(24)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "ML_ENGINE_"))}
    return {**env, **s, "COMPOSE_PROJECT_NAME": PROJECT, "COMPOSE_FILE": "compose.yaml",
            "BACKUP_HELPER_IMAGE": "alpine:3.20"}


def build_only() -> int:
    """The first three phases, for `make test` to overlap with pytest; the engine stays up for the full run."""
    ENGINE_PID.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    engine = None
    try:
        with phase("engine"):
            engine = start_engine(background=True)
        with phase("base images"):
            ensure_bases()
        with phase("build"):
            build_images()
    except BaseException:
        if engine is not None:  # the full run starts its own again
            stop_engine(engine)
            ENGINE_PID.unlink(missing_ok=True)
        raise
    log(f"build-only: {time.monotonic() - started:.0f} s")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="leave the stack up at the end")
    parser.add_argument("--keep-engine", action="store_true", help="leave a dockerd this run started running")
    parser.add_argument("--build-only", action="store_true",
                        help="engine, base images and build only; the engine is left for the full run")
    opts = parser.parse_args()
    if opts.build_only:
        return build_only()
    (REPO / "var" / "compose-test").mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    engine = None
    standins: list[str] = []
    sizes: dict[str, int] = {}
    env = test_env()
    failed: list[str] = []
    try:
        with phase("engine"):
            engine = start_engine()
        with phase("base images"):
            standins = ensure_bases()
        with phase("build"):
            build_images()
        stack = checks.Stack(env, REPO, log)
        stack.standins = standins
        stack.down()  # leftovers of an interrupted run
        for name, check in checks.CHECKS:
            with phase(name):
                try:
                    check(stack)
                except Exception as exc:  # noqa: BLE001 - every phase reports; the run fails at the end
                    failed.append(f"{name}: {exc}")
                    log(f"FAILED {name}: {exc}")
                    if name in checks.FATAL:
                        break
        with phase("images: secrets and .git"):
            try:
                checks.scan_images([*IMAGES, *DEV_IMAGES], env, REPO, log)
            except Exception as exc:  # noqa: BLE001
                failed.append(f"image scan: {exc}")
                log(f"FAILED image scan: {exc}")
        if failed:
            stack.dump_logs()
    finally:
        try:
            if not opts.keep and engine_answers():
                with phase("down -v"):
                    run("docker-compose", "--profile", "monitoring", "down", "-v", "--remove-orphans",
                        env=env, check=False, quiet=True)
            sizes = image_sizes() if engine_answers() else {}
        finally:
            if not opts.keep_engine:
                stop_engine(engine)
    print("\nimage sizes (MB):")
    for image, size in sizes.items():
        print(f"  {image:45} {size / 1e6:8.0f}")
    print("\nphases (s):")
    for name, secs in PHASES:
        print(f"  {name:45} {secs:8.0f}")
    print(f"  {'total':45} {time.monotonic() - started:8.0f}")
    if standins:
        print(f"stand-ins for: {', '.join(standins)}")
    if failed:
        print("\nFAILED:\n  " + "\n  ".join(failed))
        return 1
    print("\ncompose stack: every check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

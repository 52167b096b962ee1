"""The checks tests/deploy/compose_stack.py runs against the compose stack, in order (CHECKS)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import queue
import re
import secrets
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

# the chain of the architecture document: each starts only once the one before is healthy
CHAIN = ["ml-engine", "data-core", "orchestration-engine", "rag-chatbot", "frontend-ui"]
PORTS = {"ml-engine": "http://127.0.0.1:8001/health", "data-core": "http://127.0.0.1:8002/health",
         "orchestration-engine": "http://127.0.0.1:8003/health", "rag-chatbot": "http://127.0.0.1:8004/api/health",
         "frontend-ui": "http://127.0.0.1:5173/"}
SITES = {"b33", "b2"}  # the demo's buildings loaded (make up's default); b33's last days are held back
HELD_SITE, HELD_FROM = "b33", "2020-12-29T00:00:00Z"
DEMO_SCRIPT = """
import io, json, os, pandas as pd
from services.data_core.demo import DemoFile, demo_files, load_demo
files = []
for demo in demo_files({sites!r}):
    if demo.name == "cambridge_electricity_2020.csv":
        frame = pd.read_csv(io.BytesIO(demo.content))
        frame = frame[~((frame["site"] == {site!r}) & (frame["timestamp"] >= {since!r}))]
        demo = DemoFile(demo.name, frame.to_csv(index=False).encode(), demo.editions)
    files.append(demo)
reports = load_demo("http://127.0.0.1:8002", os.environ["API_TOKEN"], files=files)
print(json.dumps({{k: v["rejected"] for k, v in reports.items()}}))
"""
# the held-back days, doubled (an injected excess), written into the ingest volume by the flow runner's image
DROP_SCRIPT = """
import io, pandas as pd
from services.data_core.demo import demo_files
for demo in demo_files({sites!r}):
    if demo.name == "cambridge_electricity_2020.csv":
        frame = pd.read_csv(io.BytesIO(demo.content))
        held = frame[(frame["site"] == {site!r}) & (frame["timestamp"] >= {since!r})].copy()
        held["quantity"] = (held["quantity"] * 2.0).round(1)
        held.to_csv("/app/var/inbox/.b33-late.csv.part", index=False)
import os; os.rename("/app/var/inbox/.b33-late.csv.part", "/app/var/inbox/b33-late.csv")
print(len(held))
"""
FATAL = {"up: healthy in the chain's order", "demo and a champion"}


class Stack:
    def __init__(self, env: dict[str, str], repo: Path, log: Callable[[str], None]) -> None:
        self.env, self.repo, self.log = env, repo, log
        self.api = {"Authorization": f"Bearer {env['API_TOKEN']}"}
        self.read = {"Authorization": f"Bearer {env['READ_TOKEN']}"}
        self.http = httpx.Client(timeout=60, trust_env=False)
        self.inventory: dict[str, Any] = {}
        self.standins: list[str] = []

    def compose(self, *args: str, check: bool = True, files: tuple[str, ...] = ("compose.yaml",)) -> str:
        cmd = ["docker-compose", *[x for f in files for x in ("-f", f)], *args]
        out = subprocess.run(cmd, cwd=self.repo, env=self.env, text=True, capture_output=True)
        if check and out.returncode:
            raise RuntimeError(f"{' '.join(cmd)}: {out.returncode}\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
        return out.stdout

    def docker(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(["docker", *args], text=True, capture_output=True)
        if check and out.returncode:
            raise RuntimeError(f"docker {' '.join(args)}: {out.returncode}\n{out.stderr[-2000:]}")
        return out.stdout

    def down(self) -> None:
        self.compose("--profile", "monitoring", "down", "-v", "--remove-orphans", check=False)

    def containers(self) -> list[str]:
        return self.docker("ps", "-q", "--filter", f"label=com.docker.compose.project={self.env['COMPOSE_PROJECT_NAME']}").split()

    def inspect(self, *ids: str) -> list[dict[str, Any]]:
        return json.loads(self.docker("inspect", *ids))

    def service_of(self, c: dict[str, Any]) -> str:
        return str(c["Config"]["Labels"]["com.docker.compose.service"])

    def wait_healthy(self, timeout: float = 600, min_containers: int = 10) -> list[dict[str, Any]]:
        """Every running container with a health check healthy; model-trainer may still be at work."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.inspect(*self.containers())
            bad = [(c["Name"], c["State"].get("Health", {}).get("Status")) for c in info
                   if c["State"].get("Health") and c["State"]["Health"]["Status"] != "healthy"]
            if not bad and len(info) >= min_containers:
                return info
            if time.monotonic() > deadline:
                raise AssertionError(f"not healthy after {timeout:.0f} s: {bad}")
            time.sleep(3)

    def exec(self, container: str, script: str, user: str | None = None) -> str:
        return self.docker("exec", *(["-u", user] if user else []), container, "python", "-c", script)

    def dump_logs(self) -> None:
        for c in self.containers():
            name = self.inspect(c)[0]["Name"].lstrip("/")
            print(f"--- logs of {name}")
            print(subprocess.run(["docker", "logs", "--tail", "30", c], text=True, capture_output=True).stdout[-3000:])


# a request straight to the engine from a container that is not the LB, with a forged X-Forwarded-For
DIRECT_SCRIPT = """
import os, urllib.request, urllib.error
req = urllib.request.Request("http://ml-engine:8001/api/v1/predict?probe={probe}", data=b"{{}}", method="POST",
                             headers={{"Authorization": "Bearer " + os.environ["READ_TOKEN"],
                                      "Content-Type": "application/json", "X-Forwarded-For": "203.0.113.78"}})
try:
    urllib.request.urlopen(req, timeout=30)
except urllib.error.HTTPError as e:
    print(e.code)
"""


def _first_events(out: str) -> dict[tuple[str, str], float]:
    """(container name, "start" | "healthy") -> the first time the engine reported it."""
    first: dict[tuple[str, str], float] = {}
    for line in out.splitlines():
        e = json.loads(line)
        kind = {"start": "start", "health_status: healthy": "healthy"}.get(e.get("status") or e.get("Action"))
        if kind:
            first.setdefault((e["Actor"]["Attributes"]["name"], kind), e["timeNano"] / 1e9)
    return first


def _up(s: Stack) -> None:
    """`compose up -d`. A service whose start outlasted its start period and 3 checks (the chatbot embedding its
    knowledge base on a loaded machine) is "unhealthy" until its next passing check, and compose v1 then gives
    up on its dependants: wait for it to pass, then `up` again starts them (the chain's order still holds)."""
    try:
        s.compose("up", "-d", "--no-build")
    except RuntimeError as exc:
        if "is unhealthy" not in str(exc):
            raise
        s.log("compose up: a dependency was not yet healthy (slow start); waiting for it, then up again")
        s.wait_healthy(min_containers=1)
        s.compose("up", "-d", "--no-build")


def up_in_order(s: Stack) -> None:
    # the engine's events, streamed while the stack starts (it keeps only the last 256 for a later query)
    events = subprocess.Popen(["docker", "events", "--filter", "type=container", "--filter", "event=start",
                               "--filter", "event=health_status", "--format", "{{json .}}"],
                              stdout=subprocess.PIPE, text=True)
    since = time.time()
    try:
        _up(s)
        info = {s.service_of(c): c["Name"].lstrip("/") for c in s.wait_healthy()}
    finally:
        events.terminate()
    first = _first_events(events.communicate()[0])
    for before, after in zip(CHAIN, CHAIN[1:], strict=False):
        healthy, started = first.get((info[before], "healthy")), first.get((info[after], "start"))
        assert healthy and started and started >= healthy, f"{after} started before {before} was healthy"
    s.log("healthy: " + ", ".join(sorted(info)) + "; the chain started in order: " +
          ", ".join(f"{n} +{first[(info[n], 'start')] - since:.0f} s" for n in CHAIN))


def five_ports(s: Stack) -> None:
    for name, url in PORTS.items():
        r = s.http.get(url)
        assert r.status_code == 200, f"{name} {url}: {r.status_code}"


def _address_of(s: Stack, container: str) -> str:
    return str(next(iter(s.inspect(container)[0]["NetworkSettings"]["Networks"].values()))["IPAddress"])


def _logged_client(line: str) -> str:
    """The client address of a uvicorn access-log line, as `docker compose logs` prints it (JSON or text)."""
    text = line.split("| ", 1)[-1].strip()
    with contextlib.suppress(ValueError, AttributeError):
        text = json.loads(text).get("message", text)
    match = re.search(r"([0-9a-fA-F.:]+):\d+ - \"POST ", text)
    assert match, f"no client address in {line!r}"
    return match.group(1)


def logs_follow_and_forwarded_for(s: Stack) -> None:
    """`docker compose logs -f ml-engine` streams the engine's lines as they come; in them, the engine sees the
    client behind the LB (the address the LB saw: the host, through Docker's gateway), never the LB, and a
    forged X-Forwarded-For neither through the LB (which replaces it) nor from another container (not trusted)."""
    probe = secrets.token_hex(6)
    follow = subprocess.Popen(["docker-compose", "-f", "compose.yaml", "logs", "-f", "--no-color", "--tail=1", "ml-engine"],
                              cwd=s.repo, env=s.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in follow.stdout or ()], daemon=True).start()
    seen: dict[str, str] = {}
    try:
        lines.get(timeout=60)  # attached: the last line so far, then the new ones as they come
        s.http.post(f"http://127.0.0.1:8001/api/v1/predict?probe={probe}-lb", json={},
                    headers={**s.read, "X-Forwarded-For": "203.0.113.77"})
        s.exec("flow-runner", DIRECT_SCRIPT.format(probe=f"{probe}-direct"))
        deadline = time.monotonic() + 60
        while len(seen) < 2 and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                line = lines.get(timeout=1)
                for kind in ("lb", "direct"):
                    if f"probe={probe}-{kind}" in line:
                        seen[kind] = _logged_client(line)
    finally:
        follow.terminate()
        follow.wait(10)
    assert set(seen) == {"lb", "direct"}, f"`logs -f ml-engine` streamed no line of the requests: {seen}"
    network = f"{s.env['COMPOSE_PROJECT_NAME']}_carbon_network"
    gateway = s.docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", network).strip()
    expected = {"lb": gateway, "direct": _address_of(s, "flow-runner")}
    assert seen == expected, f"the engine saw {seen}, expected {expected} (LB {_address_of(s, 'ml-engine-lb')})"
    s.log(f"logs -f streamed both requests; the engine saw the host behind the LB as {seen['lb']} (forged "
          f"X-Forwarded-For dropped) and flow-runner as {seen['direct']} (its forged header ignored)")


def demo_and_champion(s: Stack) -> None:
    out = s.exec("data-core", DEMO_SCRIPT.format(sites=SITES, site=HELD_SITE, since=HELD_FROM))
    rejected = json.loads(out.strip().splitlines()[-1])
    assert not any(rejected.values()), rejected
    # model-trainer failed (no data) and was restarted by Docker until it trained a champion
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        st = s.inspect("model-trainer")[0]["State"]
        if st["Status"] == "exited" and st["ExitCode"] == 0:
            break
        time.sleep(5)
    else:
        raise AssertionError(f"model-trainer did not finish: {st}")
    s.log(f"model-trainer exited 0 after {s.inspect('model-trainer')[0]['RestartCount']} restarts")
    s.http.post("http://127.0.0.1:8001/api/v1/models/reload", headers=s.api, timeout=120)
    deadline = time.monotonic() + 180
    while s.http.get("http://127.0.0.1:8001/ping").status_code != 200:
        assert time.monotonic() < deadline, "the ML engine did not load the champion"
        time.sleep(3)


def _recv_alert(ws: Any, site: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = json.loads(ws.recv(timeout=max(1.0, deadline - time.monotonic())))
        except TimeoutError:
            break
        if msg.get("type") == "alert.raised" and msg["payload"].get("hotspot", {}).get("site") == site:
            return msg
    raise AssertionError(f"no alert for {site} within {timeout:.0f} s")


def dropped_file_alerts(s: Stack) -> None:
    from websockets.sync.client import connect

    with connect("ws://127.0.0.1:8003/ws/alerts", open_timeout=30) as ws:
        ws.send(json.dumps({"type": "auth", "token": s.env["API_TOKEN"]}))
        hello = json.loads(ws.recv(timeout=30))
        assert hello["type"] == "hello", hello
        rows = s.exec("flow-runner", DROP_SCRIPT.format(sites=SITES, site=HELD_SITE, since=HELD_FROM))
        s.log(f"dropped b33-late.csv ({rows.strip()} rows) into the inbox volume")
        time.sleep(6)  # files modified in the last 5 s wait for the next run
        # run the ingest deployment now (its schedule runs it every 5 minutes too)
        run = s.http.post("http://127.0.0.1:8003/api/v1/deployments/ingest/ingest/run", headers=s.api, json={})
        assert run.status_code == 201, run.text
        alert = _recv_alert(ws, HELD_SITE, 420)
        s.log(f"alert: {alert['payload'].get('title')}")


def chat_cites(s: Stack) -> None:
    answer = s.http.post("http://127.0.0.1:8004/api/chat", headers=s.read, timeout=120,
                         json={"message": "What were the total emissions of b33 in 2020?"}).json()
    assert any(c["type"] == "query" for c in answer["citations"]), answer
    assert "b33" in answer["answer"], answer


def dashboard_renders(s: Stack) -> None:
    from playwright.sync_api import sync_playwright

    from tests.ui.conftest import CHROMIUM_ARGS

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"http://127.0.0.1:5173/#token={s.env['READ_TOKEN']}")
            page.wait_for_load_state("networkidle")
            page.goto(f"http://127.0.0.1:5173/sites/{HELD_SITE}")
            page.locator("h1", has_text=HELD_SITE).wait_for(timeout=60_000)
            page.wait_for_load_state("networkidle")
        finally:
            browser.close()
    assert not errors, errors


def _predict(s: Stack) -> httpx.Response:
    return s.http.post("http://127.0.0.1:8001/api/v1/predict", headers=s.read, timeout=30,
                       json={"site": HELD_SITE, "timestamps": ["2020-03-02T12:00:00Z"], "history": "none"})


def scale_and_kill(s: Stack) -> None:
    s.compose("up", "-d", "--no-build", "--scale", "ml-engine=3", "--no-recreate")
    replicas = [c for c in s.inspect(*s.containers()) if s.service_of(c) == "ml-engine"]
    assert len(replicas) == 3, len(replicas)
    s.wait_healthy()
    time.sleep(12)  # the LB's DNS answers are cached 10 s
    for c in replicas:  # each loads the champion
        ip = next(iter(c["NetworkSettings"]["Networks"].values()))["IPAddress"]
        deadline = time.monotonic() + 180
        while s.docker("exec", "ml-engine-lb", "wget", "-q", "-O", "-", f"http://{ip}:8001/ping", check=False) == "":
            assert time.monotonic() < deadline, f"replica {c['Name']} never became ready"
            time.sleep(3)
    before = {c["Id"]: _served(s, c["Id"]) for c in replicas}
    for _ in range(30):
        r = _predict(s)
        assert r.status_code == 200, r.text
    served = {c["Name"]: _served(s, c["Id"]) - before[c["Id"]] for c in replicas}
    assert all(n > 0 for n in served.values()), f"not every replica served: {served}"
    s.log(f"predictions per replica: {served}")
    # kill one replica while 4 clients keep predicting, one request a second each (the engine allows a client
    # 120 a minute per replica, RATE_LIMIT_PER_MINUTE; behind the LB all four are the host, Docker's gateway)
    stop, codes = threading.Event(), []

    def load() -> None:
        with httpx.Client(timeout=30, trust_env=False) as c:
            while not stop.is_set():
                codes.append(c.post("http://127.0.0.1:8001/api/v1/predict", headers=s.read,
                                    json={"site": HELD_SITE, "timestamps": ["2020-03-02T12:00:00Z"],
                                          "history": "none"}).status_code)
                stop.wait(1.0)

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(load) for _ in range(4)]
        time.sleep(5)
        s.docker("kill", replicas[0]["Id"])
        time.sleep(20)
        stop.set()
        for f in futures:
            f.result()
    failures = [c for c in codes if c != 200]
    assert codes and not failures, f"{len(failures)} of {len(codes)} requests failed: {set(failures)}"
    s.log(f"{len(codes)} predictions while a replica was killed, none failed")
    s.compose("up", "-d", "--no-build", "--scale", "ml-engine=1")


def _served(s: Stack, cid: str) -> int:
    logs = subprocess.run(["docker", "logs", cid], text=True, capture_output=True)
    return (logs.stdout + logs.stderr).count("/api/v1/predict")


def _inventory(s: Stack) -> dict[str, Any]:
    totals = {site: s.http.get("http://127.0.0.1:8003/api/v1/emissions/totals", headers=s.read,
                               params={"site": site, "start": "2019-01-01", "end": "2021-01-01"}).json()["total_kg_co2e"]
              for site in sorted(SITES)}
    alerts = s.http.get("http://127.0.0.1:8003/api/v1/alerts", headers=s.read, params={"site": HELD_SITE}).json()
    champion = s.http.get("http://127.0.0.1:8001/ping").status_code
    return {"totals": totals, "alerts": len(alerts["alerts"]), "champion_ready": champion}


def restart_keeps_data(s: Stack) -> None:
    s.inventory = _inventory(s)
    s.log(f"inventory: {s.inventory}")
    s.compose("restart")
    s.wait_healthy()
    _wait_ready(s)
    again = _inventory(s)
    assert again == s.inventory, (s.inventory, again)


def _wait_ready(s: Stack) -> None:
    deadline = time.monotonic() + 180
    while s.http.get("http://127.0.0.1:8001/ping").status_code != 200:
        assert time.monotonic() < deadline, "the ML engine did not load its model"
        time.sleep(3)


def backup_down_restore(s: Stack) -> None:
    before = _inventory(s)
    root = s.repo / "var" / "compose-test" / "backups"
    root.mkdir(parents=True, exist_ok=True)
    env = {**s.env, "BACKUP_DIR": str(root)}
    out = subprocess.run([str(s.repo / "deployments" / "backup" / "backup.sh"), "-o", str(root)], cwd=s.repo,
                         env=env, text=True, capture_output=True)
    assert out.returncode == 0, out.stderr[-3000:]
    made = sorted(p for p in root.iterdir() if (p / "SHA256SUMS").exists())[-1]
    assert (made / "carbon_nexus.pgdump").exists(), list(made.iterdir())
    s.compose("down", "-v")
    out = subprocess.run([str(s.repo / "deployments" / "backup" / "restore.sh"), "--with-database", str(made)],
                         cwd=s.repo, env=env, text=True, capture_output=True)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    _up(s)
    s.wait_healthy()
    _wait_ready(s)
    after = _inventory(s)
    assert after == before, (before, after)


def prod_override(s: Stack) -> None:
    files = ("compose.yaml", "compose.prod.yaml")
    s.compose("up", "-d", "--no-build", "--no-deps", "frontend-ui", files=files)
    c = s.inspect("frontend-ui")[0]
    assert c["HostConfig"]["RestartPolicy"]["Name"] == "always", c["HostConfig"]["RestartPolicy"]
    deadline = time.monotonic() + 180
    while s.inspect("frontend-ui")[0]["State"].get("Health", {}).get("Status") != "healthy":
        assert time.monotonic() < deadline, "frontend-ui (compose.prod.yaml) did not become healthy"
        time.sleep(2)
    assert s.http.get(PORTS["frontend-ui"]).status_code == 200


def dev_override(s: Stack) -> None:
    """compose.dev.yaml for one service: data-core from its development image, the checkout's source mounted,
    uvicorn --reload; it serves the same database."""
    files = ("compose.yaml", "compose.dev.yaml")
    s.compose("up", "-d", "--no-build", "--no-deps", "data-core", files=files)
    c = s.inspect("data-core")[0]
    assert c["Config"]["Image"] == "carbon-nexus-data-core-dev", c["Config"]["Image"]
    assert "--reload" in c["Config"]["Cmd"], c["Config"]["Cmd"]
    mounts = {m["Destination"]: m["Source"] for m in c["Mounts"] if m["Type"] == "bind"}
    assert mounts.get("/app/services") == str(s.repo / "services"), mounts
    deadline = time.monotonic() + 600  # a loaded machine: the dev server took 3.5 min to start once
    while s.inspect("data-core")[0]["State"].get("Health", {}).get("Status") != "healthy":
        assert time.monotonic() < deadline, "data-core (compose.dev.yaml) did not become healthy"
        time.sleep(2)
    if s.inventory:
        totals = _inventory(s)["totals"]
        assert totals == s.inventory["totals"], (s.inventory["totals"], totals)
    s.log(f"data-core from {c['Config']['Image']} (source mounted, --reload) healthy, same inventory totals")


def non_root(s: Stack) -> None:
    bad = []
    for cid in s.containers():
        name = s.inspect(cid)[0]["Name"]
        top = s.docker("top", cid, "-o", "uid,pid,args").splitlines()[1:]
        bad += [f"{name}: {line.strip()}" for line in top if line.split()[0] in ("0", "root")]
    assert not bad, bad


def monitoring(s: Stack) -> None:
    # on the stand-in too (Debian's 2.42): the entrypoint writes Prefect's user into a copy of the configuration
    s.compose("--profile", "monitoring", "up", "-d", "--no-build", "--no-deps", "prometheus")
    deadline = time.monotonic() + 180
    jobs: dict[str, str] = {}
    while time.monotonic() < deadline:
        with_targets = s.http.get("http://127.0.0.1:9090/api/v1/targets")
        if with_targets.status_code == 200:
            jobs = {}
            for t in with_targets.json()["data"]["activeTargets"]:
                jobs[t["labels"]["job"]] = "up" if jobs.get(t["labels"]["job"], "up") == "up" and t["health"] == "up" else t["health"]
            if len(jobs) >= 7 and all(v == "up" for v in jobs.values()):
                s.log(f"Prometheus scrapes: {sorted(jobs)}")
                return
        time.sleep(5)
    raise AssertionError(f"Prometheus targets: {jobs}")


CHECKS: list[tuple[str, Callable[[Stack], None]]] = [
    ("up: healthy in the chain's order", up_in_order),
    ("the five ports on 127.0.0.1", five_ports),
    ("logs -f; X-Forwarded-For from the LB only", logs_follow_and_forwarded_for),
    ("demo and a champion", demo_and_champion),
    ("dropped file -> ws alert", dropped_file_alerts),
    ("chat with a citation", chat_cites),
    ("dashboard in Chromium", dashboard_renders),
    ("non-root processes", non_root),
    ("scale ml-engine=3, kill one", scale_and_kill),
    ("restart keeps data", restart_keeps_data),
    ("backup, down -v, restore", backup_down_restore),
    ("compose.prod.yaml (frontend-ui)", prod_override),
    ("compose.dev.yaml (data-core)", dev_override),
    ("monitoring: Prometheus scrapes", monitoring),
]


def scan_images(images: list[str], env: dict[str, str], repo: Path, log: Callable[[str], None]) -> None:
    """docker save every image; no layer may hold a .env, a .git or a secret (this run's and the checkout's)."""
    needles = {v for k, v in env.items() if k in ("API_TOKEN", "READ_TOKEN", "MODEL_SIGNING_KEY", "POSTGRES_PASSWORD",
                                                  "MLFLOW_TRACKING_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY")}
    dotenv = repo / ".env"
    if dotenv.exists():
        for line in dotenv.read_text().splitlines():
            key, _, value = line.partition("=")
            if value.strip() and len(value.strip()) >= 12 and not key.startswith(("#", "LOG_", "CARBON_NEXUS_")):
                needles.add(value.strip())
    raw = [n.encode() for n in needles]
    found: list[tuple[str, str]] = []  # (member of the saved archive, what)
    manifest: list[dict[str, Any]] = []
    # one `docker save` of every image: a layer they share (the venv: most of each Python image) is written
    # and read once (saving image by image streamed it once per image)
    save = subprocess.Popen(["docker", "save", *images], stdout=subprocess.PIPE)
    assert save.stdout is not None
    with tarfile.open(fileobj=save.stdout, mode="r|") as outer:
        for member in outer:
            # a layer several images share is in the archive once; the others link to it (symlinks: skipped)
            blob = outer.extractfile(member) if member.isfile() else None
            if blob is None:
                continue
            if member.name.endswith("layer.tar"):
                with tarfile.open(fileobj=blob, mode="r|") as layer:
                    for f in layer:
                        path = "/" + f.name
                        parts = path.split("/")
                        if parts[-1] == ".env" or ".git" in parts:
                            found.append((member.name, path))
                        if f.isfile() and f.size < 50_000_000:
                            content = layer.extractfile(f).read()  # type: ignore[union-attr]
                            found += [(member.name, f"secret in {path}") for n in raw if n in content]
            else:
                content = blob.read()
                if member.name == "manifest.json":
                    manifest = json.loads(content)
                elif any(n in content for n in raw):
                    found.append((member.name, "secret in the image config"))
    assert save.wait() == 0, "docker save failed"
    owners = {name: [t for m in manifest if name in (m["Config"], *m["Layers"]) for t in m.get("RepoTags") or ()]
              for name, _ in found}
    log(f"scanned {len(images)} images, {sum(len(m['Layers']) for m in manifest)} layers "
        f"({len({x for m in manifest for x in m['Layers']})} distinct)")
    assert not found, [f"{owners[name]}: {what}" for name, what in found]

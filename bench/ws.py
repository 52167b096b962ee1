"""WebSocket fan-out: 1,000 clients on ``/ws/alerts`` and a burst of alerts, the orchestration engine next to
a naive broadcast loop, in one run.

    .venv/bin/python bench/ws.py [--clients 1000] [--alerts 100] [--slow 4] [--batch 1] [--procs 2]
                                 [--pad-bytes 0] [--engine-ws auto] [--no-deflate] [--json bench/out/ws.json]

Goal (issue): p99 delivery latency <= 100 ms and nothing dropped for healthy clients.

Processes (the machine's 2 cores are shared by all of them; nothing is pinned):

* the data core (``python -m services.data_core.app``: real app, temporary SQLite file, migrated and seeded by
  its lifespan) and the orchestration engine (the real ``create_app`` under uvicorn, run the way
  ``services.common.app.serve`` runs it; ``--engine-ws`` picks uvicorn's WebSocket implementation, default
  ``auto`` as in production) - one process each;
* the naive broadcast server (this file, ``--_role naive``; code in ``bench/ws_roles.py``): a Starlette WebSocket
  endpoint that keeps a list of sockets and, for each message POSTed to ``/publish``, does ``for ws in clients:
  await ws.send_text(frame)`` (no queues) before it answers; same uvicorn settings as the engine;
* ``--procs`` client processes (this file, ``--_role clients``; code in ``bench/ws_roles.py``; default 2, the
  clients split evenly), asyncio on uvloop with the ``websockets`` client (which offers permessage-deflate, like
  browsers; ``--no-deflate`` to turn it off). Each records ``time.time()`` when a frame arrives, before parsing it;
* this driver: starts everything, POSTs the burst, records the time each POST started, gathers the figures.

The same clients run against both servers, one after the other (ours first: the naive server is fed the very
``alert.raised`` payloads the data core logged, so the frames are the same size). The burst: ``--alerts`` alerts
as ``--alerts / --batch`` POSTs sent back to back (the next when the previous answered); ours: ``POST
/api/v1/results`` with ``--batch`` hotspots of distinct sites (stored through the data core, then broadcast);
naive: ``POST /publish`` with the same number of payloads.

Latency of an alert at a client = the client's receive time - the time the driver started the POST that
carried it (same machine, same clock). So ours includes the round trip to the data core before the broadcast.
Drops = alerts expected - alerts received, per healthy client, after the burst plus ``--settle`` seconds; seq
gaps and duplicates are checked too. ``--slow`` clients (spread evenly through the connect order) stop reading
after ``hello`` with a small receive buffer (``--slow-rcvbuf``); at the end they read again for a moment to
see what they got and how they were closed.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import secrets
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: bench.harness, services

from bench.harness import OUT, PYTHON, DataCore, Service, free_port, percentile  # noqa: E402
from bench.ws_roles import clients_main, raise_nofile, run_naive  # noqa: E402

# the sample at the nearest rank (not interpolated): a latency some client really saw
pct = functools.partial(percentile, method="nearest")


# =========================================================================== roles: servers
def run_engine(ws_impl: str) -> None:
    """The real orchestration app, served by ``services.common.app.serve``, with a chosen ws implementation."""
    from services.common.app import serve
    from services.common.settings import apply_offline_env
    from services.orchestration.app import create_app
    from services.orchestration.settings import get_settings

    apply_offline_env()
    settings = get_settings()
    profile_to = os.environ.get("BENCH_PROFILE")
    profiler = None
    if profile_to:  # uvicorn re-raises SIGTERM after its shutdown: exit normally so the profile is written
        import cProfile

        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        profiler = cProfile.Profile()
        profiler.enable()
    try:
        serve(create_app(settings), settings, ws=ws_impl)
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile_to)


# =========================================================================== driver
def hotspot(site: str, pad: int) -> dict[str, Any]:
    evidence: dict[str, Any] = {"excess_ratio": 0.5}
    if pad:  # random text, so that permessage-deflate cannot squash it
        evidence["pad"] = secrets.token_urlsafe(pad)[:pad]
    return {"kind": "above_expected", "site": site, "meter": "", "activity_type": "electricity",
            "period_start": "2020-01-10T00:00:00Z", "period_end": "2020-01-11T00:00:00Z", "ongoing": True,
            "severity": "high", "excess_kwh": 240.0, "excess_kg": 48.0, "model_version": "1", "evidence": evidence}


def run_phase(name: str, ws_url: str, token: str, args: argparse.Namespace, work: Path, logs: Path,
              post: Any, servers: list[Service], retried: set[int] | None = None) -> dict[str, Any]:
    """Connect the clients, send the burst with ``post(i, indexes) -> None``, collect and summarise."""
    total = args.clients + args.slow
    slow_global = {round((k + 0.5) * total / args.slow) for k in range(args.slow)} if args.slow else set()
    # a split of the connect order over the client processes (contiguous ranges)
    bounds = [round(p * total / args.procs) for p in range(args.procs + 1)]
    workers: list[Service] = []
    try:
        for p in range(args.procs):
            lo, hi = bounds[p], bounds[p + 1]
            slow_local = [g - lo for g in slow_global if lo <= g < hi]
            cmd = [PYTHON, str(Path(__file__).resolve()), "--_role", "clients", "--_url", ws_url, "--_token", token,
                   "--_count", str(hi - lo), "--_slow_idx", ",".join(map(str, slow_local)),
                   "--_out", str(work / f"{name}-clients-{p}.json"), "--slow-rcvbuf", str(args.slow_rcvbuf)]
            if args.no_deflate:
                cmd.append("--no-deflate")
            workers.append(Service(f"{name}-clients-{p}", cmd, logs / f"{name}-clients-{p}.log", pipes=True))
        connect_s = 0.0
        for w in workers:
            ready = w.line(timeout=300)
            connect_s = max(connect_s, ready["connect_s"])
            if ready["errors"]:
                print(f"  {w.name}: connect errors {ready['errors']}")
        print(f"  [{name}] {total} clients connected in {connect_s:.1f} s")
        time.sleep(args.quiet)  # let the connect storm settle
        cpu0 = {p.name: p.cpu_seconds() for p in [*servers, *workers]}
        starts: dict[int, float] = {}
        ends: dict[int, float] = {}
        t_burst = time.time()
        for b in range(0, args.alerts, args.batch):
            idx = list(range(b, min(args.alerts, b + args.batch)))
            t = time.time()
            for i in idx:
                starts[i] = t
            post(b // args.batch, idx)
            t_end = time.time()
            for i in idx:
                ends[i] = t_end
        burst_s = time.time() - t_burst
        for w in workers:
            w.send(f"collect {args.alerts} {args.settle}")
        files = []
        for w in workers:
            files.append(w.line(timeout=args.settle + 120)["done"])
        cpu1 = {p.name: p.cpu_seconds() for p in [*servers, *workers]}
    finally:
        for w in workers:
            w.stop()
    return summarise(name, files, starts, ends, args, burst_s, connect_s,
                     {k: round(cpu1[k] - cpu0[k], 2) for k in cpu0}, retried or set())


def summarise(name: str, files: list[str], starts: dict[int, float], ends: dict[int, float],
              args: argparse.Namespace, burst_s: float, connect_s: float, cpu: dict[str, float],
              retried: set[int]) -> dict[str, Any]:
    import orjson

    latencies: list[float] = []
    per_alert: dict[int, list[float]] = {i: [] for i in starts}
    drops_total, clients_with_drops, seq_gaps, seq_dups, unknown = 0, 0, 0, 0, 0
    healthy, closed_early, errors = 0, 0, []
    slow: list[dict[str, Any]] = []
    for path in files:
        body = orjson.loads(Path(path).read_bytes())
        errors += body["errors"]
        slow += list(body["slow"].values())
        closed_early += len(body["closed_early"])
        for rows in body["received"].values():
            healthy += 1
            seen: set[int] = set()
            seqs = [r[1] for r in rows]
            for t, _seq, _kind, i in rows:
                if i not in starts:
                    unknown += 1
                    continue
                if i in seen:
                    continue
                seen.add(i)
                lat = (t - starts[i]) * 1000
                latencies.append(lat)
                per_alert[i].append(lat)
            missing = len(starts) - len(seen)
            drops_total += missing
            clients_with_drops += missing > 0
            seq_dups += len(seqs) - len(set(seqs))
            ordered = sorted(set(seqs))
            seq_gaps += sum(b - a - 1 for a, b in zip(ordered, ordered[1:], strict=False) if b - a > 1)
    post_ms = [(ends[i] - starts[i]) * 1000 for i in starts]
    # latency after the POST answered (ours: the broadcast starts before the answer; naive: the answer comes
    # after the loop, so this is negative there)
    first = {i: min(v) for i, v in per_alert.items() if v}
    last = {i: max(v) for i, v in per_alert.items() if v}
    spread = [last[i] - first[i] for i in first]
    clean = [x for i, v in per_alert.items() if i not in retried for x in v]
    out = {
        "name": name, "alerts_retried": len(retried),
        "p99_ms_without_retried": pct(clean, 99), "max_ms_without_retried": max(clean) if clean else float("nan"), "healthy_clients": healthy, "alerts": len(starts), "expected": healthy * len(starts),
        "delivered": len(latencies), "drops": drops_total, "clients_with_drops": clients_with_drops,
        "seq_gaps": seq_gaps, "seq_duplicates": seq_dups, "unknown_frames": unknown,
        "closed_early": closed_early, "connect_errors": len(errors),
        "p50_ms": pct(latencies, 50), "p90_ms": pct(latencies, 90), "p99_ms": pct(latencies, 99),
        "max_ms": max(latencies) if latencies else float("nan"),
        "mean_ms": statistics.fmean(latencies) if latencies else float("nan"),
        "post_p50_ms": pct(post_ms, 50), "post_max_ms": max(post_ms),
        "first_client_p50_ms": pct(list(first.values()), 50),
        "fanout_spread_p50_ms": pct(spread, 50), "fanout_spread_max_ms": max(spread) if spread else float("nan"),
        "burst_s": round(burst_s, 3), "connect_s": connect_s, "cpu_s": cpu, "slow_clients": slow,
        "per_alert_p50_ms": [round(pct(per_alert[i], 50), 1) for i in sorted(per_alert)],
    }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=1000, help="healthy WebSocket clients (default 1000)")
    ap.add_argument("--alerts", type=int, default=100, help="alerts in the burst (default 100)")
    ap.add_argument("--slow", type=int, default=4, help="extra clients that stop reading (default 4)")
    ap.add_argument("--batch", type=int, default=1, help="hotspots (alerts) per POST (default 1)")
    ap.add_argument("--procs", type=int, default=2, help="client processes (default 2)")
    ap.add_argument("--pad-bytes", type=int, default=0, help="extra bytes in each hotspot's evidence")
    ap.add_argument("--slow-rcvbuf", type=int, default=4096, help="SO_RCVBUF of the slow clients (default 4096)")
    ap.add_argument("--engine-ws", default="auto", help="uvicorn ws implementation for both servers (default auto)")
    ap.add_argument("--ws-queue", type=int, default=None, help="the engine's WS_QUEUE (default: its own default)")
    ap.add_argument("--no-deflate", action="store_true", help="clients do not offer permessage-deflate")
    ap.add_argument("--settle", type=float, default=20.0, help="seconds to wait for deliveries after the burst")
    ap.add_argument("--stall-timeout", type=float, default=10.0,
                    help="a naive POST without an answer for this long means the loop is stalled (default 10)")
    ap.add_argument("--quiet", type=float, default=2.0, help="seconds of quiet between connecting and the burst")
    ap.add_argument("--only", choices=["both", "ours", "naive"], default="both")
    ap.add_argument("--profile", action="store_true", help="run the engine under cProfile (bench/out/ws-engine.prof)")
    ap.add_argument("--json", default=str(OUT / "ws.json"), help="where the figures go (default bench/out/ws.json)")
    # internal roles
    ap.add_argument("--_role", default="driver", help=argparse.SUPPRESS)
    ap.add_argument("--_url", help=argparse.SUPPRESS)
    ap.add_argument("--_token", help=argparse.SUPPRESS)
    ap.add_argument("--_count", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--_slow_idx", default="", help=argparse.SUPPRESS)
    ap.add_argument("--_out", help=argparse.SUPPRESS)
    ap.add_argument("--_port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args._role == "engine":
        raise_nofile()
        run_engine(args.engine_ws)
        return 0
    if args._role == "naive":
        raise_nofile()
        run_naive(args._port, args.engine_ws)
        return 0
    if args._role == "clients":
        raise_nofile()
        import uvloop

        slow_idx = {int(x) for x in args._slow_idx.split(",") if x}
        uvloop.run(clients_main(args._url, args._token, args._count, slow_idx, not args.no_deflate,
                                args.slow_rcvbuf, args._out))
        return 0
    return driver(args)


def driver(args: argparse.Namespace) -> int:
    import httpx

    wall0 = time.perf_counter()
    nofile = raise_nofile()
    per_proc = (args.clients + args.slow) // args.procs + 1
    if nofile < per_proc + 100:
        print(f"warning: RLIMIT_NOFILE {nofile} is low for {per_proc} clients per process")
    OUT.mkdir(parents=True, exist_ok=True)
    logs = OUT / "ws-logs"
    logs.mkdir(exist_ok=True)
    token = secrets.token_urlsafe(32)
    procs: list[Service] = []
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ws-bench-") as tmp:
        work = Path(tmp)
        try:
            oe_port, nv_port = free_port(), free_port()
            dc = DataCore(f"sqlite:///{work / 'bench.db'}", logs / "data-core.log", token, name="data-core",
                          LOG_LEVEL="WARNING", AUTO_MIGRATE="true", ENVIRONMENT="development", INGEST_WORKERS="0")
            procs.append(dc)
            dc_url = dc.url
            engine_env = {"DATA_CORE_URL": dc_url, "API_TOKEN": token, "PORT": str(oe_port), "HOST": "127.0.0.1",
                          "LOG_JSON": "false", "LOG_LEVEL": "WARNING", "ENVIRONMENT": "development",
                          "EVENT_SCAN": "false", "PREFECT_API_URL": "http://127.0.0.1:9/api",
                          # every bench client connects from 127.0.0.1: lift the per-client cap (30) and the
                          # request rate limit, which guard a real deployment, not what this bench measures
                          "WS_MAX_CONNECTIONS_PER_CLIENT": str(args.clients + args.slow + 30), "RATE_LIMIT_PER_MINUTE": "0"}
            if args.ws_queue:
                engine_env["WS_QUEUE"] = str(args.ws_queue)
            engine_cmd = [PYTHON, str(Path(__file__).resolve()), "--_role", "engine", "--engine-ws", args.engine_ws]
            if args.profile:
                engine_env["BENCH_PROFILE"] = str(OUT / "ws-engine.prof")
            dc.wait_healthy(interval=0.2)
            oe = Service("engine", engine_cmd, logs / "engine.log", engine_env, port=oe_port)
            procs.append(oe)
            nv = Service("naive", [PYTHON, str(Path(__file__).resolve()), "--_role", "naive", "--_port", str(nv_port),
                                   "--engine-ws", args.engine_ws], logs / "naive.log", {"LOG_LEVEL": "WARNING"},
                         port=nv_port)
            procs.append(nv)
            oe.wait_healthy(interval=0.2)
            nv.wait_healthy(interval=0.2)
            oe_url, nv_url = oe.url, nv.url
            print(f"data core {dc_url}, engine {oe_url} (ws={args.engine_ws}), naive {nv_url}; "
                  f"{args.clients} clients + {args.slow} slow in {args.procs} client processes; "
                  f"{args.alerts} alerts in POSTs of {args.batch}; deflate={'off' if args.no_deflate else 'offered'}")
            http = httpx.Client(timeout=120, trust_env=False, headers={"Authorization": f"Bearer {token}"})
            # warm-up: the first result stored and broadcast (nobody listening yet), imports and caches
            retries: dict[str, Any] = {"n": 0, "alerts": set()}

            def store(body: dict[str, Any]) -> dict[str, Any]:
                # The data core commits a request's transaction after its answer has been sent (FastAPI's
                # default scope for dependencies with yield), so the engine's PUT /alerts right after the
                # hotspot sync may not see the new hotspots: 422 "unknown hotspot ids". The scan is
                # idempotent, so the bench retries as a flow would, and counts the retries.
                for attempt in range(10):
                    resp = http.post(oe_url + "/api/v1/results", json=body)
                    if resp.status_code == 422 and "unknown hotspot ids" in resp.text and attempt < 9:
                        retries["n"] += 1
                        time.sleep(0.005)
                        continue
                    if resp.status_code >= 400:
                        raise RuntimeError(f"POST /api/v1/results {resp.status_code}: {resp.text[:500]}")
                    return dict(resp.json())
                raise AssertionError("unreachable")

            # warm-up: the first result stored and broadcast (nobody listening yet), imports and caches
            store({"scan_id": "warm", "hotspots": [hotspot("warm-0", 0)]})
            retries["n"] = 0
            run = secrets.token_hex(3)

            def post_ours(k: int, idx: list[int]) -> None:
                body = {"scan_id": f"bench-{run}-{k}", "hotspots": [hotspot(f"bench-{run}-{i}", args.pad_bytes)
                                                                    for i in idx]}
                before = retries["n"]
                out = store(body)
                if retries["n"] > before:
                    retries["alerts"].update(idx)
                if out["alerts"]["created"] != len(idx):
                    raise RuntimeError(f"expected {len(idx)} alerts raised, got {out}")

            servers = [dc, oe, nv]
            if args.only in ("both", "ours"):
                print("ours: the orchestration engine (POST /api/v1/results -> data core -> hub -> /ws/alerts)")
                results["ours"] = run_phase("ours", oe_url.replace("http", "ws") + "/ws/alerts", token, args, work,
                                            logs, post_ours, servers, retries["alerts"])
                results["ours"]["streams"] = http.get(oe_url + "/api/v1/streams").json()["channels"]["alerts"]
                results["ours"]["post_retries"] = retries["n"]
                results["ours"]["alerts_retried_list"] = sorted(retries["alerts"])
            # the naive server gets the very payloads the data core logged (or made-up ones of the same shape)
            stream = http.get(dc_url + "/api/v1/streams/alerts", params={"limit": 10_000}).json()["events"]
            payloads = {int(e["payload"]["hotspot"]["site"].rsplit("-", 1)[1]): e["payload"] for e in stream
                        if e["type"] == "alert.raised" and e["payload"]["hotspot"]["site"].startswith("bench-")}
            if len(payloads) < args.alerts:
                sample = next(e["payload"] for e in stream if e["type"] == "alert.raised")
                for i in range(args.alerts):
                    payloads.setdefault(i, {**sample, "hotspot": {**sample["hotspot"], "site": f"bench-{run}-{i}",
                                                                  "evidence": hotspot("", args.pad_bytes)["evidence"]}})

            stalled: dict[str, Any] = {"at": None}

            def post_naive(k: int, idx: list[int]) -> None:
                # the naive POST answers when its loop has sent to every client; if a slow client's buffers are
                # full, ``send_text`` blocks and so does everything after it: the rest of the burst is not sent
                if stalled["at"] is not None:
                    return
                try:
                    resp = http.post(nv_url + "/publish", content=json.dumps([payloads[i] for i in idx]),
                                     timeout=args.stall_timeout)
                    resp.raise_for_status()
                except httpx.TimeoutException:
                    stalled["at"] = idx[0]
                    print(f"  [naive] POST of alert {idx[0]} got no answer in {args.stall_timeout:.0f} s: the loop "
                          "is stalled; the rest of the burst is not sent (counted as drops)")

            if args.only in ("both", "naive"):
                print("naive: for ws in clients: await ws.send_text(frame)")
                results["naive"] = run_phase("naive", nv_url.replace("http", "ws") + "/ws/alerts", token, args,
                                             work, logs, post_naive, servers)
                results["naive"]["stalled_at_alert"] = stalled["at"]
        finally:
            for p in reversed(procs):
                p.stop()
    wall = time.perf_counter() - wall0
    report(results, args, wall)
    return 0


def report(results: dict[str, Any], args: argparse.Namespace, wall: float) -> None:
    rows = [("healthy clients", "healthy_clients", "{:d}"), ("alerts", "alerts", "{:d}"),
            ("expected deliveries", "expected", "{:d}"), ("delivered", "delivered", "{:d}"),
            ("drops", "drops", "{:d}"), ("clients with drops", "clients_with_drops", "{:d}"),
            ("seq gaps / duplicates", None, None), ("closed early (healthy)", "closed_early", "{:d}"),
            ("p50 ms", "p50_ms", "{:.1f}"), ("p90 ms", "p90_ms", "{:.1f}"), ("p99 ms", "p99_ms", "{:.1f}"),
            ("max ms", "max_ms", "{:.1f}"), ("alerts retried (422 race)", "alerts_retried", "{:d}"),
            ("p99 ms w/o retried alerts", "p99_ms_without_retried", "{:.1f}"), ("POST p50 ms", "post_p50_ms", "{:.1f}"),
            ("first client p50 ms", "first_client_p50_ms", "{:.1f}"),
            ("fan-out spread p50 ms", "fanout_spread_p50_ms", "{:.1f}"), ("burst s", "burst_s", "{:.2f}"),
            ("naive loop stalled at", "stalled_at_alert", "{}")]
    names = [n for n in ("ours", "naive") if n in results]
    print()
    print(f"{'':26}" + "".join(f"{n:>14}" for n in names))
    for label, key, fmt in rows:
        cells = []
        for n in names:
            r = results[n]
            if key is None:
                cells.append(f"{r.get('seq_gaps', '-')}/{r.get('seq_duplicates', '-')}")
            elif key in r and r[key] is not None and r[key] == r[key]:
                cells.append(fmt.format(r[key]))
            else:
                cells.append("-")
        print(f"{label:26}" + "".join(f"{c:>14}" for c in cells))
    for n in names:
        r = results[n]
        if r.get("cpu_s"):
            print(f"cpu s during {n}'s phase: " + ", ".join(f"{k} {v}" for k, v in r["cpu_s"].items()))
        for s in r.get("slow_clients", []):
            print(f"  {n} slow client: {s}")
    summary: dict[str, Any] = {"wall_s": round(wall, 1)}
    if "ours" in results and "p99_ms" in results["ours"]:
        ours = results["ours"]
        goal = ours["p99_ms"] <= 100 and ours["drops"] == 0
        summary["goal_met"] = goal
        print(f"\ngoal (p99 <= 100 ms, no drops): {'MET' if goal else 'MISSED'} - ours p99 {ours['p99_ms']:.1f} ms, "
              f"drops {ours['drops']}")
        if "naive" in results and results["naive"].get("p99_ms"):
            ratio = results["naive"]["p99_ms"] / ours["p99_ms"]
            summary["ratio_naive_over_ours_p99"] = round(ratio, 2)
            print(f"ratio naive p99 / ours p99 = {ratio:.2f}")
    print(f"wall time {wall:.1f} s")
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    config = {k: v for k, v in vars(args).items() if not k.startswith("_")}
    path.write_text(json.dumps({"config": config, "summary": summary, "results": results}, indent=1))
    print(f"figures: {path}")


if __name__ == "__main__":
    sys.exit(main())

"""RAG chatbot latency on its default path (no LLM: the grounded composer): ``POST /api/chat`` and
``POST /api/recommendations`` against a real data core holding the full demo data, next to the data core's
own query time for the same data questions, measured in the same run.

    .venv/bin/python bench/chat.py                                   # 100 chat + 50 recommendation requests
    .venv/bin/python bench/chat.py --json bench/out/chat.json
    .venv/bin/python bench/chat.py --db bench/out/chat-demo.sqlite   # keep the loaded database; reuse it next time

Set-up (not timed):

1. The data core as its own process (``python -m services.data_core.app``) on 127.0.0.1, a free ``PORT``, a random
   ``API_TOKEN`` and ``DATABASE_URL=sqlite:///<tmp>/db.sqlite``; the demo data of ``make up`` loaded through its
   API (``services.data_core.demo.load_demo``, about 30 s) and two hotspots with their alerts synced
   (``POST /api/v1/hotspots/sync``; the B33/B2 hotspots of ``tests/services/rag/conftest.py``). With ``--db PATH``
   an existing database is reused as is (a missing one is created there, loaded and kept); the sync is
   idempotent and runs every time.
2. The chatbot as its own process (``python -m services.rag.app``) with ``DATA_CORE_URL``, ``API_TOKEN``, a free
   ``PORT``, ``LOG_JSON=false`` and ``CACHE_DIR`` (default ``var/rag``, where the knowledge base's embeddings are
   cached); ready when ``GET /api/health`` answers 200 (the first start embeds the knowledge base). No
   ``LLM_BASE_URL``: answers come from the grounded composer.

Measured (httpx from this process, one request at a time, after a warm-up of ``--warmup`` requests per endpoint):

- ``POST /api/chat`` ``{"message": q}``, a new session each time, ``--chat`` requests (default 100) split evenly
  over four kinds and interleaved: data questions (``tests/eval/data_questions.yaml``, field ``q``; follow-ups
  with ``turns`` skipped), knowledge-base questions (``tests/eval/kb_questions/*.yaml``, field ``q``),
  out-of-scope questions (``tests/eval/out_of_scope.yaml``) and issue #19's free-form questions of the tune
  batches f1, f3, f5 (``tests/eval/freeform/questions.yaml``: consumption and demand from the readings,
  rankings, factors, clarifying questions, declines). Questions are drawn without repetition (seeded)
  until a pool runs out.
- ``POST /api/recommendations``, ``--recs`` requests (default 50) cycling over ``{"site", "activity_type"}``
  for sites b0, b2, b33, b5, b91 x natural_gas, electricity and ``{"hotspot_id"}`` for the synced hotspots
  (ids from the data core's ``GET /api/v1/hotspots``).

Anchor (same run, same client, right after): the data core's own answer to each data question asked above,
``GET /api/v1/emissions/totals`` with the question's ``query.params`` (``method`` defaults to location): the raw
ledger query under the chatbot. Ratio = chat p50 (data questions) / anchor p50, i.e. how many times the raw
query the chatbot's answer costs. A second anchor runs each question's complete set of gold queries as
``tests/eval/make_data_gold.py`` does (``top`` for rankings, two totals for changes, totals + site for
intensities).

Goal: p50 <= 300 ms for ``/api/chat`` and for ``/api/recommendations``. Latency figures are over successful
(200) requests; any other status is counted, printed with its body (the server's traceback is in the logs, by
request id) and makes the exit status 1. The table also counts declined answers per kind (every out-of-scope
question should be declined) and tool calls that returned an error.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: bench.harness, services

from bench.harness import REPO, DataCore, Service, free_port, percentile, timer, use_offline_env  # noqa: E402

use_offline_env(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")  # before anything imports numpy

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import yaml  # noqa: E402

EVAL = REPO / "tests" / "eval"
GOAL_P50_MS = 300.0
REC_SITES = ["b0", "b2", "b33", "b5", "b91"]
REC_ACTIVITIES = ["natural_gas", "electricity"]
KINDS = ["data", "kb", "out_of_scope", "freeform"]
FREEFORM_TUNE = ("f1", "f3", "f5")  # issue #19's free-form questions, tune batches only (the test ones stay unseen)

from tests.services.rag.conftest import B2_HOTSPOT, B33_HOTSPOT  # noqa: E402 - the hotspots of the tests


# --------------------------------------------------------------------------- questions
def load_questions() -> dict[str, list[dict[str, Any]]]:
    data = [{"q": item["q"], "query": item["query"], "qkind": item.get("kind")}
            for item in yaml.safe_load((EVAL / "data_questions.yaml").read_text(encoding="utf-8"))
            if not item.get("turns")]
    kb = [{"q": item["q"], "file": path.name}
          for path in sorted((EVAL / "kb_questions").glob("*.yaml"))
          for item in yaml.safe_load(path.read_text(encoding="utf-8")) or []]
    oos = [{"q": q} for q in yaml.safe_load((EVAL / "out_of_scope.yaml").read_text(encoding="utf-8"))]
    freeform = [{"q": item["q"], "batch": item["b"]}
                for item in yaml.safe_load((EVAL / "freeform" / "questions.yaml").read_text(encoding="utf-8"))
                if item["b"] in FREEFORM_TUNE]
    return {"data": data, "kb": kb, "out_of_scope": oos, "freeform": freeform}


def draw(pool: list[dict[str, Any]], n: int, rng: random.Random) -> list[dict[str, Any]]:
    """n items: a seeded shuffle of the pool, reshuffled when it runs out."""
    out: list[dict[str, Any]] = []
    while len(out) < n:
        order = pool[:]
        rng.shuffle(order)
        out += order[: n - len(out)]
    return out


def chat_plan(pools: dict[str, list[dict[str, Any]]], total: int, seed: int) -> list[tuple[str, dict[str, Any]]]:
    """``total`` questions split evenly over the kinds (remainder to the first ones), interleaved."""
    rng = random.Random(seed)
    per = {k: total // len(KINDS) + (i < total % len(KINDS)) for i, k in enumerate(KINDS)}
    picks = {k: draw(pools[k], per[k], rng) for k in KINDS}
    plan: list[tuple[str, dict[str, Any]]] = []
    for i in range(max(per.values(), default=0)):
        plan += [(k, picks[k][i]) for k in KINDS if i < per[k]]
    return plan


# --------------------------------------------------------------------------- measurement
def stats(samples: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [s["ms"] for s in samples if s["status"] == 200]
    out: dict[str, Any] = {"n": len(samples), "ok": len(ok), "errors": len(samples) - len(ok)}
    if ok:
        out.update(p50_ms=round(percentile(ok, 50), 2), p95_ms=round(percentile(ok, 95), 2), max_ms=round(max(ok), 2),
                   mean_ms=round(statistics.fmean(ok), 2), min_ms=round(min(ok), 2))
    server = [s["server_ms"] for s in samples if s.get("server_ms") is not None]
    if server:
        out["server_elapsed_p50_ms"] = round(percentile(server, 50), 2)
    return out


def run_chat(client: httpx.Client, plan: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    samples = []
    for kind, item in plan:
        with timer() as t:
            r = client.post("/api/chat", json={"message": item["q"]})
        sample: dict[str, Any] = {"kind": kind, "q": item["q"], "status": r.status_code, "ms": round(t.ms, 3)}
        if r.status_code == 200:
            body = r.json()
            sample.update(server_ms=body.get("elapsed_ms"), declined=body.get("declined"), intent=body.get("intent"),
                          answer=str(body.get("answer", ""))[:200],
                          citations=len(body.get("citations") or []),
                          tool_errors=[t for t in body.get("tools_called") or [] if t.get("error")])
        else:
            sample["error"] = r.text[:1000]
        samples.append(sample)
    return samples


def run_recs(client: httpx.Client, bodies: list[tuple[str, dict[str, Any]]], n: int) -> list[dict[str, Any]]:
    samples = []
    for i in range(n):
        kind, body = bodies[i % len(bodies)]
        with timer() as t:
            r = client.post("/api/recommendations", json=body)
        sample: dict[str, Any] = {"kind": kind, "body": body, "status": r.status_code, "ms": round(t.ms, 3)}
        if r.status_code == 200:
            answer = r.json()
            actions = answer.get("actions", answer.get("recommendations"))
            sample["actions"] = len(actions) if isinstance(actions, list) else None
        else:
            sample["error"] = r.text[:1000]
        samples.append(sample)
    return samples


def totals_params(query: dict[str, Any]) -> dict[str, Any]:
    params = dict(query["params"])
    params.setdefault("method", "location")
    return params


def run_anchor_totals(dc: httpx.Client, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    samples = []
    for item in items:
        params = totals_params(item["query"])
        with timer() as t:
            r = dc.get("/api/v1/emissions/totals", params=params)
        sample: dict[str, Any] = {"kind": "data", "q": item["q"], "params": params, "status": r.status_code,
                                  "ms": round(t.ms, 3)}
        if r.status_code != 200:
            sample["error"] = r.text[:1000]
        samples.append(sample)
    return samples


def run_anchor_gold(dc: httpx.Client, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every data-core query a correct answer rests on, as tests/eval/make_data_gold.py runs them."""
    from tests.eval.make_data_gold import gold

    samples = []
    for item in items:
        t = time.perf_counter()
        sample: dict[str, Any] = {"kind": "data", "q": item["q"], "endpoint": item["query"]["endpoint"]}
        try:
            gold(dc, item["query"])
            sample["status"] = 200
        except httpx.HTTPStatusError as exc:
            sample.update(status=exc.response.status_code, error=exc.response.text[:1000])
        sample["ms"] = round((time.perf_counter() - t) * 1000, 3)
        samples.append(sample)
    return samples


# --------------------------------------------------------------------------- set-up
def prepare_data_core(dc_url: str, token: str, load: bool) -> dict[str, Any]:
    from services.data_core.demo import load_demo

    out: dict[str, Any] = {}
    if load:
        t = time.monotonic()
        reports = load_demo(dc_url, token)
        out["demo_load_s"] = round(time.monotonic() - t, 1)
        out["demo_rows_accepted"] = sum(int(r["accepted"]) for r in reports.values())  # type: ignore[call-overload]
        print(f"demo data loaded: {out['demo_rows_accepted']} rows accepted in {out['demo_load_s']:.1f} s")
    r = httpx.post(f"{dc_url}/api/v1/hotspots/sync", headers={"Authorization": f"Bearer {token}"}, timeout=60,
                   trust_env=False, json={"hotspots": [B33_HOTSPOT, B2_HOTSPOT], "alert_rules": {}})
    if r.status_code != 200:
        raise RuntimeError(f"hotspot sync answered {r.status_code}: {r.text[:1000]}")
    listed = httpx.get(f"{dc_url}/api/v1/hotspots", headers={"Authorization": f"Bearer {token}"}, timeout=30,
                       trust_env=False)
    listed.raise_for_status()
    wanted = {(h["site"], h["kind"], h["activity_type"]) for h in (B33_HOTSPOT, B2_HOTSPOT)}
    ids = [h["id"] for h in listed.json()["hotspots"]
           if (h.get("site", h.get("site_id")), h.get("kind"), h.get("activity_type")) in wanted]
    if not ids:  # the list's field names differ: take every hotspot
        ids = [h["id"] for h in listed.json()["hotspots"]]
    out["hotspot_ids"] = ids
    print(f"hotspots synced; ids: {', '.join(ids)}")
    return out


# --------------------------------------------------------------------------- report
def row(label: str, s: dict[str, Any]) -> str:
    if not s.get("ok"):
        return f"{label:34} {s['n']:>5} {s['errors']:>5} {'-':>8} {'-':>8} {'-':>8} {'-':>8} {'-':>10}"
    server = s.get("server_elapsed_p50_ms")
    return (f"{label:34} {s['n']:>5} {s['errors']:>5} {s['p50_ms']:8.1f} {s['p95_ms']:8.1f} {s['max_ms']:8.1f} "
            f"{s['mean_ms']:8.1f} {server if server is not None else '-':>10}")


def report(out: dict[str, Any]) -> dict[str, Any]:
    chat, recs = out["samples"]["chat"], out["samples"]["recommendations"]
    anchor, gold_anchor = out["samples"]["anchor_totals"], out["samples"]["anchor_gold"]
    table: dict[str, dict[str, Any]] = {"POST /api/chat": stats(chat)}
    for kind in KINDS:
        table[f"  chat: {kind}"] = stats([s for s in chat if s["kind"] == kind])
    table["POST /api/recommendations"] = stats(recs)
    for kind in ("site", "hotspot"):
        table[f"  recommendations: {kind}"] = stats([s for s in recs if s["kind"] == kind])
    table["anchor GET /api/v1/emissions/totals"] = stats(anchor)
    table["anchor gold queries (make_data_gold)"] = stats(gold_anchor)

    print()
    print(f"{'endpoint / kind':34} {'n':>5} {'err':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'mean ms':>8} "
          f"{'server p50':>10}")
    print("-" * 96)
    for label, s in table.items():
        print(row(label, s))
    print("(latency over 200 answers, measured in this process; 'server p50' = the chatbot's own elapsed_ms)")
    print()

    summary: dict[str, Any] = {"table": table, "goal_p50_ms": GOAL_P50_MS}
    for key, label in (("chat", "POST /api/chat"), ("recommendations", "POST /api/recommendations")):
        s = table[label]
        met = bool(s.get("ok")) and s["p50_ms"] <= GOAL_P50_MS
        summary[f"{key}_goal_met"] = met
        summary[f"{key}_errors"] = s["errors"]
        p50 = f"p50 {s['p50_ms']:.1f} ms" if s.get("ok") else "no successful request"
        errors = f"; but {s['errors']} of {s['n']} requests failed, see below" if s["errors"] else ""
        print(f"{label}: goal p50 <= {GOAL_P50_MS:.0f} ms: {'met' if met else 'missed'} ({p50}{errors})")

    a, g, d, c = (table["anchor GET /api/v1/emissions/totals"], table["anchor gold queries (make_data_gold)"],
                  table["  chat: data"], table["POST /api/chat"])
    if a.get("ok") and d.get("ok"):
        summary["ratio_chat_data_p50_over_totals_p50"] = round(d["p50_ms"] / a["p50_ms"], 2)
        summary["ratio_chat_p50_over_totals_p50"] = round(c["p50_ms"] / a["p50_ms"], 2)
        print(f"anchor: data core GET /api/v1/emissions/totals for the same {a['ok']} data questions, p50 "
              f"{a['p50_ms']:.1f} ms -> chat (data questions) p50 / data-core query p50 = "
              f"{d['p50_ms']:.1f} / {a['p50_ms']:.1f} = {summary['ratio_chat_data_p50_over_totals_p50']:.1f}x "
              f"(all chat questions: {c['p50_ms']:.1f} / {a['p50_ms']:.1f} = "
              f"{summary['ratio_chat_p50_over_totals_p50']:.1f}x)")
    if g.get("ok") and d.get("ok"):
        summary["ratio_chat_data_p50_over_gold_p50"] = round(d["p50_ms"] / g["p50_ms"], 2)
        print(f"anchor (every gold query of each data question, as make_data_gold.py): p50 {g['p50_ms']:.1f} ms -> "
              f"chat (data questions) p50 / gold p50 = {summary['ratio_chat_data_p50_over_gold_p50']:.1f}x")

    declined = {k: sum(1 for s in chat if s["kind"] == k and s.get("declined")) for k in KINDS}
    tool_errors = sum(len(s.get("tool_errors") or []) for s in chat)
    summary.update(declined=declined, tool_errors=tool_errors)
    print("declined answers per kind: " + ", ".join(
        f"{k} {declined[k]}/{sum(1 for s in chat if s['kind'] == k)}" for k in KINDS)
        + f"; tool calls with an error: {tool_errors}")
    health = out.get("health") or {}
    kb = (health.get("checks") or {}).get("knowledge_base", {}).get("detail") or {}
    summary["retrieval"] = kb.get("retrieval") if isinstance(kb, dict) else None
    summary["answers"] = kb.get("answers") if isinstance(kb, dict) else None
    print(f"/api/health: retrieval {summary['retrieval']!r}, answers {summary['answers']!r}, embedding model "
          f"{kb.get('embedding_model') if isinstance(kb, dict) else None!r}"
          + (f", note: {kb['note']}" if isinstance(kb, dict) and kb.get("note") else ""))

    failures = [s for key in ("chat", "recommendations", "anchor_totals", "anchor_gold")
                for s in out["samples"][key] if s["status"] != 200]
    if failures:
        print(f"\n{len(failures)} failed requests; the first ones:")
        for s in failures[:5]:
            what = s.get("q") or json.dumps(s.get("body"))
            print(f"  {s['status']} for {what!r}: {s.get('error')}")
    return summary


# --------------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chat", type=int, default=100, help="chat requests, split evenly over the four kinds")
    parser.add_argument("--recs", type=int, default=50, help="recommendation requests")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up requests per endpoint (not measured)")
    parser.add_argument("--db", type=Path, help="SQLite file: reused as is if it exists, else created, loaded, kept")
    parser.add_argument("--cache-dir", type=Path, default=REPO / "var" / "rag", help="the chatbot's CACHE_DIR")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--logs", type=Path, default=REPO / "bench" / "out" / "chat-logs")
    args = parser.parse_args()

    wall0 = time.monotonic()
    token = "bench-chat-" + secrets.token_hex(16)
    args.logs.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="cn-chat-"))
    if args.db:
        db = args.db.resolve()
        db.parent.mkdir(parents=True, exist_ok=True)
        load = not db.exists()
    else:
        db, load = tmp / "db.sqlite", True
    pools = load_questions()
    plan = chat_plan(pools, args.chat, args.seed)
    warm_rng = random.Random(args.seed + 1)
    warm_plan = [(k, warm_rng.choice(pools[k])) for k in (KINDS * args.warmup)[: args.warmup]]
    out: dict[str, Any] = {
        "config": {"chat": args.chat, "recs": args.recs, "warmup": args.warmup, "seed": args.seed,
                   "db": str(db), "db_reused": not load, "cache_dir": str(args.cache_dir),
                   "omp_num_threads": os.environ["OMP_NUM_THREADS"], "pools": {k: len(v) for k, v in pools.items()}},
        "samples": {"chat": [], "recommendations": [], "anchor_totals": [], "anchor_gold": []},
    }
    dc_proc: Service | None = None
    rag_proc: Service | None = None
    status = 1
    try:
        t = time.monotonic()
        dc_proc = DataCore(f"sqlite:///{db}", args.logs / "data-core.log", token)
        dc_url = dc_proc.url
        dc_proc.wait_healthy(timeout=120, interval=0.5)
        print(f"data core up on {dc_url} in {time.monotonic() - t:.1f} s ({'new' if load else 'reused'} {db})")
        out["data_core"] = prepare_data_core(dc_url, token, load)

        t = time.monotonic()
        rag_port = free_port()
        rag_proc = Service("chatbot", "services.rag.app", args.logs / "rag.log", {
            "DATA_CORE_URL": dc_url, "API_TOKEN": token, "PORT": str(rag_port), "HOST": "127.0.0.1",
            "LOG_JSON": "false", "CACHE_DIR": str(args.cache_dir)}, port=rag_port)
        rag_url = rag_proc.url
        health = rag_proc.wait_healthy(rag_url + "/api/health", timeout=180, interval=0.5).json()
        out["rag_start_s"] = round(time.monotonic() - t, 1)
        out["health"] = health
        print(f"chatbot up on {rag_url} in {out['rag_start_s']:.1f} s; /api/health: {json.dumps(health['checks'])}")

        rec_bodies: list[tuple[str, dict[str, Any]]] = [
            ("site", {"site": s, "activity_type": a}) for s in REC_SITES for a in REC_ACTIVITIES]
        rec_bodies += [("hotspot", {"hotspot_id": h}) for h in out["data_core"]["hotspot_ids"]]
        data_asked = [item for kind, item in plan if kind == "data"]
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=rag_url, headers=auth, timeout=120, trust_env=False) as rag, \
                httpx.Client(base_url=dc_url, headers=auth, timeout=120, trust_env=False) as dc:
            warm = run_chat(rag, warm_plan) + run_recs(rag, rec_bodies, args.warmup)
            out["warmup"] = [{k: v for k, v in s.items() if k in ("kind", "status", "ms", "error")} for s in warm]
            print(f"warm-up: {len(warm)} requests, statuses {sorted({s['status'] for s in warm})}")
            t = time.monotonic()
            out["samples"]["chat"] = run_chat(rag, plan)
            print(f"chat: {len(plan)} requests in {time.monotonic() - t:.1f} s")
            t = time.monotonic()
            out["samples"]["recommendations"] = run_recs(rag, rec_bodies, args.recs)
            print(f"recommendations: {args.recs} requests in {time.monotonic() - t:.1f} s")
            run_anchor_totals(dc, [i for _, i in warm_plan if "query" in i][: args.warmup] or data_asked[: args.warmup])
            out["samples"]["anchor_totals"] = run_anchor_totals(dc, data_asked)
            run_anchor_gold(dc, data_asked[: args.warmup])
            out["samples"]["anchor_gold"] = run_anchor_gold(dc, data_asked)
            print(f"anchor: {len(data_asked)} data-core totals queries and their gold query sets")
        out["summary"] = report(out)
        status = 0 if not any(s["status"] != 200 for v in out["samples"].values() for s in v) else 1
    finally:  # the chatbot first (it reads the data core)
        out["exit_codes"] = {"rag": rag_proc.stop(20) if rag_proc else None,
                             "data_core": dc_proc.stop(20) if dc_proc else None}
        shutil.rmtree(tmp, ignore_errors=True)
        out["wall_s"] = round(time.monotonic() - wall0, 1)
        print(f"processes stopped (exit codes {out['exit_codes']}; -15 = ended by the SIGTERM after a graceful "
              f"shutdown); wall time {out['wall_s']:.0f} s; logs: {args.logs}")
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(out, indent=2, default=str))
            print(f"json: {args.json}")
    return status


if __name__ == "__main__":
    sys.exit(main())

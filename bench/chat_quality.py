"""Answer quality of the chatbot (issue #19): every question of an evaluation set asked through ``POST /api/chat``
of a real chatbot over a real data core holding the demo, each answer judged against a gold computed without
the chatbot (tests/eval/score.py): consumption from the raw meter files (tests/eval/freeform/gold_raw.py),
emissions from the ledger's audited rows and factors from ``/factors/resolve`` (tests/eval/gold_ledger.py).

    .venv/bin/python bench/chat_quality.py --split test                      # the third held-out set (f13..f18...)
    .venv/bin/python bench/chat_quality.py --split v2-test                   # the second test split (spent: tune now)
    .venv/bin/python bench/chat_quality.py --split v1-test                   # the first test split (spent: tune now)
    .venv/bin/python bench/chat_quality.py --split r3 --db bench/out/chat-quality.sqlite  # round 3: tune and its dev split
    .venv/bin/python bench/chat_quality.py --split test --gold-only --db bench/out/chat-quality.sqlite  # golds only
    .venv/bin/python bench/chat_quality.py --set freeform --split tune --db bench/out/chat-quality.sqlite
    .venv/bin/python bench/chat_quality.py --split test --llm-base-url http://127.0.0.1:11434/v1 --llm-model llama3.1
    .venv/bin/python bench/chat_quality.py --rescore bench/out/chat_quality.json   # judge a saved run again

Set-up (not measured): the data core (``python -m services.data_core.app``, SQLite) with the demo loaded through
its API (about 50 s; ``--db PATH`` keeps the database and reuses it next time, with the audited rows cached
next to it as Parquet), then the chatbot (``python -m services.rag.app``) pointed at it; with ``--llm-base-url``
(or ``LLM_BASE_URL``) the chatbot answers through that OpenAI-compatible endpoint (``--llm-model``), otherwise
through its grounded composer. Each question is asked once, in a new session.

Splits (tests/eval/freeform/README.md, tests/eval/templates/README.md): since 2026-12-07 night, **test** is the
third held-out set written blind (free-form batches f13..f18 of ``freeform/holdout3.yaml``, the families of
``templates/questions_holdout3.yaml``) and **tune** is every earlier question (f1..f12, ``templates/questions.yaml``
and ``templates/questions_holdout.yaml``, whatever their earlier split). The earlier splits keep a name:
``v2-tune`` / ``v2-test`` select the questions by the second split (v2-test = f7..f12 and the first held-out
families, the test figures reported before the third set; v2-tune = f1..f6 and ``questions.yaml``), ``v1-tune`` /
``v1-test`` the questions of f1..f6 and ``questions.yaml`` by their first split. ``--gold-only`` starts the data
core alone and checks that every question has a gold (none missing, none zero) without asking the chatbot: the
question writer's check.

Printed per split (tune, test) and set: correct %, wrong %, out-of-scope declined % (of the questions that
want a decline), in-scope declined % (declines and clarifying questions on the other questions), then per
family and per kind of answer wanted. Anchor (same run): the time to compute a question's gold (pandas over the
raw files and the audited rows) against the chatbot's time per answer. ``--json`` writes every question with its
gold, the answer and the verdict (with the reason). Goals on TEST: correct >= 90 %, wrong <= 2 %, out-of-scope
declined >= 95 %, in-scope declined <= 3 %.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: bench.harness, services

from bench.harness import REPO, DataCore, Service, free_port, percentile, ratio, timer, use_offline_env  # noqa: E402

use_offline_env(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")  # before anything imports numpy

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import yaml  # noqa: E402

EVAL = REPO / "tests" / "eval"
GOALS = {"correct": (">=", 90.0), "wrong": ("<=", 2.0), "oos_declined": (">=", 95.0), "in_scope_declined": ("<=", 3.0)}
V1_FREEFORM_SPLIT = {"f1": "tune", "f3": "tune", "f5": "tune", "f2": "test", "f4": "test", "f6": "test"}
SPLITS = ("tune", "test", "v2-tune", "v2-test", "v1-tune", "v1-test", "r3-tune", "r3-dev")
# the sets of each free-form file and template file: (file, its current split, its split in v2); v1 is per question
FREEFORM_FILES = (("questions.yaml", "tune", "tune"), ("holdout.yaml", "tune", "test"), ("holdout3.yaml", "test", None))
TEMPLATE_FILES = (("questions.yaml", "tune", "tune"), ("questions_holdout.yaml", "tune", "test"),
                  ("questions_holdout3.yaml", "test", None))
R3_DEV = {"batches": {"f9"}, "families": {"rank-month-season", "emissions-category"}}
"""The third round's validation split, held back while tuning on the rest of every tune question (drawn with
``random.Random(193)``: one free-form batch of the second held-out set, two of its template families);
``--split r3`` reports both (the TEST split is never part of it)."""


# --------------------------------------------------------------------------- questions
def family_of(want: dict[str, Any]) -> str:
    answer = want.get("answer", "value")
    return answer if answer in ("explain", "decline", "clarify") else f"{answer}/{want.get('measure')}"


def _yaml(*parts: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load(EVAL.joinpath(*parts).read_text(encoding="utf-8")) or [])


def load_set(name: str) -> list[dict[str, Any]]:
    """The questions of a set: ``id``, ``set``, ``split`` (tune: every earlier question; test: the third held-out
    set), ``split_v2`` (the second split: f7..f12 and ``questions_holdout.yaml`` were its test), ``split_v1`` (the
    first split of f1..f6 and ``questions.yaml``), ``family``, ``q``, ``want``."""
    if name == "freeform":
        return [{"id": f"{q['b']}-{i:03d}", "set": "freeform", "split": split, "split_v2": v2,
                 "split_v1": V1_FREEFORM_SPLIT.get(q["b"], "tune") if file == "questions.yaml" else None,
                 "batch": q["b"], "family": family_of(q["want"]), "q": q["q"], "want": q["want"]}
                for file, split, v2 in FREEFORM_FILES for i, q in enumerate(_yaml("freeform", file))]
    if name == "templates":
        return [{"id": q["id"], "set": "templates", "split": split, "split_v2": v2,
                 "split_v1": q.get("split", "tune") if file == "questions.yaml" else None, "family": q["family"],
                 "q": q["q"], "want": q["want"]}
                for file, split, v2 in TEMPLATE_FILES for q in _yaml("templates", file)]
    raise ValueError(f"unknown set {name}")


def load_questions(sets: str, split: str) -> list[dict[str, Any]]:
    """The questions of ``sets`` in ``split``: tune, test, all, or an earlier split by name (v2-tune / v2-test,
    v1-tune / v1-test: the questions by that split, reported under that name)."""
    names = ["freeform", "templates"] if sets == "all" else [sets]
    items = [q for n in names for q in load_set(n)]
    if split == "r3":
        return [{**q, "split": "r3-dev" if q.get("batch") in R3_DEV["batches"] or (
            q["set"] == "templates" and q["family"] in R3_DEV["families"]) else "r3-tune"}
                for q in items if q["split"] == "tune"]
    earlier = re.fullmatch(r"(v\d)-(tune|test)", split)
    if earlier:
        return [{**q, "split": split} for q in items if q.get(f"split_{earlier[1]}") == earlier[2]]
    return [q for q in items if split == "all" or q["split"] == split]


# --------------------------------------------------------------------------- gold and judging
def add_gold(items: list[dict[str, Any]], dc: httpx.Client | None, cache: Path | None) -> float:
    """Each item's ``gold`` (JSON-ready); returns the seconds the audited rows took to read (the anchor)."""
    from tests.eval.gold_ledger import LedgerGold, gold_of

    needs_ledger = any(q["want"].get("measure") in ("emissions", "factor") or q["want"].get("of") == "emissions"
                       for q in items)
    with timer() as t:
        ledger = LedgerGold(dc, cache) if needs_ledger and dc is not None else None
    for q in items:
        with timer() as g:
            try:
                q["gold"] = jsonable(gold_of(q["want"], ledger))
            except (LookupError, ValueError, httpx.HTTPError) as exc:  # reported and left out, never a guess
                q.update(gold=None, gold_error=repr(exc))
        q["gold_ms"] = round(g.ms, 1)
    return t.s


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):
        return jsonable(value.item())
    return value


def judge_all(items: list[dict[str, Any]]) -> None:
    from tests.eval.score import judge

    for q in items:
        if q.get("gold_error"):
            q.update(verdict="no-gold", reason=q["gold_error"], kind_read=None)
            continue
        if q.get("answer") is None:
            q.update(verdict="wrong", reason=f"no answer (HTTP {q.get('status')})", kind_read=None)
            continue
        gold = q.get("gold")
        if isinstance(gold, list) and gold and isinstance(gold[0], list):
            gold = [tuple(g) for g in gold]
        v = judge(q["q"], q["want"], gold, q["answer"])
        q.update(verdict=v.verdict, reason=v.reason, kind_read=v.kind)


def gold_problems(items: list[dict[str, Any]]) -> list[str]:
    """The questions whose gold is missing, or zero / not finite where a figure is wanted (printed)."""
    bad = []
    for q in items:
        if q.get("gold_error"):
            bad.append(f"{q['id']}: no gold ({q['gold_error']})")
        elif q["want"].get("answer", "value") not in ("explain", "decline", "clarify"):
            numbers = _numbers(q["gold"])
            if not numbers or any(x is None for x in numbers) or not any(x for x in numbers):
                bad.append(f"{q['id']}: gold {q['gold']!r}")
    print(f"{len(items)} golds checked: {len(bad)} missing or zero" + "".join(f"\n  {b}" for b in bad))
    return bad


def _numbers(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for k, v in value.items() if k not in ("source", "edition", "factor_id", "names", "unit")
                for x in _numbers(v)]
    if isinstance(value, list):
        return [x for v in value for x in _numbers(v)]
    return [] if isinstance(value, str) else [value]


# --------------------------------------------------------------------------- asking
def ask_all(rag: httpx.Client, items: list[dict[str, Any]]) -> None:
    for i, q in enumerate(items):
        with timer() as t:
            try:
                r = rag.post("/api/chat", json={"message": q["q"]})
                status, body = r.status_code, (r.json() if r.status_code == 200 else None)
                error = None if r.status_code == 200 else r.text[:500]
            except httpx.HTTPError as exc:
                status, body, error = None, None, repr(exc)
        q.update(status=status, ms=round(t.ms, 1), error=error, answer=None if body is None else {
            k: body.get(k) for k in ("answer", "citations", "facts", "declined", "intent", "mode", "kind", "restated")})
        if (i + 1) % 50 == 0:
            print(f"  {i + 1}/{len(items)} asked", flush=True)


# --------------------------------------------------------------------------- report
def share(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def rates(items: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(items)
    counts = {v: sum(1 for q in items if q.get("verdict") == v) for v in ("correct", "wrong", "declined", "clarified")}
    oos = [q for q in items if q["want"].get("answer") == "decline"]
    in_scope = [q for q in items if q["want"].get("answer") != "decline"]
    return {"n": n, **counts, "correct": share(counts["correct"], n), "wrong": share(counts["wrong"], n),
            "n_correct": counts["correct"], "n_wrong": counts["wrong"],
            "oos_declined": share(sum(1 for q in oos if q.get("verdict") == "correct"), len(oos)), "n_oos": len(oos),
            "in_scope_declined": share(sum(1 for q in in_scope if q.get("verdict") in ("declined", "clarified")),
                                     len(in_scope)), "n_in_scope": len(in_scope)}


def _fmt(x: Any) -> str:
    return "-" if x is None else f"{x:.1f}"


def report(items: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    head = f"{'':28} {'n':>4} {'correct%':>9} {'wrong%':>7} {'oos decl%':>10} {'in-scope decl%':>15}"
    no_gold = [q for q in items if q.get("verdict") == "no-gold"]
    if no_gold:
        summary["no_gold"] = [q["id"] for q in no_gold]
        print(f"\n{len(no_gold)} questions have no gold and are left out of the rates (the run fails): "
              + "; ".join(f"{q['id']}: {q['reason']}" for q in no_gold[:5]))
    for split in SPLITS:
        part = [q for q in items if q["split"] == split and q.get("verdict") != "no-gold"]
        if not part:
            continue
        print(f"\n=== split {split.upper()} ===\n{head}")
        groups: dict[str, list[dict[str, Any]]] = {"all": part}
        for s in sorted({q["set"] for q in part}):
            groups[f"set {s}"] = [q for q in part if q["set"] == s]
        table = {}
        for label, group in groups.items():
            r = table[label] = rates(group)
            print(f"{label:28} {r['n']:>4} {_fmt(r['correct']):>9} {_fmt(r['wrong']):>7} {_fmt(r['oos_declined']):>10} "
                  f"{_fmt(r['in_scope_declined']):>15}")
        by_family: dict[str, dict[str, Any]] = {}
        fams: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for q in part:
            fams[f"{q['set'][:4]}:{q['family']}"].append(q)
        print(f"{'per family':28} {'n':>4} {'correct':>8} {'wrong':>6} {'declined':>9} {'clarified':>10}")
        for fam in sorted(fams):
            r = by_family[fam] = rates(fams[fam])
            print(f"  {fam:26} {r['n']:>4} {r['n_correct']:>8} {r['n_wrong']:>6} {r['declined']:>9} {r['clarified']:>10}")
        kinds: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for q in part:
            kinds[q["want"].get("answer", "value")].append(q)
        by_kind = {k: rates(v) for k, v in sorted(kinds.items())}
        print("per kind wanted: " + ", ".join(f"{k} {r['n_correct']}/{r['n']}" for k, r in by_kind.items()))
        why = Counter(re.split(r"[:(\d\[]", q.get("reason") or "?")[0].strip() for q in part if q["verdict"] == "wrong")
        print("why wrong: " + ", ".join(f"{k} {n}" for k, n in why.most_common()))
        goals = {}
        for key, (op, goal) in GOALS.items():
            value = table["all"][key]
            goals[key] = value is not None and (value >= goal if op == ">=" else value <= goal)
        print("goals (" + split + "): " + ", ".join(
            f"{k} {_fmt(table['all'][k])} {op} {g:.0f}: {'met' if goals[k] else 'missed'}"
            for k, (op, g) in GOALS.items()))
        summary[split] = {"table": table, "by_family": by_family, "by_kind": by_kind, "goals_met": goals,
                          "why_wrong": dict(why)}
    return summary


# --------------------------------------------------------------------------- set-up
def start_stack(args: argparse.Namespace, token: str, tmp: Path) -> tuple[DataCore, Service | None, dict[str, Any]]:
    from services.data_core.demo import load_demo

    info: dict[str, Any] = {}
    db = args.db.resolve() if args.db else tmp / "db.sqlite"
    db.parent.mkdir(parents=True, exist_ok=True)
    load = not db.exists()
    dc = DataCore(f"sqlite:///{db}", args.logs / "data-core.log", token)
    try:
        dc.wait_healthy(timeout=120, interval=0.5)
        if load:
            with timer() as t:
                load_demo(dc.url, token)
            info["demo_load_s"] = round(t.s, 1)
        print(f"data core up on {dc.url} ({'loaded the demo into' if load else 'reused'} {db})", flush=True)
        info["db"] = str(db)
        if args.gold_only:
            return dc, None, info
        env = {"DATA_CORE_URL": dc.url, "API_TOKEN": token, "HOST": "127.0.0.1", "LOG_JSON": "false",
               "CACHE_DIR": str(args.cache_dir)}
        if args.llm_base_url:
            env.update(LLM_BASE_URL=args.llm_base_url, LLM_MODEL=args.llm_model,
                       LLM_TIMEOUT_SECONDS=str(args.llm_timeout))
        port = free_port()
        rag = Service("chatbot", "services.rag.app", args.logs / "rag.log", {**env, "PORT": str(port)}, port=port,
                      unset=() if args.llm_base_url else ("LLM_BASE_URL",))
    except BaseException:
        dc.stop(20)
        raise
    try:
        with timer() as t:
            info["health"] = rag.wait_healthy(rag.url + "/api/health", timeout=args.start_timeout, interval=0.5).json()
        info["rag_start_s"] = round(t.s, 1)
        print(f"chatbot up on {rag.url} in {t.s:.1f} s ({'llm ' + args.llm_model if args.llm_base_url else 'composer'})")
    except BaseException:
        rag.stop(20)
        dc.stop(20)
        raise
    info["db"] = str(db)
    return dc, rag, info


# --------------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", dest="sets", choices=["freeform", "templates", "all"], default="all")
    parser.add_argument("--split", choices=["tune", "test", "all", *SPLITS[2:6], "r3"], default="test")
    parser.add_argument("--db", type=Path, help="SQLite file: reused as is if it exists, else created, loaded, kept")
    parser.add_argument("--cache-dir", type=Path, default=REPO / "var" / "rag", help="the chatbot's CACHE_DIR")
    parser.add_argument("--llm-base-url", default=os.environ.get("LLM_BASE_URL") or None,
                        help="an OpenAI-compatible endpoint (e.g. Ollama's http://127.0.0.1:11434/v1)")
    parser.add_argument("--llm-model", default=os.environ.get("LLM_MODEL", "llama3.1"))
    parser.add_argument("--llm-timeout", type=float, default=120.0)
    parser.add_argument("--limit", type=int, help="ask only the first N questions (a smoke run)")
    parser.add_argument("--start-timeout", type=float, default=240.0,
                        help="seconds the chatbot may take to start (its first start builds its caches)")
    parser.add_argument("--gold-only", action="store_true", help="compute and check the golds; ask nothing")
    parser.add_argument("--rescore", type=Path, help="judge the answers of a saved --json again (no processes)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--logs", type=Path, default=REPO / "bench" / "out" / "chat-quality-logs")
    args = parser.parse_args()

    if args.rescore:
        out = json.loads(args.rescore.read_text())
        judge_all(out["questions"])
        out["summary"] = report(out["questions"])
        _write(args.json or args.rescore, out)
        return 0

    wall = time.monotonic()
    items = load_questions(args.sets, args.split)[: args.limit]
    print(f"{len(items)} questions ({args.sets}, split {args.split})", flush=True)
    token = "bench-quality-" + secrets.token_hex(16)
    args.logs.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="cn-quality-"))
    out: dict[str, Any] = {"config": {"set": args.sets, "split": args.split, "mode": "llm" if args.llm_base_url else
                                      "composer", "llm_model": args.llm_model if args.llm_base_url else None}}
    dc = rag = None
    try:
        dc, rag, out["stack"] = start_stack(args, token, tmp)
        auth = {"Authorization": f"Bearer {token}"}
        cache = Path(out["stack"]["db"]).with_suffix(".ledger")
        with httpx.Client(base_url=dc.url, headers=auth, timeout=300, trust_env=False) as dcc:
            gold_s = add_gold(items, dcc, cache if args.db else None)
        print(f"gold computed ({gold_s:.1f} s reading the audited rows)", flush=True)
        if rag is None:  # --gold-only
            out["questions"] = items
            bad = gold_problems(items)
            if args.json:
                _write(args.json, out)
            return 1 if bad else 0
        with httpx.Client(base_url=rag.url, headers=auth, timeout=args.llm_timeout + 60, trust_env=False) as client, \
                timer() as t:
            ask_all(client, items)
        ms = [q["ms"] for q in items if q.get("status") == 200]
        gold_ms = [q["gold_ms"] for q in items if q["gold"] is not None]
        out["timing"] = {"ask_s": round(t.s, 1), "gold_read_s": round(gold_s, 1),
                         "chat_p50_ms": round(percentile(ms, 50), 1) if ms else None,
                         "gold_p50_ms": round(percentile(gold_ms, 50), 1) if gold_ms else None,
                         "errors": sum(1 for q in items if q.get("status") != 200)}
    finally:
        out["exit_codes"] = {"rag": rag.stop(20) if rag else None, "data_core": dc.stop(20) if dc else None}
        shutil.rmtree(tmp, ignore_errors=True)
    judge_all(items)
    out["questions"] = items
    out["summary"] = report(items)
    tm = out["timing"]
    print(f"\n{len(items)} questions asked in {tm['ask_s']:.0f} s ({tm['errors']} errors); chat p50 "
          f"{tm['chat_p50_ms']} ms per answer; anchor (same run): the gold of a question from the raw files and the "
          f"audited rows (read in {tm['gold_read_s']:.0f} s) p50 {tm['gold_p50_ms']} ms -> ratio "
          f"{_ratio(tm['chat_p50_ms'], tm['gold_p50_ms'])}; "
          f"wall {time.monotonic() - wall:.0f} s")
    if args.json:
        _write(args.json, out)
    return 1 if out["summary"].get("no_gold") or out["timing"]["errors"] else 0


def _ratio(value: float | None, anchor: float | None) -> str:
    return f"{ratio(value, anchor):.2f}x" if value and anchor else "- (no answer)"


def _write(path: Path, out: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2, default=str))
    print(f"json: {path}")


if __name__ == "__main__":
    sys.exit(main())

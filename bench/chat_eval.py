"""Retrieval quality of the knowledge base on the evaluation set (tests/eval/kb_questions): recall@5 and
MRR@10 of the gold documents, BM25 alone next to hybrid (BM25 + dense all-MiniLM-L6-v2, reciprocal rank
fusion), with the time per query of each, in one run.

    .venv/bin/python bench/chat_eval.py [--json bench/out/chat_eval.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: bench.harness, services

from bench.harness import timer, use_offline_env  # noqa: E402

use_offline_env(OMP_NUM_THREADS="1")  # before the knowledge base loads its models

from services.rag.evaluation import load_kb_questions, retrieval_metrics  # noqa: E402
from services.rag.kb import KnowledgeBase  # noqa: E402
from services.rag.settings import REPO_ROOT  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with timer() as loading:
        kb = KnowledgeBase(REPO_ROOT / "docs" / "kb", cache_dir=REPO_ROOT / "var" / "rag")
    load_s = loading.s
    questions = load_kb_questions()
    rows = []
    for mode in ("bm25", None):
        m = retrieval_metrics(kb, questions, mode=mode)
        # latency of one search as the chatbot runs it (the query embedded on its own, not in a batch)
        with timer() as t:
            for item in questions:
                kb.search(item["q"], top_k=10, mode=mode)
        m["ms_per_query"] = t.ms / len(questions)
        rows.append(m)
    print(f"knowledge base: {len(kb.docs)} documents, {len(kb.chunks)} sections, loaded in {load_s:.1f} s; "
          f"{len(questions)} questions\n")
    print(f"{'retrieval':10} {'recall@5':>9} {'MRR@10':>8} {'ms/query':>9} {'misses@5':>9}")
    for m in rows:
        print(f"{m['mode']:10} {m['recall@5']:9.3f} {m['mrr@10']:8.3f} {m['ms_per_query']:9.1f} {len(m['misses']):9d}")
    bm25, hybrid = rows
    print(f"\nhybrid vs BM25: recall@5 {hybrid['recall@5'] - bm25['recall@5']:+.3f}, "
          f"MRR@10 {hybrid['mrr@10'] - bm25['mrr@10']:+.3f}; goal recall@5 >= 0.85 and MRR@10 >= 0.70: "
          f"{'met' if hybrid['recall@5'] >= 0.85 and hybrid['mrr@10'] >= 0.70 else 'MISSED'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()

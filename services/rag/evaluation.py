"""Retrieval evaluation of the knowledge base: recall@k and MRR@k of gold documents, BM25 alone against
hybrid (BM25 + dense, reciprocal rank fusion). Used by the tests (thresholds) and ``bench/chat_eval.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from services.rag.kb import KnowledgeBase

EVAL_DIR = Path(__file__).resolve().parents[2] / "tests" / "eval"


def load_kb_questions(folder: Path = EVAL_DIR / "kb_questions") -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.yaml")):
        for item in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            out.append({"q": str(item["q"]), "gold": [str(g) for g in item["gold"]], "file": path.name})
    return out


def retrieval_metrics(kb: KnowledgeBase, questions: list[dict[str, Any]], mode: str | None = None,
                      k_recall: int = 5, k_mrr: int = 10) -> dict[str, Any]:
    """recall@k: share of questions with a gold document in the top k; MRR@k: mean of 1/rank of the first
    gold document (0 beyond k)."""
    hits, rr, misses = 0, 0.0, []
    vectors = kb.embed_many([item["q"] for item in questions]) if mode != "bm25" else None
    for i, item in enumerate(questions):
        ranked = [h.doc.id for h in kb.search(item["q"], top_k=max(k_recall, k_mrr), mode=mode,
                                              embedding=vectors[i] if vectors else None)]
        gold = set(item["gold"])
        first = next((i for i, d in enumerate(ranked[:k_mrr], start=1) if d in gold), None)
        if any(d in gold for d in ranked[:k_recall]):
            hits += 1
        else:
            misses.append({"q": item["q"], "gold": item["gold"], "got": ranked[:3]})
        rr += 1.0 / first if first else 0.0
    n = len(questions)
    return {"mode": mode or kb.mode, "questions": n, f"recall@{k_recall}": hits / n if n else 0.0,
            f"mrr@{k_mrr}": rr / n if n else 0.0, "misses": misses}

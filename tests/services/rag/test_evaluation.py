"""Retrieval evaluation: recall@k and MRR@k of the gold documents, and the evaluation set as loaded."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from services.rag.evaluation import load_kb_questions, retrieval_metrics

pytestmark = pytest.mark.unit


@dataclass
class Doc:
    id: str


@dataclass
class Hit:
    doc: Doc


class FakeKb:
    mode = "bm25"
    ranking = {"a": ["x", "gold-a"], "b": ["gold-b"], "c": ["x", "y", "z", "w", "v", "gold-c"], "d": ["x"]}

    def embed_many(self, queries: list[str]) -> None:
        return None

    def search(self, query: str, top_k: int, mode: str | None = None, embedding: object = None) -> list[Hit]:
        return [Hit(Doc(d)) for d in self.ranking[query][:top_k]]


def test_recall_and_mrr() -> None:
    questions = [{"q": q, "gold": [f"gold-{q}"]} for q in "abcd"]
    m = retrieval_metrics(FakeKb(), questions)  # type: ignore[arg-type]
    assert m["mode"] == "bm25" and m["questions"] == 4
    assert m["recall@5"] == 0.5  # a (rank 2) and b (rank 1); c is 6th
    assert m["mrr@10"] == pytest.approx((1 / 2 + 1 + 1 / 6) / 4)
    assert [x["q"] for x in m["misses"]] == ["c", "d"] and m["misses"][0]["got"] == ["x", "y", "z"]
    assert retrieval_metrics(FakeKb(), [])["recall@5"] == 0.0  # type: ignore[arg-type]


def test_questions_load_from_every_file(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("- {q: one, gold: [d1]}\n- {q: two, gold: [d2, d3]}\n")
    (tmp_path / "b.yaml").write_text("")
    assert load_kb_questions(tmp_path) == [{"q": "one", "gold": ["d1"], "file": "a.yaml"},
                                           {"q": "two", "gold": ["d2", "d3"], "file": "a.yaml"}]

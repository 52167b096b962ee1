"""Without the embedding model the chatbot runs on BM25 and says so; with the data core down it still answers
from the knowledge base and refuses to guess numbers."""

from __future__ import annotations

from typing import Any

import pytest

from services.rag.settings import REPO_ROOT
from tests.conftest import AUTH, free_port

pytestmark = pytest.mark.integration


def test_without_the_embedding_model_it_runs_on_bm25_and_says_so(rag_settings_factory: Any) -> None:
    from fastapi.testclient import TestClient

    from services.rag.app import create_app
    from services.rag.evaluation import load_kb_questions, retrieval_metrics

    settings = rag_settings_factory(embedding_model="none", data_core_url=f"http://127.0.0.1:{free_port()}")
    with TestClient(create_app(settings), headers=AUTH) as client:
        health = client.get("/api/health")
        detail = health.json()["checks"]["knowledge_base"]["detail"]
        assert detail["retrieval"] == "bm25" and "BM25 only" in detail["note"]
        assert not health.json()["checks"]["data_core"]["ok"]  # nothing listens there
        kb = client.app.state.chat.kb  # type: ignore[attr-defined]
        metrics = retrieval_metrics(kb, load_kb_questions())
        assert metrics["mode"] == "bm25" and metrics["recall@5"] >= 0.8
        # knowledge questions are answered; numbers are not guessed while the data core is down
        r = client.post("/api/chat", json={"message": "What is market-based scope 2?"}).json()
        assert not r["declined"] and r["citations"][0]["type"] == "kb"
        r = client.post("/api/chat", json={"message": "What were our scope 1 emissions in 2020?"}).json()
        assert r["declined"] and not r["facts"] and "data core" in r["answer"]


def test_a_broken_model_folder_falls_back_to_bm25(tmp_path: Any) -> None:
    from services.rag.kb import KnowledgeBase

    broken = tmp_path / "model"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    kb = KnowledgeBase(REPO_ROOT / "docs" / "kb", embedding_model=str(broken), cache_dir=None)
    assert kb.mode == "bm25" and kb.embedding_error
    assert kb.search("heat pump for an office")[0].doc.kind == "measure"

"""The chatbot's embeddings computed ahead of its first start (services/rag/warm.py: the image's rag-cache
stage runs it at build time): the files it writes are the ones the service loads, so a start on a warmed cache
embeds nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from services.rag import warm as warm_module
from services.rag.kb import KnowledgeBase
from services.rag.scope import ScopeClassifier
from services.rag.settings import REPO_ROOT


@pytest.fixture
def small_kb(tmp_path: Path) -> tuple[Path, Path]:
    kb_dir = tmp_path / "kb"  # two documents of the real knowledge base
    for doc in sorted((REPO_ROOT / "docs" / "kb").rglob("*.md"))[1:3]:
        target = kb_dir / doc.relative_to(REPO_ROOT / "docs" / "kb")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(doc, target)
    examples = tmp_path / "examples.yaml"
    examples.write_text("in:\n" + "".join(f"  - How much electricity did b{i} use in 2019?\n" for i in range(8))
                        + "out:\n" + "".join(f"  - Which hotel should I book in city {i}?\n" for i in range(8)),
                        encoding="utf-8")
    return kb_dir, examples


def test_a_start_on_a_warmed_cache_embeds_nothing(small_kb, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    kb_dir, examples = small_kb
    cache = tmp_path / "cache"
    files = warm_module.warm(kb_dir, cache, examples=examples)
    assert [f.name.split("-")[0] for f in files] == ["kb", "scope"]

    import sentence_transformers

    def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("embedded again although the cache was warm")

    monkeypatch.setattr(sentence_transformers.SentenceTransformer, "encode", refuse)
    kb = KnowledgeBase(kb_dir, cache_dir=cache)  # loads the vectors: encode is never called
    assert kb.mode == "hybrid"
    classifier = ScopeClassifier(kb, cache_dir=cache, path=examples)
    assert classifier.model is not None


def test_warm_refuses_without_an_embedding_model(small_kb, tmp_path) -> None:  # type: ignore[no-untyped-def]
    kb_dir, examples = small_kb
    with pytest.raises(SystemExit, match="no embedding model"):
        warm_module.warm(kb_dir, tmp_path / "cache", embedding_model="none", examples=examples)


def test_the_cli_writes_both_files(small_kb, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    kb_dir, examples = small_kb
    warm_module.main([str(tmp_path / "c"), "--kb-dir", str(kb_dir), "--examples", str(examples)])
    assert "2 embedding files" in capsys.readouterr().out

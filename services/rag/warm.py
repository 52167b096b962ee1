"""Compute the chatbot's embeddings ahead of its first start: ``python -m services.rag.warm [CACHE_DIR]``.

The knowledge base's sections and the scope classifier's examples are embedded once and written to the
cache folder (``var/rag``: plain ``.npy`` files keyed by the model and the texts, what the service looks for
at start-up). The container image runs this at build time in a layer of its own (``docker/python.Dockerfile``,
stage ``rag-cache``), so a new ``rag-cache`` volume starts filled and the chatbot's first start loads the
vectors instead of embedding them (minutes on a small machine). Nothing else is imported: the layer changes
only with the knowledge base, the examples or this code.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from services.common.paths import repo_root
from services.rag.kb import KnowledgeBase
from services.rag.scope import EXAMPLES, ScopeClassifier


def warm(kb_dir: Path, cache_dir: Path, embedding_model: str = "auto", examples: Path = EXAMPLES) -> list[Path]:
    """Embed the knowledge base and the scope examples into ``cache_dir``; the cache files, sorted."""
    kb = KnowledgeBase(kb_dir, embedding_model=embedding_model, cache_dir=cache_dir)
    if kb.model is None:
        raise SystemExit(f"no embedding model ({kb.embedding_error or 'EMBEDDING_MODEL=none or not installed'}): "
                         "nothing to warm")
    ScopeClassifier(kb, cache_dir=cache_dir, path=examples)
    return sorted(cache_dir.glob("*.npy"))


def main(argv: list[str] | None = None) -> None:
    root = repo_root()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache_dir", nargs="?", type=Path, default=root / "var" / "rag")
    parser.add_argument("--kb-dir", type=Path, default=root / "docs" / "kb")
    parser.add_argument("--examples", type=Path, default=EXAMPLES, help="the scope classifier's labelled examples")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    files = warm(args.kb_dir, args.cache_dir, examples=args.examples)
    print(f"{len(files)} embedding files in {args.cache_dir} ({time.perf_counter() - started:.0f} s): "
          + ", ".join(p.name for p in files))


if __name__ == "__main__":
    main()

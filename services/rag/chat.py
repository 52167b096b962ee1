"""Chat sessions over a haystack ``Agent``: the grounded composer by default, or an OpenAI-compatible model
(``LLM_BASE_URL``) with the same tools. A session keeps its conversation (bounded, least recently used
dropped, expired after ``SESSION_TTL_SECONDS``) so that follow-up questions keep their context."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from haystack.components.agents import Agent
from haystack.dataclasses import ChatMessage, StreamingChunk

from services.rag.composer import GroundedComposer, citations_from_results, collect_tool_results
from services.rag.datacore import DataCoreClient
from services.rag.kb import KnowledgeBase
from services.rag.settings import RagSettings
from services.rag.tools import build_tools

log = logging.getLogger(__name__)
KEEP_MESSAGES = 24  # user/assistant turns kept per session (tool traffic is not kept)

LLM_SYSTEM_PROMPT = """You are the Carbon Nexus assistant for an organisation's sustainability team.
Answer ONLY from tool results. Every number must come from a data-core tool (emissions_totals,
top_contributors, site_alerts, recommend_actions, site_info, list_sites) and be cited as [Qn], where n counts
your data-tool calls in this answer in the order you made them (the first is [Q1]); every claim about measures
or methodology must come from
search_knowledge_base and be cited with the document id in brackets, e.g. [heating-boiler-controls].
Dates: the ledger holds the organisation's data; use ISO dates for start and end (end exclusive).
If a site is unknown or the question is outside carbon accounting and reduction, say "I don't know" and
what you can answer instead. Never invent numbers, sites or sources."""


@dataclass
class Session:
    messages: list[ChatMessage] = field(default_factory=list)
    touched: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Sessions:
    def __init__(self, max_sessions: int, ttl_seconds: int) -> None:
        self.max = max_sessions
        self.ttl = ttl_seconds
        self._items: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session_id: str) -> Session:
        now = time.monotonic()
        with self._lock:
            while self._items:
                oldest_id, oldest = next(iter(self._items.items()))
                if now - oldest.touched <= self.ttl and len(self._items) < self.max:
                    break
                self._items.pop(oldest_id)
            session = self._items.pop(session_id, None) or Session()
            session.touched = now
            self._items[session_id] = session
            return session

    def __len__(self) -> int:
        return len(self._items)


class ChatService:
    def __init__(self, settings: RagSettings, dc: DataCoreClient, kb: KnowledgeBase) -> None:
        self.settings = settings
        self.dc = dc
        self.kb = kb
        self.tools = build_tools(dc, kb)
        self.composer = GroundedComposer(dc, kb)
        self.mode = "llm" if settings.llm_base_url else "composer"
        self.agent = self._agent()
        self.sessions = Sessions(settings.max_sessions, settings.session_ttl_seconds)

    def _agent(self) -> Agent:
        if self.mode == "llm":
            from haystack.components.generators.chat import OpenAIChatGenerator
            from haystack.utils import Secret

            generator = OpenAIChatGenerator(
                api_key=Secret.from_token(self.settings.llm_api_key.get_secret_value()),
                model=self.settings.llm_model, api_base_url=self.settings.llm_base_url,
                timeout=self.settings.llm_timeout_seconds, max_retries=1)
            return Agent(chat_generator=generator, tools=self.tools, system_prompt=LLM_SYSTEM_PROMPT,
                         max_agent_steps=6)
        return Agent(chat_generator=self.composer, tools=self.tools, max_agent_steps=4)

    def ask(self, session_id: str, message: str, on_text: Callable[[str], None] | None = None) -> dict[str, Any]:
        session = self.sessions.get(session_id)
        started = time.perf_counter()
        with session.lock:  # one question at a time per session: follow-ups see the previous answer
            history = list(session.messages)
            user = ChatMessage.from_user(message)
            callback = (lambda chunk: on_text(chunk.content) if chunk.content else None) if on_text else None
            result = self.agent.run(messages=[*history, user], streaming_callback=_only_text(callback))
            messages: list[ChatMessage] = result["messages"]
            reply = next((m for m in reversed(messages) if m.is_from("assistant") and m.text), None)
            text = reply.text if reply is not None and reply.text else "I don't know."
            meta = dict(reply.meta) if reply is not None else {}
            tool_results = collect_tool_results(messages)
            # the composer numbers what it wrote (a declined answer cites nothing); a model's calls are numbered
            citations = (meta.get("citations") or []) if self.mode == "composer" else citations_from_results(tool_results)
            kept = ChatMessage.from_assistant(text, meta={k: meta[k] for k in ("slots",) if k in meta})
            session.messages = [*history, user, kept][-KEEP_MESSAGES:]
        slots = meta.get("slots") or {}
        return {
            "session_id": session_id,
            "answer": text,
            "citations": citations,
            "facts": meta.get("facts", []),
            "declined": bool(meta.get("declined", False)),
            "intent": slots.get("intent"),
            "tools_called": [{"name": n, "arguments": a, "error": e} for n, a, _v, e in tool_results],
            "mode": self.mode,
            "retrieval": self.kb.mode,
            "elapsed_ms": round((time.perf_counter() - started) * 1000, 1),
        }


def _only_text(callback: Callable[[StreamingChunk], Any] | None) -> Callable[[StreamingChunk], Any] | None:
    """The Agent also streams tool calls and tool results; the user sees only the answer's text."""
    if callback is None:
        return None

    def forward(chunk: StreamingChunk) -> None:
        if chunk.tool_calls or chunk.tool_call_result is not None:
            return
        callback(chunk)

    return forward

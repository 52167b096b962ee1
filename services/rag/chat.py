"""Chat sessions over a haystack ``Agent``: the grounded composer by default, or an OpenAI-compatible model
(``LLM_BASE_URL``) with the same tools. A session keeps its conversation so that follow-up questions keep
their context.

Sessions are bounded (issue #15): their ids are issued by the server (random, 144 bits); at most
``MAX_SESSIONS`` are kept (least recently used dropped) and each expires ``SESSION_TTL_SECONDS`` after its
last question; a session keeps its last ``SESSION_MAX_TURNS`` questions and answers; and a session answers
one question at a time: a second one sent while the first is being answered is refused at once (409)
instead of waiting."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from haystack.components.agents import Agent
from haystack.dataclasses import ChatMessage, StreamingChunk

from services.common.errors import Conflict, DomainError, ServiceUnavailable
from services.rag.citations import citations_from_results, collect_tool_results
from services.rag.composer import GroundedComposer
from services.rag.datacore import DataCoreClient
from services.rag.kb import KnowledgeBase
from services.rag.llm_meta import llm_meta
from services.rag.scope import CAPABILITIES, classifier_for
from services.rag.settings import RagSettings
from services.rag.tools import build_tools

log = logging.getLogger(__name__)

LLM_SYSTEM_PROMPT = """You are the Carbon Nexus assistant for an organisation's sustainability team.
Answer ONLY from tool results. Every number must come from a data-core tool (emissions_totals,
emissions_timeseries, top_contributors, consumption, resolve_factor, site_alerts, recommend_actions, site_info,
list_sites) and be cited as [Qn], where n counts
your data-tool calls in this answer in the order you made them (the first is [Q1]); every claim about measures
or methodology must come from
search_knowledge_base and be cited with the document id in brackets, e.g. [heating-boiler-controls].
Dates: the ledger holds the organisation's data; use ISO dates for start and end (end exclusive).
Consumption (kWh, MWh) and demand (kW) come from the consumption tool (the meter readings), emissions
(t CO2e) from emissions_totals, a factor and its source from resolve_factor: answer the measure asked, never
another one. Start the answer with the question as you answered it (e.g. "Electricity use of b33, March
2019: ..."), give every number with its unit, and ask one clarifying question when the period, the site or
the measure is missing or ambiguous.
If a site is unknown or the question is outside carbon accounting and reduction, say "I don't know" and
what you can answer instead. Never invent numbers, sites or sources."""


@dataclass
class Session:
    id: str
    messages: list[ChatMessage] = field(default_factory=list)  # user/assistant turns (tool traffic is not kept)
    touched: float = field(default_factory=time.monotonic)
    busy: bool = False
    new: bool = False  # created for this question (the client sent no id, or one the server does not know)


class Sessions:
    """Server-issued sessions, least recently used first; an unknown or expired id gets a new session."""

    def __init__(self, max_sessions: int, ttl_seconds: int, max_turns: int = 12) -> None:
        self.max = max_sessions
        self.ttl = ttl_seconds
        self.keep_messages = 2 * max_turns
        self._items: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def _evict(self, now: float, room: int) -> None:
        while self._items:
            oldest = next(iter(self._items.values()))
            if now - oldest.touched <= self.ttl and len(self._items) + room <= self.max:
                break
            self._items.pop(oldest.id)

    def create(self) -> Session:
        now = time.monotonic()
        with self._lock:
            self._evict(now, room=1)
            session = Session(id=secrets.token_urlsafe(18), touched=now, new=True)
            self._items[session.id] = session
            return session

    def begin(self, session_id: str | None) -> Session:
        """The session to answer in, marked busy; a new one for no id or an unknown/expired one. Conflict
        if the session is answering another question."""
        now = time.monotonic()
        with self._lock:
            self._evict(now, room=0)
            session = self._items.get(session_id) if session_id else None
            if session is None:
                self._evict(now, room=1)
                session = Session(id=secrets.token_urlsafe(18), new=True)
                self._items[session.id] = session
            elif session.busy:
                raise Conflict("this session is still answering its previous question; wait for that answer "
                               "(one question at a time per session)", session_id=session.id)
            else:
                session.new = False
                self._items.move_to_end(session.id)
            session.busy = True
            session.touched = now
            return session

    def end(self, session: Session, messages: list[ChatMessage] | None = None) -> None:
        with self._lock:
            if messages is not None:
                session.messages = messages[-self.keep_messages:]
            session.busy = False
            session.touched = time.monotonic()

    def __len__(self) -> int:
        return len(self._items)


class ChatService:
    def __init__(self, settings: RagSettings, dc: DataCoreClient, kb: KnowledgeBase) -> None:
        self.settings = settings
        self.dc = dc
        self.kb = kb
        self.tools = build_tools(dc, kb)
        self.composer = GroundedComposer(dc, kb)
        self.scope = classifier_for(kb, settings.cache_dir)  # trained at start-up (a few seconds; embeddings cached)
        self.mode = "llm" if settings.llm_base_url else "composer"
        self.agent = self._agent()
        self.sessions = Sessions(settings.max_sessions, settings.session_ttl_seconds, settings.session_max_turns)

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

    def _run(self, history: list[ChatMessage], user: ChatMessage, callback: Any) -> dict[str, Any]:
        """The Agent's run; a language model that does not answer (down, timed out, refusing the key) is a 503
        problem naming the setting, not an unhandled error (the default path calls no model)."""
        try:
            return self.agent.run(messages=[*history, user], streaming_callback=_only_text(callback))  # type: ignore[no-any-return]
        except DomainError:
            raise
        except Exception as exc:
            if self.mode != "llm":
                raise
            log.warning("the language model did not answer: %s", type(exc).__name__)
            raise ServiceUnavailable("the language model at LLM_BASE_URL did not answer; try again, or unset "
                                     "LLM_BASE_URL for the default path (no model)") from exc

    def ask(self, session_id: str | None, message: str, on_text: Callable[[str], None] | None = None
            ) -> dict[str, Any]:
        """Answer in the session ``session_id`` (a new one if it is None or unknown)."""
        return self.answer(self.sessions.begin(session_id), message, on_text)

    def answer(self, session: Session, message: str, on_text: Callable[[str], None] | None = None
               ) -> dict[str, Any]:
        """Answer in ``session``, which ``Sessions.begin`` marked busy (released here, also on error)."""
        started = time.perf_counter()
        kept_messages: list[ChatMessage] | None = None
        try:  # one question at a time per session: follow-ups see the previous answer
            history = list(session.messages)
            user = ChatMessage.from_user(message)
            callback = (lambda chunk: on_text(chunk.content) if chunk.content else None) if on_text else None
            if self.mode == "llm" and not history and self.scope.out_of_scope(message, data_question=True):
                # the same out-of-scope classifier as the default path, before any call to the model, at its
                # tuned (strict) threshold: the model reads follow-ups such as "And in April?" itself, which
                # the open threshold (for questions the reader finds no whole data question in) would decline
                messages: list[ChatMessage] = [user, ChatMessage.from_assistant(
                    f"I don't know: that is outside what I can answer. {CAPABILITIES}")]
                if on_text is not None:
                    on_text(messages[-1].text or "")
            else:
                messages = self._run(history, user, callback)["messages"]
            reply = next((m for m in reversed(messages) if m.is_from("assistant") and m.text), None)
            text = reply.text if reply is not None and reply.text else "I don't know."
            meta = dict(reply.meta) if reply is not None else {}
            tool_results = collect_tool_results(messages)
            if self.mode == "llm":  # the same fields as the composer's: kind and the question as answered
                meta.update(llm_meta(text, tool_results))
            # the composer numbers what it wrote (a declined answer cites nothing); a model's calls are numbered
            citations = (meta.get("citations") or []) if self.mode == "composer" else citations_from_results(tool_results)
            kept = ChatMessage.from_assistant(text, meta={k: meta[k] for k in ("slots",) if k in meta})
            kept_messages = [*history, user, kept]
        finally:
            self.sessions.end(session, kept_messages)
        slots = meta.get("slots") or {}
        return {
            "session_id": session.id,
            "new_session": session.new,
            "answer": text,
            "citations": citations,
            "facts": meta.get("facts", []),
            "declined": bool(meta.get("declined", False)),
            "kind": meta.get("kind") or ("decline" if meta.get("declined") else None),
            "restated": meta.get("restated"),
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

"""The RAG chatbot (port 8004).

- ``POST /api/chat`` ``{"session_id"?, "message"}``: a cited answer (knowledge-base documents and the data-core
  queries whose numbers it used); follow-ups in the same session keep its context. Session ids are issued
  by the server (``POST /api/chat/sessions``, or the ``session_id`` of an answer to a question sent without
  one); an unknown or expired id gets a new session (the answer's ``session_id``, ``new_session: true``);
  a session answers one question at a time (409 while it is busy).
- ``POST /api/chat/stream``: the same answer as Server-Sent Events (``start``, ``delta``..., ``done``).
- ``POST /api/recommendations`` ``{"hotspot_id"}`` or ``{"hotspot": {...}}`` or ``{"site", "activity_type"?,
  "category"?}``: ranked actions with abatement in t CO2e/yr, effort, cost and citations. The hotspot scan
  calls it; its answer goes out on the orchestration engine's ``/ws/recs``.
- ``GET /api/kb``, ``GET /api/kb/{id}``, ``GET /api/kb/search?q=``: the knowledge base and its retrieval.
- ``GET /api/health``: the knowledge base (documents, hybrid or BM25 retrieval and why) and the data core.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import StreamingResponse

from services.common.app import create_app as base_app
from services.common.app import serve
from services.common.contracts import RecommendRequest
from services.common.errors import DomainError, NotFound, Unprocessable
from services.common.ratelimit import RateLimitMiddleware, RateRule
from services.rag.chat import ChatService, Session
from services.rag.datacore import DataCoreClient
from services.rag.kb import KnowledgeBase
from services.rag.recommend import recommend
from services.rag.settings import RagSettings, get_settings

log = logging.getLogger(__name__)
api = APIRouter(prefix="/api", tags=["chat"])
SESSION_ID = r"^[A-Za-z0-9_.:-]{1,128}$"


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    session_id: str | None = Field(default=None, pattern=SESSION_ID,
                                   description="an id the server issued; omit (or an expired one) for a new session")
    message: str = Field(min_length=1, max_length=100_000)


def _service(request: Request) -> ChatService:
    return request.app.state.chat  # type: ignore[no-any-return]


def _check_message(service: ChatService, body: ChatIn) -> tuple[Session, str]:
    """The message checked first (length before any parsing), then the session it is answered in, marked
    busy (409 if it is answering another question)."""
    message = body.message.strip()
    if not message:
        raise Unprocessable("message is empty", field="message")
    limit = service.settings.max_message_chars
    if len(message) > limit:
        raise Unprocessable(f"message is {len(message)} characters; the limit is {limit}", field="message")
    return service.sessions.begin(body.session_id), message


@api.post("/chat/sessions", status_code=201, summary="Start a chat session; its id is issued by the server")
async def new_session(request: Request) -> dict[str, Any]:
    return {"session_id": _service(request).sessions.create().id}


@api.post("/chat", summary="Ask a question; a cited answer")
async def chat(body: ChatIn, request: Request) -> dict[str, Any]:
    service = _service(request)
    session, message = _check_message(service, body)
    return await run_in_threadpool(service.answer, session, message)


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


@api.post("/chat/stream", summary="Ask a question; the answer streamed as Server-Sent Events",
          response_class=StreamingResponse)
async def chat_stream(body: ChatIn, request: Request) -> StreamingResponse:
    service = _service(request)
    session, message = _check_message(service, body)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def on_text(text: str) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, ("delta", {"text": text}))

    async def produce() -> None:
        try:
            result = await run_in_threadpool(service.answer, session, message, on_text)
            await queue.put(("done", result))
        except DomainError as exc:
            await queue.put(("error", {"status": exc.status, "title": exc.title, "detail": exc.detail}))
        except Exception:  # logged; the stream ends with an error event instead of hanging
            log.exception("chat stream failed")
            await queue.put(("error", {"status": 500, "title": "Internal server error",
                                       "detail": "the answer failed; it has been logged"}))

    # started here, not in the stream: the session is released even if the client leaves before it starts
    task = asyncio.create_task(produce())
    running: set[asyncio.Task[None]] = request.app.state.chat_tasks
    running.add(task)
    task.add_done_callback(running.discard)

    async def events() -> AsyncIterator[bytes]:
        yield _sse("start", {"session_id": session.id, "new_session": session.new})
        try:
            while True:
                event, data = await queue.get()
                yield _sse(event, data)
                if event in ("done", "error"):
                    break
        finally:
            await task

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@api.post("/recommendations", summary="Ranked reduction actions for a hotspot or a site")
async def recommendations(body: RecommendRequest, request: Request) -> dict[str, Any]:
    service = _service(request)
    return await run_in_threadpool(
        recommend, service.kb, service.dc, hotspot=body.hotspot.model_dump() if body.hotspot else None,
        hotspot_id=body.hotspot_id, site=body.site,
        activity_type=body.activity_type, category=body.category, top_k=body.top_k)


QUERY_ENDPOINTS = re.compile(r"^/api/v1/(?:emissions/(?:totals|top|timeseries|audit|inventory)|alerts|hotspots"
                             r"(?:/[A-Za-z0-9_.:-]{1,200})?|sites(?:/[A-Za-z0-9_.:-]{1,200})?)$")
AUDIT_FILTERS = ("version", "start", "end", "scope", "site", "activity_type", "category", "org", "method")


class QueryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    endpoint: str = Field(max_length=300, description="a data-core query of a citation, e.g. /api/v1/emissions/totals")
    params: dict[str, str | int | float | bool | list[str | int]] = Field(default_factory=dict, max_length=30)
    audit_limit: int = Field(default=50, ge=0, le=1000)


@api.post("/query", summary="Open the query behind a cited number: its answer now and its audit trail")
async def open_query(body: QueryIn, request: Request) -> dict[str, Any]:
    """The dashboard talks to the chatbot, not the data core: a citation's ``endpoint`` and ``params`` are
    run again here (read-only, allow-listed endpoints), with the ledger rows, factors and arithmetic behind
    an emissions figure (``/api/v1/emissions/audit`` with the same filters)."""
    if not QUERY_ENDPOINTS.match(body.endpoint):
        raise Unprocessable(f"'{body.endpoint}' is not a query a citation can open", field="endpoint")
    dc = _service(request).dc
    result, citation = await run_in_threadpool(dc.get, body.endpoint, body.params)
    out: dict[str, Any] = {"citation": citation, "result": result}
    if body.endpoint.startswith("/api/v1/emissions/") and body.audit_limit:
        filters = {k: v for k, v in body.params.items() if k in AUDIT_FILTERS}
        out["audit"], out["audit_citation"] = await run_in_threadpool(
            dc.get, "/api/v1/emissions/audit", {**filters, "limit": body.audit_limit})
    return out


@api.get("/kb", summary="The knowledge base's documents (without their text)")
async def kb_list(request: Request, topic: str | None = Query(default=None, max_length=60)) -> dict[str, Any]:
    kb = _service(request).kb
    docs = [d.public(with_body=False) for d in kb.docs if topic is None or d.topic == topic]
    return {"documents": docs, "count": len(docs), "retrieval": kb.mode}


@api.get("/kb/search", summary="Search the knowledge base (hybrid: BM25 + dense, fused by reciprocal rank)")
async def kb_search(request: Request, q: str = Query(min_length=1, max_length=2000),
                    top_k: int = Query(default=5, ge=1, le=50),
                    mode: str = Query(default="hybrid", pattern="^(hybrid|bm25)$")) -> dict[str, Any]:
    kb = _service(request).kb
    hits = await run_in_threadpool(kb.search, q, top_k, mode=mode)
    return {"query": q, "retrieval": "bm25" if mode == "bm25" else kb.mode,
            "documents": [{"id": h.doc.id, "title": h.doc.title, "score": h.score, "section": h.section,
                           "snippet": h.snippet} for h in hits]}


@api.get("/kb/{doc_id}", summary="One knowledge-base document with its Markdown and sources")
async def kb_document(doc_id: str, request: Request) -> dict[str, Any]:
    doc = _service(request).kb.by_id.get(doc_id)
    if doc is None:
        raise NotFound(f"no knowledge-base document '{doc_id}'")
    return doc.public()


def _model_name(kbase: KnowledgeBase) -> str | None:
    if kbase.model is None or kbase.model_path is None:
        return None
    path = kbase.model_path
    return f"{path.parent.name}/{path.name}" if path.name == "model" else path.name


# POSTs that compute an answer without changing stored state: the read token may call them
READ_POSTS = ["/api/chat", "/api/chat/stream", "/api/chat/sessions", "/api/recommendations", "/api/query"]


def _app(settings: RagSettings | None = None, *, kb: KnowledgeBase | None = None,
         data_core: DataCoreClient | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        knowledge = kb if kb is not None else await run_in_threadpool(
            KnowledgeBase, settings.kb_dir, embedding_model=settings.embedding_model, cache_dir=settings.cache_dir,
            candidates=settings.retrieval_candidates)
        dc = data_core or DataCoreClient(settings.data_core_url, timeout=settings.data_core_timeout_seconds,
                                         cache_seconds=settings.site_cache_seconds,
                                         token=settings.api_token.get_secret_value())
        app.state.chat = ChatService(settings, dc, knowledge)
        app.state.chat_tasks = set()
        try:
            yield
        finally:
            if data_core is None:
                dc.close()

    async def kb_check(app: FastAPI) -> tuple[bool, Any]:
        service: ChatService | None = getattr(app.state, "chat", None)
        if service is None:
            return False, "loading"
        kbase = service.kb
        detail: dict[str, Any] = {"documents": len(kbase.docs), "sections": len(kbase.chunks),
                                  "retrieval": kbase.mode,
                                  "embedding_model": _model_name(kbase),
                                  "answers": service.mode}
        if kbase.model is None:
            reason = ("the embedding model could not be loaded (the service log has why)" if kbase.embedding_error
                      else "EMBEDDING_MODEL is none or the model package is not installed")
            detail["note"] = f"dense retrieval off: {reason}; answering with BM25 only"
        return True, detail

    async def data_core_check(app: FastAPI) -> tuple[bool, Any]:
        service: ChatService | None = getattr(app.state, "chat", None)
        if service is None:
            return False, "loading"
        response = await run_in_threadpool(service.dc.http.get, "/health")
        return response.status_code == 200, {"status": response.status_code}

    return base_app(settings, title="Carbon Nexus RAG chatbot", description=__doc__ or "", routers=[api],
                    lifespan=lifespan, health_checks={"knowledge_base": kb_check, "data_core": data_core_check},
                    health_path="/api/health", read_posts=READ_POSTS)


CHAT_PATHS = (r"/api/chat", r"/api/chat/stream", r"/api/chat/sessions")


def create_app(settings: RagSettings | None = None, *, kb: KnowledgeBase | None = None,
               data_core: DataCoreClient | None = None) -> FastAPI:
    """The chatbot with a rate limit per client on the chat endpoints (``RATE_LIMIT_PER_MINUTE``)."""
    settings = settings or get_settings()
    app = _app(settings, kb=kb, data_core=data_core)
    app.add_middleware(RateLimitMiddleware, rules=[RateRule("POST", p) for p in CHAT_PATHS],
                       per_minute=settings.rate_limit_per_minute, write_token=settings.api_token.get_secret_value(),
                       write_per_minute=settings.rate_limit_write_per_minute)
    return app


def main() -> None:
    settings = get_settings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()

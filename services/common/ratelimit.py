"""Limits decided from a request's first line and headers, before its body is read: per-client rate limits
(a token bucket per bearer token and client address) and per-path body-size limits.

Both are pure ASGI middleware and answer RFC 9457 problem+json: 429 with ``Retry-After`` for a client over
its budget, 413 for a body over its path's limit. A service adds them after ``create_app``::

    app.add_middleware(RateLimitMiddleware, rules=[RateRule("POST", r"/api/chat")], per_minute=30,
                       write_token=settings.api_token.get_secret_value(), write_per_minute=0)

``per_minute`` 0 turns a limit off. Requests with the write token (``API_TOKEN``: the flows and the
service-to-service clients) have their own budget, ``write_per_minute`` (0 = not limited: the fill-expected
flow sends thousands of predict calls in a run and must never be throttled).
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.errors import problem_response

MAX_TRACKED_CLIENTS = 10_000  # buckets kept (least recently used dropped: a dropped client starts full)


@dataclass(frozen=True)
class RateRule:
    """Requests this rule limits: a method, a path (a regular expression matched in full) and, optionally,
    query values of which one must be present (``exports=("format", ("csv", "xlsx"))``: only exports)."""

    method: str
    path: str
    query: tuple[str, tuple[str, ...]] | None = None
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", re.compile(self.path))

    def matches(self, scope: Scope) -> bool:
        if scope.get("method") != self.method or not self.pattern.fullmatch(scope.get("path", "")):
            return False
        if self.query is None:
            return True
        name, values = self.query
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        return any(v in values for v in query.get(name, []))


def export_rules(paths: Iterable[str]) -> list[RateRule]:
    """GETs of these paths that answer a CSV or XLSX file."""
    return [RateRule("GET", p, ("format", ("csv", "xlsx"))) for p in paths]


class TokenBuckets:
    """One bucket per key: ``capacity`` requests at once, refilled at ``capacity`` per minute."""

    def __init__(self, per_minute: int, *, max_keys: int = MAX_TRACKED_CLIENTS) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> float:
        """0 if a request may go now (and count it), else the seconds until one may."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens - 1.0 if wait == 0.0 else tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return wait

    def __len__(self) -> int:
        return len(self._buckets)


def _bearer(scope: Scope) -> str:
    for key, value in scope.get("headers", []):
        if key == b"authorization":
            text = value.decode("latin-1")
            return text[7:].strip() if text[:7].lower() == "bearer " else ""
    return ""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:32]


class RateLimitMiddleware:
    """429 problem+json with ``Retry-After`` for a client (bearer token + client address) over its budget
    on the paths of ``rules``; other requests pass untouched."""

    def __init__(self, app: ASGIApp, *, rules: Sequence[RateRule], per_minute: int, write_token: str = "",
                 write_per_minute: int = 0) -> None:
        self.app = app
        self.rules = list(rules)
        self.buckets = TokenBuckets(per_minute) if per_minute > 0 else None
        self.write_buckets = TokenBuckets(write_per_minute) if write_per_minute > 0 else None
        self.write_digest = _digest(write_token) if write_token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not any(rule.matches(scope) for rule in self.rules):
            await self.app(scope, receive, send)
            return
        token = _digest(_bearer(scope))
        buckets = self.write_buckets if token == self.write_digest else self.buckets
        if buckets is not None:
            client = (scope.get("client") or ("?", 0))[0]
            wait = buckets.take(f"{token}|{client}")
            if wait > 0:
                seconds = max(1, math.ceil(wait))
                response = problem_response(
                    status=429, title="Too many requests", type_suffix="rate-limited",
                    detail=f"this client sent more than {int(buckets.capacity)} requests a minute to this "
                           f"endpoint; try again in {seconds} s",
                    headers={"Retry-After": str(seconds)}, retry_after_s=seconds)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _TooLarge(StarletteHTTPException):
    """An HTTPException so that FastAPI's body parsing passes it on (it turns others into a 400) and the
    app's problem handlers answer 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"request body exceeds this endpoint's limit of {limit} bytes")


class PathBodyLimitMiddleware:
    """A body limit per path: ``limit`` bytes, except the paths of ``overrides`` (regular expressions
    matched in full -> bytes). A declared ``Content-Length`` over the limit is refused before anything is
    read; a body without one is counted as it arrives."""

    def __init__(self, app: ASGIApp, *, limit: int, overrides: dict[str, int] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.overrides = [(re.compile(p), n) for p, n in (overrides or {}).items()]

    def limit_for(self, path: str) -> int:
        return next((n for p, n in self.overrides if p.fullmatch(path)), self.limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, f"request body of {declared} bytes exceeds this endpoint's "
                                                     f"limit of {limit} bytes")
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge(limit)
            return message

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watch)
        except _TooLarge as exc:
            if started:
                raise
            await self._refuse(scope, receive, send, str(exc.detail))

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, detail: str) -> None:
        response = problem_response(status=413, title="Payload too large", detail=detail,
                                    type_suffix="payload-too-large")
        await response(scope, receive, send)


def raise_app_body_limit(app: object, limit: int) -> None:
    """Set the body limit of ``create_app``'s own middleware (the whole app) to ``limit``, for a service
    whose paths get their own limits from ``PathBodyLimitMiddleware``. Call it before the first request
    (Starlette builds the middleware stack then)."""
    for middleware in getattr(app, "user_middleware", []):
        if "max_body_bytes" in getattr(middleware, "kwargs", {}):
            middleware.kwargs["max_body_bytes"] = max(limit, middleware.kwargs["max_body_bytes"])

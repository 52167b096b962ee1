"""Bearer-token roles, checked before a request's body is read.

Two tokens: ``API_TOKEN`` is the write role (it also allows every read), ``READ_TOKEN`` the read role.
Every request needs one except the public paths (liveness, readiness, the API docs and whatever a service
adds). GET, HEAD and OPTIONS are reads, and so are the "read POSTs" a service declares (they compute an
answer without changing stored state, e.g. a prediction); every other method is a write.

:class:`TokenAuthMiddleware` is pure ASGI and decides from the method, the path and the ``Authorization``
header alone, so an unauthenticated request is refused with 401 (a read token on a write with 403) before
anything calls ``receive()``: a huge body costs nothing. CORS preflights are answered by the CORS
middleware outside it. ``WriteAuth`` and ``ReadAuth`` are the same checks as FastAPI dependencies: they put
the bearer security scheme in the OpenAPI document and guard a route even if it is mounted elsewhere.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from services.common.errors import DomainError, Unauthorized, problem_response

Role = Literal["read", "write"]
Required = Role | None  # None: public
Policy = Callable[[str, str], Required]

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json")
ROLE_STATE_KEY = "auth_role"

log = logging.getLogger(__name__)

BEARER_DESCRIPTION = "API_TOKEN (write role, also reads) or READ_TOKEN (read role)"
_bearer = HTTPBearer(auto_error=False, description=BEARER_DESCRIPTION)


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"
    type_suffix = "forbidden"


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


class Tokens:
    """The two tokens of a service, compared in constant time (both always, on equal-length digests)."""

    def __init__(self, write: SecretStr | str | None, read: SecretStr | str | None = None) -> None:
        self._write = _digest(_plain(write)) if _plain(write) else None
        self._read = _digest(_plain(read)) if _plain(read) else None

    def role(self, token: str | None) -> Role | None:
        if not token:
            return None
        given = _digest(token)
        is_write = self._write is not None and hmac.compare_digest(given, self._write)
        is_read = self._read is not None and hmac.compare_digest(given, self._read)
        return "write" if is_write else "read" if is_read else None

    @classmethod
    def of(cls, settings: Any) -> Tokens:
        return cls(getattr(settings, "api_token", None), getattr(settings, "read_token", None))


def _plain(value: SecretStr | str | None) -> str:
    if value is None:
        return ""
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def bearer_token(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive), else None."""
    for key, value in headers:
        if key.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            return token.strip() or None if scheme.lower() == "bearer" else None
    return None


class AccessPolicy:
    """Which role a request needs: None for a public path, "read" for GET/HEAD/OPTIONS and the declared read
    POSTs, "write" otherwise. Paths are Starlette route templates (``/api/v1/items/{id}``)."""

    def __init__(self, public_paths: Iterable[str] = (), read_posts: Iterable[str] = ()) -> None:
        self.public = [compile_path(p)[0] for p in public_paths]
        self.read_posts = [compile_path(p)[0] for p in read_posts]

    @staticmethod
    def _any(patterns: list[re.Pattern[str]], path: str) -> bool:
        return any(p.match(path) for p in patterns)

    def __call__(self, method: str, path: str) -> Required:
        if self._any(self.public, path):
            return None
        if method.upper() in READ_METHODS:
            return "read"
        if method.upper() == "POST" and self._any(self.read_posts, path):
            return "read"
        return "write"


class TokenAuthMiddleware:
    """Pure ASGI: refuses a request without the role it needs before the app (or anything) reads its body.
    WebSockets pass through: the channels authenticate with their own tickets."""

    def __init__(self, app: ASGIApp, *, tokens: Tokens, policy: Policy) -> None:
        self.app = app
        self.tokens = tokens
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        needed = self.policy(scope.get("method", "GET"), scope.get("path", "/"))
        if needed is None:
            await self.app(scope, receive, send)
            return
        token = bearer_token(scope.get("headers", []))
        role = self.tokens.role(token)
        state = scope.setdefault("state", {})
        if role is None:
            detail = ("this endpoint needs 'Authorization: Bearer <token>' (READ_TOKEN for reads, API_TOKEN for "
                      "writes)" if token is None else "the bearer token is not valid")
            await self._refuse(401, "Unauthorized", "unauthorized", detail, scope, receive, send,
                               {"WWW-Authenticate": "Bearer"})
            return
        if needed == "write" and role != "write":
            await self._refuse(403, "Forbidden", "forbidden",
                               "the read token cannot change anything: this request needs the write token "
                               "(API_TOKEN)", scope, receive, send, None)
            return
        state[ROLE_STATE_KEY] = role
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(status: int, title: str, suffix: str, detail: str, scope: Scope, receive: Receive,
                      send: Send, headers: dict[str, str] | None) -> None:
        request_id = scope.get("state", {}).get("request_id")
        extra: dict[str, Any] = {"instance": scope.get("path", "/")}
        if request_id:
            extra["request_id"] = request_id
        response = problem_response(status=status, title=title, detail=detail, type_suffix=suffix,
                                    headers=headers, **extra)
        await response(scope, receive, send)


# --------------------------------------------------------------------------- FastAPI dependencies
def _role_of(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Role | None:
    if credentials is None or credentials.scheme.lower() != "bearer":
        return None
    return Tokens.of(request.app.state.settings).role(credentials.credentials)


def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """The write role (``API_TOKEN``)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("this operation needs 'Authorization: Bearer <API_TOKEN>'")
    role = _role_of(request, credentials)
    if role is None:
        raise Unauthorized("the bearer token is not valid")
    if role != "write":
        raise Forbidden("the read token cannot change anything: this request needs the write token (API_TOKEN)")


def require_read(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Role:
    """Either role; returns it."""
    role = _role_of(request, credentials)
    if role is None:
        raise Unauthorized("this endpoint needs 'Authorization: Bearer <token>' (READ_TOKEN or API_TOKEN)")
    return role


WriteAuth = Depends(require_token)
ReadAuth = Depends(require_read)


def request_role(request: Request) -> Role | None:
    """The role the middleware granted this request (None on a public path)."""
    role: Role | None = request.scope.get("state", {}).get(ROLE_STATE_KEY)
    return role


def document_security(openapi: dict[str, Any], policy: Policy) -> dict[str, Any]:
    """Mark every operation that needs a token with the bearer scheme in an OpenAPI document."""
    schemes = openapi.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes.setdefault("HTTPBearer", {"type": "http", "scheme": "bearer", "description": BEARER_DESCRIPTION})
    for path, operations in openapi.get("paths", {}).items():
        for method, operation in operations.items():
            if isinstance(operation, dict) and policy(method.upper(), path) is not None:
                operation.setdefault("security", [{"HTTPBearer": []}])
    return openapi

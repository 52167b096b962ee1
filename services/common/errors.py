"""RFC 9457 problem details: domain exceptions raised anywhere, translated once into
``application/problem+json`` answers."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://carbon-nexus.dev/problems/"

log = logging.getLogger(__name__)


class DomainError(Exception):
    """Base of every error the services raise on purpose. Subclasses set ``status``, ``title`` and
    ``type_suffix``; ``extensions`` become extra members of the problem document."""

    status: int = 400
    title: str = "Bad request"
    type_suffix: str = "bad-request"

    def __init__(self, detail: str, *, status: int | None = None, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        self.extensions = extensions


class NotFound(DomainError):
    status = 404
    title = "Not found"
    type_suffix = "not-found"


class Conflict(DomainError):
    status = 409
    title = "Conflict"
    type_suffix = "conflict"


class Unprocessable(DomainError):
    status = 422
    title = "Unprocessable content"
    type_suffix = "unprocessable"


class PayloadTooLarge(DomainError):
    status = 413
    title = "Payload too large"
    type_suffix = "payload-too-large"


class UnsupportedMediaType(DomainError):
    status = 415
    title = "Unsupported media type"
    type_suffix = "unsupported-media-type"


class ServiceUnavailable(DomainError):
    status = 503
    title = "Service unavailable"
    type_suffix = "unavailable"


class Unauthorized(DomainError):
    status = 401
    title = "Unauthorized"
    type_suffix = "unauthorized"


def problem_response(
    *,
    status: int,
    title: str,
    detail: str,
    type_suffix: str,
    request: Request | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + type_suffix,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.url.path
        request_id = getattr(request.state, "request_id", None)
        if request_id:
            body["request_id"] = request_id
    body.update({k: v for k, v in extensions.items() if k not in body})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _loc_to_field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or ".".join(str(p) for p in loc)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return problem_response(
            status=exc.status,
            title=exc.title,
            detail=exc.detail,
            type_suffix=exc.type_suffix,
            request=request,
            headers=headers,
            **exc.extensions,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _loc_to_field(e.get("loc", ())), "location": (e.get("loc") or ["?"])[0],
             "message": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        fields = ", ".join(sorted({e["field"] for e in errors}))
        return problem_response(
            status=422,
            title="Invalid request",
            detail=f"invalid or missing: {fields}" if fields else "invalid request",
            type_suffix="validation",
            request=request,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        try:
            title = HTTPStatus(status).phrase
        except ValueError:
            title = "Error"
        detail = exc.detail if isinstance(exc.detail, str) else title
        return problem_response(
            status=status,
            title=title,
            detail=detail,
            type_suffix=title.lower().replace(" ", "-"),
            request=request,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Last resort: a defect. Log it with the request id and answer without a stack trace.
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem_response(
            status=500,
            title="Internal server error",
            detail="an unexpected error occurred; it has been logged with this request id",
            type_suffix="internal",
            request=request,
        )

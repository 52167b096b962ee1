"""What the dashboard reads (and uploads) from the data core through this engine, so the browser talks to
this engine and the chatbot only.

The plain pass-through routes are ONE table (:data:`PROXY`): each entry is registered as its own route (so
each is in OpenAPI with its summary and path parameters), forwards its query string as sent (repeatable
parameters such as ``scope=1&scope=2`` survive) and answers as the data core answered: JSON bytes, or an
export file with its content type and ``Content-Disposition``. Path parameters are passed as one quoted
segment each. Errors are problem documents (:func:`services.common.datacore.check`): a data-core 4xx comes back
as the same problem, a 5xx or no answer is 503.

Explicit where a table entry cannot say it: ``POST ingest`` (a streamed upload with ``Idempotency-Key`` and
``Idempotent-Replayed`` passed on, a longer read timeout). ``expected`` (residuals summed per interval) is in
:mod:`services.orchestration.routes.expected`, ``models`` (the ML engine) in :mod:`~.models`.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from fastapi import Header, Path, Request
from starlette.responses import Response

from services.common.auth import WriteAuth
from services.common.datacore import AsyncDataCoreClient, UpstreamProblem, seg
from services.common.errors import NotFound, problem_response
from services.orchestration.routes import api_router, state

router = api_router(tags=["dashboard"])
EMISSION_KINDS = ("totals", "timeseries", "top", "inventory", "audit")
# response headers of the data core that mean something to the dashboard
PASSED_HEADERS = ("content-disposition", "idempotent-replayed", "link")  # link: the next page of a capped answer
_PARAM = re.compile(r"{(\w+)}")


@dataclass(frozen=True)
class Proxy:
    """One pass-through route: ``method path`` here is ``method upstream`` at the data core."""

    method: Literal["GET", "POST", "PUT", "DELETE"]
    path: str
    upstream: str
    summary: str
    write: bool = False  # needs the write token
    kind: Literal["json", "file"] = "json"  # file: the answer may be a CSV/XLSX export (format=)
    query: bool = True  # the query string is passed on as sent
    choices: tuple[tuple[str, tuple[str, ...]], ...] = ()  # path parameters with a closed set of values (else 404)
    noun: str = ""  # what such a parameter names, for the 404's detail

    @property
    def params(self) -> list[str]:
        return _PARAM.findall(self.path)


PROXY: tuple[Proxy, ...] = (
    Proxy("GET", "/emissions/{kind}", "/api/v1/emissions/{kind}",
          "Emission totals, time series, top contributors, inventory or audit trail (data core; format=csv|xlsx "
          "answers a file)", kind="file", choices=(("kind", EMISSION_KINDS),), noun="emission query"),
    Proxy("GET", "/sites", "/api/v1/sites", "Sites (data core; org_id filters)"),
    Proxy("GET", "/sites/{site_id}", "/api/v1/sites/{site_id}", "One site (data core)"),
    Proxy("GET", "/organisations", "/api/v1/organisations", "Organisations (data core)"),
    Proxy("GET", "/readings/extent", "/api/v1/readings/extent",
          "First and last hour of hourly readings and their sites (data core)"),
    Proxy("GET", "/ingest/batches", "/api/v1/ingest/batches", "Recent ingest batches (data core)"),
    Proxy("GET", "/ingest/batches/{batch_id}", "/api/v1/ingest/batches/{batch_id}",
          "One ingest batch and its report (data core)"),
    Proxy("GET", "/ingest/batches/{batch_id}/rejects", "/api/v1/ingest/batches/{batch_id}/rejects",
          "The rejected rows of a batch with reasons (data core)"),
    Proxy("GET", "/ingest/rejects", "/api/v1/ingest/rejects", "Rejected rows across batches, for review (data core)"),
    Proxy("GET", "/bills", "/api/v1/bills",
          "Bills (readings of 20 days or more) in kWh against their degree-day expected values and intervals "
          "(data core)", kind="file"),
)


# --------------------------------------------------------------------------- upstream answers
def request_id(request: Request) -> dict[str, str]:
    """The request id, so that the data core's log lines of this request carry the same one."""
    rid = getattr(request.state, "request_id", None)
    return {"X-Request-ID": rid} if rid else {}


async def send(request: Request, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """The data core's checked answer to ``method path``, sent with this request's id."""
    dc: AsyncDataCoreClient = state(request).dc
    headers = {**request_id(request), **kwargs.pop("headers", {})}
    return await dc.request(method, path, headers=headers, **kwargs)


def passed(response: httpx.Response) -> dict[str, str]:
    return {k: response.headers[k] for k in PASSED_HEADERS if k in response.headers}


def as_is(response: httpx.Response) -> Response:
    """The data core's answer unchanged: JSON bytes (not parsed and written again) or an export file."""
    return Response(response.content, status_code=response.status_code,
                    media_type=response.headers.get("content-type", "application/json"), headers=passed(response))


async def forward(request: Request, method: str, path: str, *, query: bool = True) -> Response:
    """``method path`` of the data core with this request's query string, answered as the data core answered."""
    params = request.query_params.multi_items() if query else None
    return as_is(await send(request, method, path, params=params))


# --------------------------------------------------------------------------- the table's routes
def endpoint(entry: Proxy) -> Callable[..., Awaitable[Response]]:
    """The route function of one entry; its signature names the path parameters (for OpenAPI)."""

    async def proxied(request: Request, **path: str) -> Response:
        for name, allowed in entry.choices:
            if path[name] not in allowed:
                extra: dict[str, Any] = {name: path[name]}
                raise NotFound(f"no {entry.noun} {path[name]!r}; one of {', '.join(allowed)}", **extra)
        upstream = entry.upstream.format(**{k: seg(v) for k, v in path.items()})
        return await forward(request, entry.method, upstream, query=entry.query)

    parameters = [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request)]
    parameters += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=str, default=Path())
                   for name in entry.params]
    proxied.__signature__ = inspect.Signature(parameters, return_annotation=Response)  # type: ignore[attr-defined]
    proxied.__name__ = "proxy_" + re.sub(r"\W+", "_", f"{entry.method}_{entry.path}").strip("_").lower()
    return proxied


FILES: dict[str, Any] = {"text/csv": {}, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}


def _register(entries: tuple[Proxy, ...]) -> None:
    for entry in entries:
        content = {"application/json": {}, **(FILES if entry.kind == "file" else {})}
        router.add_api_route(entry.path, endpoint(entry), methods=[entry.method], summary=entry.summary,
                             dependencies=[WriteAuth] if entry.write else None, response_class=Response,
                             responses={200: {"description": "the data core's answer", "content": content}})


_register(PROXY)


# --------------------------------------------------------------------------- explicit: the upload
@router.post("/ingest", dependencies=[WriteAuth],
             summary="Upload activity data to the data core (multipart 'file', text/csv or JSON records); "
                     "Idempotency-Key and editions=... are passed on",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                     "file": {"type": "string", "format": "binary"}}}},
                 "text/csv": {"schema": {"type": "string"}},
                 "application/json": {"schema": {"type": "object", "required": ["records"]}}}}})
async def ingest(request: Request,
                 idempotency_key: str | None = Header(default=None, alias="Idempotency-Key", max_length=200)
                 ) -> Response:
    headers = {"Content-Type": request.headers["content-type"]} if "content-type" in request.headers else {}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    if request.headers.get("content-length", "").isdigit():
        headers["Content-Length"] = request.headers["content-length"]  # else the body goes on chunked
    settings = state(request).settings
    timeout = httpx.Timeout(settings.data_core_timeout_seconds, read=settings.ingest_timeout_seconds)
    try:
        response = await send(request, "POST", "/api/v1/ingest", params=request.query_params.multi_items(),
                               content=request.stream(), headers=headers, timeout=timeout)
    except UpstreamProblem as exc:
        # an all-rejected upload (422 that lists its rejects) may be a replay: say so as the data core did
        return problem_response(status=exc.status, title=exc.title, detail=exc.detail, type_suffix=exc.type_suffix,
                                request=request, headers=passed(exc.response) or None, **exc.extensions)
    return as_is(response)

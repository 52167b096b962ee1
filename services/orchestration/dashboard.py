"""What the dashboard reads (and uploads) through the orchestration engine, so the browser talks to this
engine and the chatbot only: emission queries and exports, sites and organisations, the readings extent,
ingest (upload, batches, rejects), actual against expected for charts, and the ML engine's models.

Reads are proxied to the data core with their query string as sent (repeatable parameters such as
``scope=1&scope=2`` survive) and their answer as given: JSON, or the bytes of a CSV/XLSX export with its
content type and ``Content-Disposition``. Errors are problem documents: a data-core 4xx comes back as the
same 4xx with its detail and extra members; a 5xx or no answer from the data core or the ML engine is 503.
"""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

import httpx
import numpy as np
import pandas as pd
from fastapi import APIRouter, Header, Query, Request
from starlette.responses import Response

from services.common.auth import WriteAuth
from services.common.errors import (
    PROBLEM_BASE,
    DomainError,
    NotFound,
    ServiceUnavailable,
    Unprocessable,
    problem_response,
)

router = APIRouter(prefix="/api/v1", tags=["dashboard"])

EMISSION_KINDS = ("totals", "timeseries", "top", "inventory", "audit")
Interval = Literal["hour", "day", "week", "month"]
# response headers of the data core that mean something to the dashboard
PASSED_HEADERS = ("content-disposition", "idempotent-replayed", "link")  # link: the next page of a capped answer
RESIDUAL_COLUMNS = ["site", "meter", "activity_type", "period_start", "actual", "unit", "expected", "lower", "upper",
                    "model_name", "model_version"]
_TEXT = {c: "string" for c in ("site", "meter", "activity_type", "period_start", "unit", "model_name", "model_version")}


# members of the data core's problem that this engine writes itself (or that name problem_response arguments)
_NOT_PASSED = {"type", "title", "status", "detail", "instance", "request_id", "type_suffix", "request", "headers"}


def _q(path_part: str) -> str:
    """An id as one path segment of a data-core URL (no '..', '/', '?' games)."""
    return quote(path_part, safe="")


def ml_client(url: str, timeout: float, token: str) -> httpx.AsyncClient:
    """The ML engine over HTTP, with this service's API_TOKEN (its reads need a token too)."""
    return httpx.AsyncClient(base_url=url, timeout=timeout, trust_env=False,
                             headers={"Authorization": f"Bearer {token}"})


# --------------------------------------------------------------------------- upstream answers
class UpstreamProblem(DomainError):
    """A 4xx problem of the data core, passed on with its status, title, type, detail and extra members."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        body = _json_object(response)
        detail = str(body.get("detail") or response.text[:500] or f"the data core answered {response.status_code}")
        super().__init__(detail, status=response.status_code,
                         **{k: v for k, v in body.items() if k not in _NOT_PASSED})
        if isinstance(body.get("title"), str) and body["title"]:
            self.title = body["title"]
        kind = body.get("type")
        if isinstance(kind, str) and kind.startswith(PROBLEM_BASE) and len(kind) > len(PROBLEM_BASE):
            self.type_suffix = kind[len(PROBLEM_BASE):]


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _check(response: httpx.Response, service: str = "data-core") -> httpx.Response:
    """``response`` if it is a success; else the problem to answer with."""
    status = response.status_code
    if status < 400:
        return response
    if status in (401, 403):
        # the caller's token was checked here already: the data core refusing ours is a deployment fault
        raise ServiceUnavailable(f"the {service} refused the orchestration engine's token ({status}); "
                                 "both services need the same API_TOKEN", service=service)
    if status >= 500:
        raise ServiceUnavailable(f"the {service} failed ({status})", service=service)
    raise UpstreamProblem(response)


def _request_id(request: Request) -> dict[str, str]:
    """The request id, so that the data core's log lines of this request carry the same one."""
    rid = getattr(request.state, "request_id", None)
    return {"X-Request-ID": rid} if rid else {}


async def _send(request: Request, method: str, path: str, **kwargs: Any) -> httpx.Response:
    http: httpx.AsyncClient = request.app.state.dc.http
    headers = {**_request_id(request), **kwargs.pop("headers", {})}
    try:
        response = await http.request(method, path, headers=headers, **kwargs)
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(f"the data core is unreachable: {type(exc).__name__}", service="data-core") from exc
    return _check(response)


def _passed(response: httpx.Response) -> dict[str, str]:
    return {k: response.headers[k] for k in PASSED_HEADERS if k in response.headers}


def _as_is(response: httpx.Response) -> Response:
    """The data core's answer unchanged: JSON bytes (not parsed and written again) or an export file."""
    return Response(response.content, status_code=response.status_code,
                    media_type=response.headers.get("content-type", "application/json"), headers=_passed(response))


async def _get(request: Request, path: str) -> Response:
    """GET ``path`` of the data core with this request's query string, answered as the data core answered."""
    return _as_is(await _send(request, "GET", path, params=request.query_params.multi_items()))


# --------------------------------------------------------------------------- emissions, sites, readings
@router.get("/emissions/{kind}", summary="Emission totals, time series, top contributors, inventory or audit trail "
                                          "(data core; format=csv|xlsx answers a file)")
async def emissions(kind: str, request: Request) -> Response:
    if kind not in EMISSION_KINDS:
        raise NotFound(f"no emission query {kind!r}; one of {', '.join(EMISSION_KINDS)}", kind=kind)
    return await _get(request, f"/api/v1/emissions/{kind}")


@router.get("/sites", summary="Sites (data core; org_id filters)")
async def sites(request: Request) -> Response:
    return await _get(request, "/api/v1/sites")


@router.get("/sites/{site_id}", summary="One site (data core)")
async def site(site_id: str, request: Request) -> Response:
    return await _get(request, f"/api/v1/sites/{_q(site_id)}")


@router.get("/organisations", summary="Organisations (data core)")
async def organisations(request: Request) -> Response:
    return await _get(request, "/api/v1/organisations")


@router.get("/readings/extent", summary="First and last hour of hourly readings and their sites (data core)")
async def readings_extent(request: Request) -> Response:
    return await _get(request, "/api/v1/readings/extent")


# --------------------------------------------------------------------------- ingest
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
    timeout = httpx.Timeout(request.app.state.settings.data_core_timeout_seconds,
                            read=request.app.state.settings.ingest_timeout_seconds)
    try:
        response = await _send(request, "POST", "/api/v1/ingest", params=request.query_params.multi_items(),
                               content=request.stream(), headers=headers, timeout=timeout)
    except UpstreamProblem as exc:
        # an all-rejected upload (422 that lists its rejects) may be a replay: say so as the data core did
        return problem_response(status=exc.status, title=exc.title, detail=exc.detail, type_suffix=exc.type_suffix,
                                request=request, headers=_passed(exc.response) or None, **exc.extensions)
    return _as_is(response)


@router.get("/ingest/batches", summary="Recent ingest batches (data core)")
async def ingest_batches(request: Request) -> Response:
    return await _get(request, "/api/v1/ingest/batches")


@router.get("/ingest/batches/{batch_id}", summary="One ingest batch and its report (data core)")
async def ingest_batch(batch_id: str, request: Request) -> Response:
    return await _get(request, f"/api/v1/ingest/batches/{_q(batch_id)}")


@router.get("/ingest/batches/{batch_id}/rejects", summary="The rejected rows of a batch with reasons (data core)")
async def ingest_batch_rejects(batch_id: str, request: Request) -> Response:
    return await _get(request, f"/api/v1/ingest/batches/{_q(batch_id)}/rejects")


@router.get("/ingest/rejects", summary="Rejected rows across batches, for review (data core)")
async def ingest_rejects(request: Request) -> Response:
    return await _get(request, "/api/v1/ingest/rejects")


# --------------------------------------------------------------------------- actual against expected
def _utc(value: datetime) -> str:
    """A datetime as UTC ISO text (naive ones are UTC already)."""
    return (value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)).isoformat()


def aggregate_residuals(csv: bytes, interval: Interval) -> dict[str, Any]:
    """Hourly residual rows (the data core's ``/residuals?format=csv``) summed per interval, activity type and
    unit: actual, expected, lower and upper, hours, and hours above the upper or below the lower bound."""
    frame = pd.read_csv(io.BytesIO(csv), engine="pyarrow", dtype=_TEXT) if csv.strip() else \
        pd.DataFrame(columns=RESIDUAL_COLUMNS)
    missing = sorted(set(RESIDUAL_COLUMNS) - set(frame.columns))
    if missing:
        raise ValueError(f"residuals without column(s) {', '.join(missing)}")
    out: dict[str, Any] = {"interval": interval, "rows": [],
                           "sites": sorted(frame["site"].dropna().astype(str).unique().tolist()),
                           "model_versions": sorted(frame["model_version"].dropna().astype(str).unique().tolist())}
    if frame.empty:
        return out
    hour = pd.to_datetime(frame["period_start"], utc=True).dt.tz_localize(None)
    if interval == "hour":
        period = hour.dt.floor("h")
    elif interval == "day":
        period = hour.dt.floor("D")
    elif interval == "week":  # Monday of the week, as the data core's time series
        period = hour.dt.floor("D") - pd.to_timedelta(hour.dt.day_of_week, unit="D")
    else:
        period = hour.dt.to_period("M").dt.start_time
    values = {c: pd.to_numeric(frame[c], errors="coerce").astype("float64")
              for c in ("actual", "expected", "lower", "upper")}
    work = pd.DataFrame({"period_start": period, "activity_type": frame["activity_type"].astype(str),
                         "unit": frame["unit"].astype(str), **values,
                         "hours": np.ones(len(frame), dtype="int64"),
                         "hours_above": (values["actual"] > values["upper"]).astype("int64"),
                         "hours_below": (values["actual"] < values["lower"]).astype("int64")})
    grouped = work.groupby(["period_start", "activity_type", "unit"], sort=True)
    sums = grouped[["actual", "expected", "lower", "upper"]].sum(min_count=1)  # all-missing bounds stay null
    counts = grouped[["hours", "hours_above", "hours_below"]].sum()
    result = sums.join(counts).reset_index()
    result["period_start"] = result["period_start"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    result = result[["period_start", "activity_type", "unit", "actual", "expected", "lower", "upper", "hours",
                     "hours_above", "hours_below"]].astype(object)
    out["rows"] = result.where(result.notna(), None).to_dict("records")
    return out


@router.get("/expected", summary="Actual against expected per interval, activity type and unit (for charts)")
async def expected(request: Request, site: list[str] = Query(default=[], max_length=1000),
                   activity_type: list[str] = Query(default=[], max_length=50),
                   start: datetime | None = None, end: datetime | None = None,
                   interval: Interval = "day") -> dict[str, Any]:
    if start and end and _utc(end) <= _utc(start):
        raise Unprocessable("end must be after start", field="end")
    params: list[tuple[str, str]] = [("format", "csv")]
    params += [("site", s) for s in site] + [("activity_type", a) for a in activity_type]
    params += [(k, _utc(v)) for k, v in (("start", start), ("end", end)) if v is not None]
    response = await _send(request, "GET", "/api/v1/residuals", params=params)
    try:
        return await asyncio.to_thread(aggregate_residuals, response.content, interval)
    except (ValueError, KeyError, TypeError) as exc:  # pandas/pyarrow parse errors are ValueErrors
        raise ServiceUnavailable(f"the data core's residuals could not be read: {type(exc).__name__}: {exc}",
                                 service="data-core") from exc


# --------------------------------------------------------------------------- ML engine
async def _ml_get(http: httpx.AsyncClient, path: str) -> Any:
    try:
        response = await http.get(path)
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(f"the ML engine is unreachable: {type(exc).__name__}", service="ml-engine") from exc
    if response.status_code >= 400:
        raise ServiceUnavailable(f"the ML engine answered {path} with {response.status_code}", service="ml-engine")
    try:
        return response.json()
    except ValueError as exc:
        raise ServiceUnavailable(f"the ML engine's {path} answer is not JSON", service="ml-engine") from exc


@router.get("/models", summary="Registered model versions (ML engine /api/v1/models) and what it serves (/version)")
async def models(request: Request) -> dict[str, Any]:
    http: httpx.AsyncClient = request.app.state.ml
    registered, serving = await asyncio.gather(_ml_get(http, "/api/v1/models"), _ml_get(http, "/version"))
    return {"registered": registered, "serving": serving}

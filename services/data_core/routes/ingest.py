"""``POST /api/v1/ingest`` and the review of batches and their rejected rows."""

from __future__ import annotations

import hashlib
import json
from typing import IO, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, select, update
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from services.common.auth import WriteAuth
from services.common.errors import NotFound, Unprocessable, UnsupportedMediaType, problem_response
from services.data_core.deps import CacheDep, ConnDep, EngineDep, SettingsDep
from services.data_core.ingest import parse
from services.data_core.ingest.layouts import XML_TYPES, Layout, read_text
from services.data_core.ingest.pipeline import IngestOptions, run_ingest
from services.data_core.models import IngestBatch, RejectedRow
from services.data_core.schemas import IngestRecords

router = APIRouter(prefix="/api/v1/ingest", tags=["ingest"])
RejectStatus = Literal["open", "fixed", "dismissed"]

_RECORD_EXAMPLE = {"site": "b0", "meter": "main", "timestamp": "2020-01-06T09:00:00Z",
                   "activity_type": "electricity", "quantity": 12.5, "unit": "kWh"}
_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "required": ["file"],
                           "properties": {"file": {"type": "string", "format": "binary",
                                                   "description": "CSV (UTF-8) or XLSX"}}}},
            "application/json": {
                "schema": {"type": "object", "required": ["records"], "additionalProperties": False,
                           "properties": {"records": {"type": "array", "minItems": 1,
                                                      "items": {"type": "object"}}}},
                "example": {"records": [_RECORD_EXAMPLE]}},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}
XLSX_TYPES = {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "application/vnd.ms-excel"}


def _sha256_stream(stream: IO[bytes], extra: str) -> str:
    digest = hashlib.sha256(extra.encode())
    stream.seek(0)
    for block in iter(lambda: stream.read(1 << 20), b""):
        digest.update(block)
    stream.seek(0)
    return digest.hexdigest()


def _answer(request: Request, report: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    """The ingest report, or a 422 problem listing the rejects when no row could be accepted."""
    if report["status"] == "rejected":
        return problem_response(
            status=422, title="No row could be accepted",
            detail=f"all {report['received']} rows were rejected; the reasons are listed and stored for review",
            type_suffix="all-rows-rejected", request=request, headers=headers, batch_status=report["status"],
            **{k: v for k, v in report.items() if k != "status"})
    return JSONResponse(report, headers=headers)


def _replay(request: Request, conn: Any, key: str, request_sha: str) -> JSONResponse | None:
    row = conn.execute(select(IngestBatch.request_sha256, IngestBatch.report).where(
        IngestBatch.idempotency_key == key)).first()
    if row is None:
        return None
    if row.request_sha256 != request_sha:
        raise Unprocessable("this Idempotency-Key was used for a different request; use a new key",
                            idempotency_key=key)
    return _answer(request, row.report, headers={"Idempotent-Replayed": "true"})


@router.post("", dependencies=[WriteAuth], openapi_extra=_BODY_DOC,
             summary="Ingest activity data (CSV/XLSX file in multipart field 'file', raw text/csv, or JSON records)",
             responses={200: {"description": "ingest report"}, 413: {"description": "too large"},
                        415: {"description": "unsupported type"}, 422: {"description": "bad input"}})
async def ingest(
    request: Request,
    engine: EngineDep,
    cache: CacheDep,
    settings: SettingsDep,
    conn: ConnDep,
    editions: list[str] = Query(default=[], max_length=10, description="edition keys to apply on purpose"),
    encoding: str | None = Query(default=None, max_length=40, description="text encoding of a CSV if not UTF-8"),
    idempotency_key: str | None = Header(default=None, alias="Idempotency-Key", max_length=200),
    layout: Layout = Query(default="auto", description="long CSV, the wide UK half-hourly CSV, or Green Button "
                           "XML; auto: from the content (docs/ingest-layouts.md)"),
    site: str | None = Query(default=None, max_length=64, description="the site of a Green Button file"),
    meter: str | None = Query(default=None, max_length=120, description="the meter of a Green Button file "
                              "(default: its UsagePoint's title)"),
) -> JSONResponse:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    chunk_rows = settings.ingest_chunk_rows
    extra = json.dumps({"editions": sorted(editions), "encoding": encoding} | (
        {"layout": layout, "site": site, "meter": meter} if (layout, site, meter) != ("auto", None, None) else {}))
    upload: UploadFile | None = None
    try:
        if content_type == "multipart/form-data":
            form = await request.form(max_files=1, max_fields=10)
            candidate = form.get("file")
            if not isinstance(candidate, UploadFile):
                raise Unprocessable("multipart field 'file' is missing or is not a file", field="file")
            upload = candidate
            name = upload.filename or "upload"
            request_sha = await run_in_threadpool(_sha256_stream, upload.file, extra)
            is_xlsx = name.lower().endswith((".xlsx", ".xlsm")) or (upload.content_type or "") in XLSX_TYPES
            source_name = name
        elif content_type in ("text/csv", "application/csv", "text/plain", *XML_TYPES):
            body = await request.body()
            import io

            stream: IO[bytes] = io.BytesIO(body)
            request_sha = hashlib.sha256(extra.encode() + body).hexdigest()
            is_xlsx, source_name = False, "text/csv body"
        elif content_type == "application/json" or content_type.endswith("+json"):
            body = await request.body()
            try:
                payload = IngestRecords.model_validate_json(body)
            except ValidationError as exc:
                fields = ", ".join(sorted({".".join(str(p) for p in e["loc"]) or "body" for e in exc.errors()}))
                raise Unprocessable(f"invalid JSON body: {fields}: {exc.errors()[0]['msg']}",
                                    errors=[{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                                            for e in exc.errors()[:20]]) from exc
            canonical = json.dumps(payload.records, sort_keys=True, default=str)
            request_sha = hashlib.sha256((extra + canonical).encode()).hexdigest()
            source_name = "json records"
        else:
            raise UnsupportedMediaType(
                f"content type '{content_type or 'none'}' is not accepted; send multipart/form-data with a "
                "'file' field, text/csv, or application/json with 'records'")

        if idempotency_key:
            replay = _replay(request, conn, idempotency_key, request_sha)
            if replay is not None:
                return replay

        if content_type == "multipart/form-data":
            assert upload is not None
            parsed = (parse.read_xlsx(upload.file, chunk_rows=chunk_rows) if is_xlsx
                      else read_text(upload.file, chunk_rows=chunk_rows, encoding=encoding, layout=layout,
                                     site=site, meter=meter))
        elif content_type in ("text/csv", "application/csv", "text/plain", *XML_TYPES):
            parsed = read_text(stream, chunk_rows=chunk_rows, encoding=encoding, layout=layout, site=site,
                               meter=meter)
        else:
            parsed = parse.read_records(payload.records, chunk_rows=chunk_rows)

        unknown = sorted(set(editions) - set(cache.get().frame["edition_key"].unique()))
        if unknown:
            raise Unprocessable(f"unknown edition(s): {', '.join(unknown)}", parameter="editions")
        opts = IngestOptions(
            source_name=source_name, request_sha256=request_sha, editions=editions,
            idempotency_key=idempotency_key, max_rejects_listed=settings.ingest_max_rejects_listed,
            orchestration_url=str(settings.orchestration_url) if settings.orchestration_url else None,
            ignored_columns=parsed.ignored_columns, workers=settings.ingest_workers)
        report = await run_in_threadpool(run_ingest, engine, cache, parsed, opts)
    finally:
        if upload is not None:
            await upload.close()
    outbox = getattr(request.app.state, "outbox", None)
    if outbox is not None and report["accepted"]:
        outbox.kick()
    return _answer(request, report)


@router.get("/batches", summary="Recent ingest batches")
def list_batches(conn: ConnDep, limit: int = Query(default=50, ge=1, le=1000),
                 offset: int = Query(default=0, ge=0, le=10_000_000)) -> list[dict[str, Any]]:
    b = IngestBatch
    rows = conn.execute(select(b.id, b.received_at, b.source_name, b.status, b.received, b.accepted, b.duplicates,
                               b.rejected, b.editions, b.ledger_version).order_by(b.received_at.desc(), b.id)
                        .limit(limit).offset(offset)).mappings()
    return [dict(r) for r in rows]


@router.get("/batches/{batch_id}", summary="One batch and its report")
def get_batch(batch_id: str, conn: ConnDep) -> dict[str, Any]:
    row = conn.execute(select(IngestBatch.__table__).where(IngestBatch.id == batch_id)).mappings().first()
    if row is None:
        raise NotFound(f"batch '{batch_id}' does not exist", batch_id=batch_id)
    return dict(row)


@router.get("/batches/{batch_id}/rejects", summary="Every rejected row of a batch, with its reasons")
def batch_rejects(batch_id: str, conn: ConnDep, limit: int = Query(default=1000, ge=1, le=100_000),
                  offset: int = Query(default=0, ge=0, le=100_000_000)) -> dict[str, Any]:
    if conn.execute(select(IngestBatch.id).where(IngestBatch.id == batch_id)).first() is None:
        raise NotFound(f"batch '{batch_id}' does not exist", batch_id=batch_id)
    r = RejectedRow
    total = conn.execute(select(func.count()).where(r.batch_id == batch_id)).scalar_one()
    rows = conn.execute(select(r.row_number.label("row"), r.column, r.reason, r.value, r.raw, r.status)
                        .where(r.batch_id == batch_id).order_by(r.row_number, r.column)
                        .limit(limit).offset(offset)).mappings()
    return {"batch_id": batch_id, "total": total, "rejects": [dict(x) for x in rows]}


@router.get("/rejects", summary="Rejected rows across batches, for review (open ones by default)")
def open_rejects(conn: ConnDep, status: RejectStatus = Query(default="open"),
                 limit: int = Query(default=100, ge=1, le=10_000),
                 offset: int = Query(default=0, ge=0, le=100_000_000)) -> dict[str, Any]:
    r = RejectedRow
    total = conn.execute(select(func.count()).where(r.status == status)).scalar_one()
    rows = conn.execute(select(r.id, r.batch_id, r.row_number.label("row"), r.column, r.reason, r.value, r.raw,
                               r.status)
                        .where(r.status == status).order_by(r.id).limit(limit).offset(offset)).mappings()
    return {"total": total, "rejects": [dict(x) for x in rows]}


class RejectReview(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: RejectStatus = Field(description="open, fixed (the corrected row was sent again) or dismissed")


@router.patch("/rejects/{reject_id}", dependencies=[WriteAuth], summary="Mark a rejected row as reviewed")
def review_reject(reject_id: int = Path(ge=1, le=2**63 - 1), *, body: RejectReview, conn: ConnDep) -> dict[str, Any]:
    r = RejectedRow
    found = conn.execute(update(r).where(r.id == reject_id).values(status=body.status)).rowcount
    if not found:
        raise NotFound(f"rejected row {reject_id} does not exist", reject_id=reject_id)
    row = conn.execute(select(r.id, r.batch_id, r.row_number.label("row"), r.column, r.reason, r.value, r.status)
                       .where(r.id == reject_id)).mappings().one()
    return dict(row)

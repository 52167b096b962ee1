"""The ingestion path: parse -> validate -> de-duplicate -> select factors -> write, atomically.

Good rows of a file commit together with their ledger rows in one transaction; rejected rows are
stored for review with their reasons in the same transaction; re-sent rows are counted as
duplicates and change nothing. The answer always reconciles:
``received == accepted + duplicates + rejected``.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, insert, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from services.common.contracts import IngestionEvent
from services.common.errors import Conflict
from services.data_core.bulk import execute_prepared, prepare_insert
from services.data_core.factors.store import FactorCache
from services.data_core.ingest import overlap, series, workers
from services.data_core.ingest.compute import (
    ACTIVITY_COLUMNS,
    ID_MASK,
    ChunkJob,
    ChunkResult,
    existing_rows,
    split_existing,
)
from services.data_core.ingest.parse import ROW, ParsedInput
from services.data_core.ingest.validate import ERROR_COLUMNS
from services.data_core.ledger import EMISSION_COLUMNS, current_version
from services.data_core.models import Activity, Emission, IngestBatch, OutboxEvent, RejectedRow
from services.data_core.rollups import add_to_rollup

log = logging.getLogger(__name__)


@dataclass
class IngestOptions:
    source_name: str
    request_sha256: str
    editions: Sequence[str] = ()
    idempotency_key: str | None = None
    max_rejects_listed: int = 1000
    orchestration_url: str | None = None
    ignored_columns: list[str] = field(default_factory=list)
    workers: int = 1


ID_BLOCK = 1 << 20  # a chunk never has more rows than this (settings.ingest_chunk_rows <= 2**20)


def allocate_block(conn: Connection) -> int:
    """The first id of a fresh block of ``ID_BLOCK`` ascending, never reused activity ids (one block per
    chunk). Ascending ids keep the primary-key indexes of activities and ledger rows append-only;
    random (hashed) ids made every insert a random B-tree insert and cost ~40 % of the ingest time."""
    if conn.dialect.name == "postgresql":  # a sequence: concurrent ingests do not wait for each other
        number = conn.execute(text("SELECT nextval('activity_id_block')")).scalar_one()
    else:  # SQLite has one writer at a time anyway
        number = conn.execute(text("UPDATE id_blocks SET next_block = next_block + 1 WHERE name = 'activities' "
                                   "RETURNING next_block")).scalar_one() - 1
    return int(number) * ID_BLOCK


@dataclass
class _Tally:
    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    kg_co2e: float = 0.0
    sites: set[str] = field(default_factory=set)
    activity_types: set[str] = field(default_factory=set)
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    errors: list[pd.DataFrame] = field(default_factory=list)
    raw: dict[int, dict[str, str]] = field(default_factory=dict)
    # the periods this request already accepted: for overlaps across its chunks, and (their series' time boxes)
    # to know without a query whether a later chunk may repeat one of them
    periods: overlap.Periods = field(default_factory=overlap.Periods)


def _reject(tally: _Tally, bad: pd.DataFrame, errors: pd.DataFrame) -> None:
    """Count computed rows the writer rejects after all (they clash with an earlier chunk of this request)."""
    tally.errors.append(errors)
    tally.rejected += len(bad)
    tally.raw.update({int(r): {k: str(v) for k, v in row.items()}
                      for r, row in zip(bad[ROW], bad[ACTIVITY_COLUMNS[1:11]].to_dict("records"), strict=True)})


def _apply(conn: Connection, result: ChunkResult, tally: _Tally) -> None:
    """Write one computed chunk in this transaction and count it."""
    tally.received += result.received
    tally.duplicates += result.duplicates
    tally.rejected += result.rejected
    if not result.errors.empty:
        tally.errors.append(result.errors)
    tally.raw.update(result.raw)
    acts, emissions = result.activities, result.emissions
    inside = tally.periods.inside(acts)
    if inside.any():
        # a row inside what an earlier chunk of this request accepted of its series may repeat one of those
        # rows: our own transaction decides
        same, conflict, errors = split_existing(acts, existing_rows(conn, acts[inside]))
        if conflict.any():
            _reject(tally, acts[conflict], errors)
        tally.duplicates += int(same.sum())
        keep = ~(same | conflict)
        emissions = emissions[emissions["activity_id"].isin(acts.loc[keep, "id"])]
        acts = acts[keep]
    over, over_errors = tally.periods.check(acts, what="row ", after=" of this file")
    if over.any():
        _reject(tally, acts[over], over_errors)
        emissions = emissions[emissions["activity_id"].isin(acts.loc[~over, "id"])]
        acts = acts[~over]
    if acts.empty:
        return
    dialect = conn.dialect.name
    execute_prepared(conn, prepare_insert(dialect, Activity.__tablename__, acts[ACTIVITY_COLUMNS],
                                          not_null_text=("meter", "naics_code", "supplier")))
    execute_prepared(conn, prepare_insert(dialect, Emission.__tablename__, emissions[EMISSION_COLUMNS]))
    add_to_rollup(conn, emissions)
    series.widen(conn, acts)
    tally.periods.add(acts, acts[ROW].to_numpy())
    tally.accepted += len(acts)
    tally.kg_co2e += float(emissions["kg_co2e"].sum())
    tally.sites.update(acts["site_id"].unique().tolist())
    tally.activity_types.update(acts["activity_type"].unique().tolist())
    lo, hi = acts["period_start"].min(), acts["period_end"].max()
    tally.start = lo if tally.start is None else min(tally.start, lo)
    tally.end = hi if tally.end is None else max(tally.end, hi)


def _store_rejects(conn: Connection, batch_id: str, errors: pd.DataFrame, raw: dict[int, dict[str, str]]) -> None:
    if errors.empty:
        return
    frame = errors.copy()
    frame["row"] = frame["row"].astype(int)
    frame["raw"] = frame["row"].map(lambda r: json.dumps(raw.get(int(r), {}), sort_keys=True))
    frame["value"] = frame["value"].astype(str)
    keyed = frame[["raw", "column", "reason"]].astype(str)
    frame["reject_key"] = (pd.util.hash_pandas_object(keyed, index=False).to_numpy() & ID_MASK).astype(np.int64)
    frame = frame.drop_duplicates("reject_key")
    rows = [
        {"reject_key": int(k), "batch_id": batch_id, "row_number": int(r), "column": str(c), "reason": str(why),
         "value": v[:1000], "raw": json.loads(j), "status": "open"}
        for k, r, c, why, v, j in zip(frame["reject_key"], frame["row"], frame["column"], frame["reason"],
                                      frame["value"], frame["raw"], strict=True)
    ]
    table = RejectedRow.__table__
    stmt = (pg_insert(table) if conn.dialect.name == "postgresql" else sqlite_insert(table)).on_conflict_do_nothing(
        index_elements=["reject_key"])
    for start in range(0, len(rows), 5000):
        conn.execute(stmt, rows[start : start + 5000])


def run_ingest(engine: Engine, cache: FactorCache, parsed: ParsedInput, opts: IngestOptions) -> dict[str, Any]:
    """Ingest everything in ``parsed`` in one transaction and return the report."""
    batch_id = uuid.uuid4().hex
    tally = _Tally()
    try:
        with engine.begin() as conn:
            version = current_version(conn, lock=True)
            url = engine.url.render_as_string(hide_password=False)
            pool = workers.executor(opts.workers, url)
            cache.get(conn)  # reload the factor table here if it changed, before workers read it
            pending: deque[Future[ChunkResult]] = deque()
            try:
                for chunk in parsed.chunks:
                    job = ChunkJob(database_url=url, chunk=chunk, editions=tuple(opts.editions), version=version,
                                   batch_id=batch_id, id_start=allocate_block(conn))
                    pending.append(workers.submit(pool, job))
                    if len(pending) > 1:  # the worker computes chunk k+1 while this process writes chunk k
                        _apply(conn, pending.popleft().result(), tally)
                while pending:
                    _apply(conn, pending.popleft().result(), tally)
            finally:
                for future in pending:
                    future.cancel()
            for refused in parsed.rejects:  # rows a layout reader refused (layouts.py)
                tally.received += int(refused["row"].nunique())
                tally.rejected += int(refused["row"].nunique())
                tally.errors.append(refused[ERROR_COLUMNS])
                tally.raw.update(dict(zip(refused["row"].astype(int), refused["raw"], strict=True)))
            errors = pd.concat(tally.errors, ignore_index=True) if tally.errors else pd.DataFrame(columns=ERROR_COLUMNS)
            _store_rejects(conn, batch_id, errors, tally.raw)
            report = _report(batch_id, version, tally, errors, opts)
            conn.execute(insert(IngestBatch.__table__).values(
                id=batch_id, source_name=opts.source_name[:300], content_sha256=opts.request_sha256,
                idempotency_key=opts.idempotency_key, request_sha256=opts.request_sha256, status=report["status"],
                received=tally.received, accepted=tally.accepted, duplicates=tally.duplicates,
                rejected=tally.rejected, editions=list(opts.editions), ledger_version=version, report=report))
            if opts.orchestration_url and tally.accepted:
                event = IngestionEvent(
                    event_id=uuid.uuid4().hex, batch_id=batch_id, occurred_at=datetime.now(UTC),
                    accepted=tally.accepted, sites=sorted(tally.sites),
                    period_start=tally.start.to_pydatetime() if tally.start is not None else None,
                    period_end=tally.end.to_pydatetime() if tally.end is not None else None,
                    activity_types=sorted(tally.activity_types))
                conn.execute(insert(OutboxEvent.__table__).values(
                    id=event.event_id, type=event.type, payload=event.model_dump(mode="json"), attempts=0,
                    next_attempt_at=datetime.now(UTC).replace(tzinfo=None)))
    except IntegrityError as exc:
        if opts.idempotency_key and "idempotency_key" in str(exc.orig):
            raise Conflict("a request with this Idempotency-Key is being processed or was just stored; retry to "
                           "receive its result", idempotency_key=opts.idempotency_key) from exc
        raise Conflict("another ingest of the same rows committed at the same time; send the file again and its "
                       "rows will be counted as duplicates") from exc
    assert tally.received == tally.accepted + tally.duplicates + tally.rejected, "ingest counts do not reconcile"
    log.info("ingest committed", extra={k: report[k] for k in ("batch_id", "received", "accepted", "duplicates",
                                                                  "rejected")})
    return report


def _report(batch_id: str, version: int, tally: _Tally, errors: pd.DataFrame, opts: IngestOptions) -> dict[str, Any]:
    errors = errors.sort_values(["row", "column"], kind="stable") if not errors.empty else errors
    listed = errors.head(opts.max_rejects_listed)
    if tally.accepted:
        status = "committed"
    elif tally.duplicates:
        status = "nothing-new"
    else:
        status = "rejected"
    return {
        "batch_id": batch_id,
        "status": status,
        "received": tally.received,
        "accepted": tally.accepted,
        "duplicates": tally.duplicates,
        "rejected": tally.rejected,
        "rejects": [
            {"row": int(r), "column": str(c), "reason": str(why), "value": str(v)}
            for r, c, why, v in zip(listed["row"], listed["column"], listed["reason"], listed["value"], strict=True)
        ],
        "rejects_total": len(errors),
        "rejects_truncated": len(errors) > len(listed),
        "rejects_url": f"/api/v1/ingest/batches/{batch_id}/rejects",
        "ledger_version": version,
        "editions": list(opts.editions),
        "ignored_columns": opts.ignored_columns,
        "kg_co2e": round(tally.kg_co2e, 6),
        "sites": sorted(tally.sites),
        "period_start": tally.start.isoformat() if tally.start is not None else None,
        "period_end": tally.end.isoformat() if tally.end is not None else None,
    }

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
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, and_, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from services.common.contracts import IngestionEvent
from services.common.errors import Conflict, Unprocessable
from services.data_core.bulk import bulk_insert
from services.data_core.factors.store import FactorCache
from services.data_core.ingest.parse import ROW, ParsedInput
from services.data_core.ingest.validate import ERROR_COLUMNS, Reference, validate
from services.data_core.ledger import calculate, current_version
from services.data_core.models import Activity, Emission, IngestBatch, OutboxEvent, RejectedRow, Site
from services.data_core.rollups import add_to_rollup

log = logging.getLogger(__name__)
KEY = ["site_id", "meter", "activity_type", "naics_code", "period_start", "period_end"]
ID_MASK = np.uint64(0x7FFF_FFFF_FFFF_FFFF)
ACTIVITY_COLUMNS = ["id", "site_id", "meter", "activity_type", "naics_code", "period_start", "period_end",
                    "quantity", "unit", "supplier", "scope3_category", "batch_id"]


@dataclass
class IngestOptions:
    source_name: str
    request_sha256: str
    editions: Sequence[str] = ()
    idempotency_key: str | None = None
    max_rejects_listed: int = 1000
    orchestration_url: str | None = None
    ignored_columns: list[str] = field(default_factory=list)


class AllRowsRejected(Unprocessable):
    title = "No row could be accepted"
    type_suffix = "all-rows-rejected"


def activity_ids(frame: pd.DataFrame) -> np.ndarray:
    """63-bit ids from the natural key; duplicates are judged on the key columns, not on this hash."""
    keyed = pd.DataFrame({
        "s": frame["site_id"].astype(str).to_numpy(dtype=object),
        "m": frame["meter"].astype(str).to_numpy(dtype=object),
        "a": frame["activity_type"].astype(str).to_numpy(dtype=object),
        "n": frame["naics_code"].astype(str).to_numpy(dtype=object),
        "b": frame["period_start"].astype("datetime64[us]").astype("int64").to_numpy(),
        "e": frame["period_end"].astype("datetime64[us]").astype("int64").to_numpy(),
    })
    hashed = pd.util.hash_pandas_object(keyed, index=False).to_numpy()
    return (hashed & ID_MASK).astype(np.int64)


def _reference(conn: Connection, cache: FactorCache) -> tuple[Reference, Any]:
    table = cache.get(conn)
    sites = pd.read_sql(select(Site.id, Site.org_id, Site.country, Site.grid_region, Site.renewable_share), conn)
    sites = sites.set_index("id")
    dims = table.frame.loc[table.frame["method"] != "market", ["activity_type", "unit_dim", "unit"]].drop_duplicates()
    return Reference(sites=sites, activity_dims=dims), table


def _existing(conn: Connection, frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame(columns=[*KEY, "quantity_db", "unit_db", "batch_db"])
    a = Activity.__table__.c
    stmt = select(a.site_id, a.meter, a.activity_type, a.naics_code, a.period_start, a.period_end,
                  a.quantity.label("quantity_db"), a.unit.label("unit_db"), a.batch_id.label("batch_db")).where(
        and_(a.site_id.in_(sorted(frame["site_id"].unique())),
             a.period_start >= frame["period_start"].min().to_pydatetime(),
             a.period_start <= frame["period_start"].max().to_pydatetime()))
    found = pd.read_sql(stmt, conn)
    found["period_start"] = pd.to_datetime(found["period_start"]).astype("datetime64[us]")
    found["period_end"] = pd.to_datetime(found["period_end"]).astype("datetime64[us]")
    for col in ("site_id", "meter", "activity_type", "naics_code"):
        found[col] = found[col].fillna("").astype(str)
    return found


def _raw_rows(chunk: pd.DataFrame, labels: pd.Index) -> dict[Any, dict[str, str]]:
    cols = [c for c in chunk.columns if c != ROW]
    sub = chunk.loc[labels, cols]
    return dict(zip(labels, sub.to_dict("records"), strict=True))


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


def _process_chunk(conn: Connection, chunk: pd.DataFrame, ref: Reference, table: Any, version: int,
                   batch_id: str, opts: IngestOptions, tally: _Tally) -> None:
    tally.received += len(chunk)
    checked = validate(chunk, ref)
    rejected_here: set[Any] = set(checked.bad_rows)
    errors = [checked.errors]
    good = checked.good

    # the same key twice in this chunk: identical = duplicate, different = conflict
    dup = good.duplicated(subset=KEY, keep="first")
    if dup.any():
        first = good[~dup].reset_index().set_index(KEY)
        later = good[dup].reset_index()
        ref_rows = first.reindex(pd.MultiIndex.from_frame(later[KEY]))
        same = (later["quantity"].to_numpy() == ref_rows["quantity"].to_numpy()) & (
            later["unit"].to_numpy() == ref_rows["unit"].to_numpy())
        conflicts = later[~same]
        if not conflicts.empty:
            errors.append(pd.DataFrame({
                "row": conflicts[ROW].to_numpy(), "column": "quantity",
                "reason": "same site, meter, activity and period as row " + ref_rows[ROW][~same].astype(str).to_numpy()
                + " with a different quantity or unit",
                "value": conflicts["quantity"].astype(str).to_numpy()}))
            rejected_here.update(conflicts["index"].tolist())
        tally.duplicates += int(same.sum())
        good = good[~dup]

    existing = _existing(conn, good)
    if not existing.empty:
        merged = good.reset_index().merge(existing, on=KEY, how="left")
        found = merged["quantity_db"].notna().to_numpy()
        same = found & (merged["quantity"].to_numpy() == merged["quantity_db"].to_numpy()) & (
            merged["unit"].to_numpy() == merged["unit_db"].to_numpy())
        conflict = found & ~same
        if conflict.any():
            c = merged[conflict]
            errors.append(pd.DataFrame({
                "row": c[ROW].to_numpy(), "column": "quantity",
                "reason": "conflicts with the stored record from batch " + c["batch_db"].astype(str)
                + " (" + c["quantity_db"].astype(str) + " " + c["unit_db"].astype(str)
                + "); stored data is never overwritten silently",
                "value": c["quantity"].astype(str).to_numpy()}))
            rejected_here.update(c["index"].tolist())
        tally.duplicates += int(same.sum())
        good = good[~found]

    good = good.copy()
    good["activity_id"] = activity_ids(good)
    emissions, reasons = calculate(good, table, version_id=version, applied_editions=opts.editions)
    if not reasons.empty:
        errors.append(pd.DataFrame({"row": good.loc[reasons.index, ROW].to_numpy(), "column": "activity_type",
                                    "reason": reasons.to_numpy(),
                                    "value": good.loc[reasons.index, "activity_type"].to_numpy()}))
        rejected_here.update(reasons.index.tolist())
        good = good.drop(index=reasons.index)

    if not good.empty:
        acts = good.rename(columns={"activity_id": "id"})
        acts["batch_id"] = batch_id
        bulk_insert(conn, Activity.__tablename__, acts[ACTIVITY_COLUMNS], not_null_text=("meter", "naics_code", "supplier"))
        bulk_insert(conn, Emission.__tablename__, emissions)
        add_to_rollup(conn, emissions, table.editions)
        tally.accepted += len(good)
        tally.kg_co2e += float(emissions["kg_co2e"].sum())
        tally.sites.update(good["site_id"].unique().tolist())
        tally.activity_types.update(good["activity_type"].unique().tolist())
        lo, hi = good["period_start"].min(), good["period_end"].max()
        tally.start = lo if tally.start is None else min(tally.start, lo)
        tally.end = hi if tally.end is None else max(tally.end, hi)

    tally.rejected += len(rejected_here)
    merged_errors = pd.concat([e for e in errors if not e.empty], ignore_index=True) if any(
        not e.empty for e in errors) else pd.DataFrame(columns=ERROR_COLUMNS)
    if not merged_errors.empty:
        tally.errors.append(merged_errors)
        raw = _raw_rows(chunk, pd.Index(sorted(rejected_here)))
        by_row = {int(chunk.at[label, ROW]): values for label, values in raw.items()}
        tally.raw.update(by_row)


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
            ref, table = _reference(conn, cache)
            for chunk in parsed.chunks:
                _process_chunk(conn, chunk, ref, table, version, batch_id, opts, tally)
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

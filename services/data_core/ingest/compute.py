"""The CPU-bound half of ingestion for one chunk: validate, de-duplicate against stored data, select
factors and calculate the ledger rows. Pure pandas, no writes.

It runs in a worker process (``workers.py``) while the request's own process writes the previous
chunk: on two cores the pandas work and the database writes overlap instead of sharing one
interpreter lock. It reads the database through its own read-only connection, which sees committed
data; rows that an earlier chunk of the *same* request wrote (not yet committed) are caught by the
writing side (``pipeline.py``) with the time boxes of what the request accepted of each series.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, select

from services.data_core.db import make_engine
from services.data_core.factors.store import FactorCache, FactorTable
from services.data_core.ingest import overlap, series
from services.data_core.ingest.parse import ROW
from services.data_core.ingest.validate import ERROR_COLUMNS, Reference, validate
from services.data_core.ledger import calculate
from services.data_core.models import Site

KEY = ["site_id", "meter", "activity_type", "naics_code", "period_start", "period_end"]
SERIES_COLUMNS = [overlap.SERIES, overlap.START_S, overlap.END_S]
ID_MASK = np.uint64(0x7FFF_FFFF_FFFF_FFFF)
ACTIVITY_COLUMNS = ["id", "site_id", "meter", "activity_type", "naics_code", "period_start", "period_end",
                    "quantity", "unit", "supplier", "scope3_category", "batch_id"]


@dataclass
class ChunkJob:
    database_url: str
    chunk: pd.DataFrame
    editions: tuple[str, ...]
    version: int
    batch_id: str
    id_start: int  # first id of the block allocated to this chunk (ids are id_start, id_start + 1, ...)


@dataclass
class ChunkResult:
    received: int
    duplicates: int
    rejected: int
    errors: pd.DataFrame  # ERROR_COLUMNS
    raw: dict[int, dict[str, str]]  # row number -> the rejected row as sent
    activities: pd.DataFrame  # ACTIVITY_COLUMNS + ROW + SERIES_COLUMNS (series hash, start/end seconds)
    emissions: pd.DataFrame  # ledger rows (+ site_id, activity_type, period_start, edition_key for the rollup)


def existing_rows(conn: Connection, frame: pd.DataFrame) -> pd.DataFrame:
    """Stored readings that may share a key with ``frame`` or overlap one of its rows (``series.stored_near``:
    none without a query when the chunk lies outside the stored time boxes of its series)."""
    return series.stored_near(conn, frame)


def split_existing(frame: pd.DataFrame, existing: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """For each row of ``frame``: stored identically (duplicate: the current reading, or one a correction
    superseded, so re-sending an old file changes nothing), stored differently (conflict, with its reject
    records naming the current reading when there is one)."""
    if existing.empty or frame.empty:
        none = np.zeros(len(frame), dtype=bool)
        return none, none, pd.DataFrame(columns=ERROR_COLUMNS)
    left = frame[[*KEY, "quantity", "unit", ROW]].reset_index(drop=True).rename_axis("_pos").reset_index()
    merged = left.merge(existing, on=KEY, how="inner")
    equal = (merged["quantity"].to_numpy() == merged["quantity_db"].to_numpy()) & (
        merged["unit"].to_numpy() == merged["unit_db"].to_numpy())
    same = np.zeros(len(frame), dtype=bool)
    same[merged.loc[equal, "_pos"].to_numpy()] = True
    found = np.zeros(len(frame), dtype=bool)
    found[merged["_pos"].to_numpy()] = True
    conflict = found & ~same
    c = (merged[conflict[merged["_pos"].to_numpy()]]
         .assign(_old=lambda m: m["superseded_db"].notna()).sort_values(["_pos", "_old"], kind="stable")
         .drop_duplicates("_pos"))
    replacement = c["superseded_db"].astype("Int64").astype(str)
    superseded = np.where(c["_old"], " (corrected since: reading " + replacement + " replaced it)", "")
    to_correct = np.where(c["_old"], replacement, c["id_db"].astype(str))
    errors = pd.DataFrame({
        "row": c[ROW].to_numpy(), "column": "quantity",
        "reason": ("conflicts with the stored record from batch " + c["batch_db"].astype(str)
                   + " (" + c["quantity_db"].astype(str) + " " + c["unit_db"].astype(str) + ")" + superseded
                   + "; stored data is never overwritten silently: correct a reading with POST "
                   "/api/v1/activities/" + to_correct + "/corrections"),
        "value": c["quantity"].astype(str).to_numpy()})
    return same, conflict, errors


class _Reference:
    """Per process: an engine per database and the reference data (sites, factors) per batch."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.engines: OrderedDict[str, tuple[Engine, FactorCache]] = OrderedDict()
        self.batches: OrderedDict[tuple[str, str], tuple[Reference, FactorTable]] = OrderedDict()

    def engine(self, url: str) -> tuple[Engine, FactorCache]:
        with self.lock:
            if url not in self.engines:
                engine = make_engine(url, **({} if url.startswith("sqlite") else {"pool_size": 2}))
                self.engines[url] = (engine, FactorCache(engine))
                while len(self.engines) > 4:  # tests create many databases; keep a few
                    _, (old, _cache) = self.engines.popitem(last=False)
                    old.dispose()
            self.engines.move_to_end(url)
            return self.engines[url]

    def for_batch(self, url: str, batch_id: str, conn: Connection, cache: FactorCache) -> tuple[Reference, FactorTable]:
        key = (url, batch_id)
        with self.lock:
            if key in self.batches:
                return self.batches[key]
        table = cache.get(conn)
        sites = pd.read_sql(select(Site.id, Site.org_id, Site.country, Site.grid_region, Site.renewable_share), conn)
        dims = table.frame.loc[table.frame["method"] != "market", ["activity_type", "unit_dim", "unit"]]
        reference = (Reference(sites=sites.set_index("id"), activity_dims=dims.drop_duplicates()), table)
        with self.lock:
            self.batches[key] = reference
            while len(self.batches) > 8:
                self.batches.popitem(last=False)
        return reference


_REFERENCE = _Reference()


def warm_up() -> bool:
    """Called once in a new worker so the first real chunk does not pay for the imports."""
    return True


def compute_chunk(job: ChunkJob) -> ChunkResult:
    engine, cache = _REFERENCE.engine(job.database_url)
    chunk = job.chunk
    with engine.connect() as conn:
        ref, table = _REFERENCE.for_batch(job.database_url, job.batch_id, conn, cache)
        checked = validate(chunk, ref)
        rejected: set[Any] = set(checked.bad_rows)
        errors = [checked.errors]
        good = overlap.series_columns(checked.good)  # series hash and seconds, reused by the writer
        duplicates = 0

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
                    "reason": "same site, meter, activity and period as row "
                    + ref_rows[ROW][~same].astype(str).to_numpy() + " with a different quantity or unit",
                    "value": conflicts["quantity"].astype(str).to_numpy()}))
                rejected.update(conflicts["index"].tolist())
            duplicates += int(same.sum())
            good = good[~dup]

        stored = existing_rows(conn, good)
        same_db, conflict_db, conflict_errors = split_existing(good, stored)
        if conflict_db.any():
            errors.append(conflict_errors)
            rejected.update(good.index[conflict_db].tolist())
        duplicates += int(same_db.sum())
        good = good[~(same_db | conflict_db)]

        # overlaps: with a stored reading, then with an earlier row of this chunk
        current = stored[stored["superseded_db"].isna()]  # a superseded reading no longer counts
        over_db, over_errors = overlap.against(good, current.assign(label=current["id_db"].astype(str)))
        over_file, file_errors = overlap.within(good[~over_db])
        errors.extend([over_errors, file_errors])
        drop = good.index[over_db].append(good[~over_db].index[over_file])
        rejected.update(drop.tolist())
        good = good.drop(index=drop).copy()

    good["activity_id"] = np.arange(job.id_start, job.id_start + len(good), dtype=np.int64)
    emissions, reasons = calculate(good, table, version_id=job.version, applied_editions=job.editions)
    if not reasons.empty:
        errors.append(pd.DataFrame({"row": good.loc[reasons.index, ROW].to_numpy(), "column": "activity_type",
                                    "reason": reasons.to_numpy(),
                                    "value": good.loc[reasons.index, "activity_type"].to_numpy()}))
        rejected.update(reasons.index.tolist())
        good = good.drop(index=reasons.index)

    acts = good.rename(columns={"activity_id": "id"})
    acts["batch_id"] = job.batch_id
    merged_errors = pd.concat([e for e in errors if not e.empty], ignore_index=True) if any(
        not e.empty for e in errors) else pd.DataFrame(columns=ERROR_COLUMNS)
    raw: dict[int, dict[str, str]] = {}
    if rejected:
        labels = pd.Index(sorted(rejected))
        cols = [c for c in chunk.columns if c != ROW]
        rows = chunk.loc[labels, ROW].astype(int).tolist()
        raw = dict(zip(rows, chunk.loc[labels, cols].to_dict("records"), strict=True))
    return ChunkResult(received=len(chunk), duplicates=duplicates, rejected=len(rejected), errors=merged_errors,
                       raw=raw, activities=acts[[*ACTIVITY_COLUMNS, ROW, *SERIES_COLUMNS]], emissions=emissions)

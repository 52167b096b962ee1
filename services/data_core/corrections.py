"""Corrections: a stored reading replaced on purpose, through a new ledger version, never overwritten.

One request corrects one or many readings in one transaction:

* each new reading is validated like an ingested row (site, activity type, unit of the right kind, period)
  and checked for overlaps against the *current* readings of its series (the reading it replaces and the
  other readings corrected in the same request excepted) and against the request's other new readings;
* the new reading is stored with the next ``revision`` of its natural key; the old one is kept and marked
  ``superseded_by`` the new one, and a ``corrections`` row says who, when and why;
* a new ledger version (child of the current one) holds every ledger row of the current version except the
  corrected readings', plus the new readings' rows calculated with the current version's editions; its rollup
  is built and it becomes current. The parent version still reproduces the old totals;
* re-sending a correction already made changes nothing (the answer says ``replayed``); correcting a reading
  another correction already replaced is refused (409) naming its replacement.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, bindparam, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from services.common.contracts import IngestionEvent
from services.common.errors import Conflict, NotFound, Unprocessable
from services.data_core import units
from services.data_core.bulk import bulk_insert
from services.data_core.factors.store import FactorCache
from services.data_core.ingest import overlap, series
from services.data_core.ingest.compute import ACTIVITY_COLUMNS, KEY
from services.data_core.ingest.parse import ROW
from services.data_core.ingest.pipeline import allocate_block
from services.data_core.ingest.validate import Reference, validate
from services.data_core.ledger import EMISSION_COLUMNS, calculate, current_version, set_current
from services.data_core.models import Activity, Correction, Emission, LedgerVersion, OutboxEvent, Site
from services.data_core.rollups import build_rollup

_A = Activity.__table__.c
READING = ["id", "site_id", "meter", "activity_type", "naics_code", "period_start", "period_end", "quantity", "unit",
           "supplier", "scope3_category", "revision", "superseded_by"]
ID_CHUNK = 500  # ids per IN list


@dataclass
class Change:
    """The new reading for stored reading ``activity_id`` (a period left out keeps the old one)."""

    activity_id: int
    quantity: float
    unit: str
    period_start: datetime | None = None
    period_end: datetime | None = None


def _naive(value: datetime | None) -> datetime | None:
    return value if value is None or value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)


def _iso(value: Any) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _chunks(ids: Sequence[int]) -> list[list[int]]:
    return [list(ids[i : i + ID_CHUNK]) for i in range(0, len(ids), ID_CHUNK)]


def _readings(conn: Connection, ids: Sequence[int]) -> pd.DataFrame:
    parts = [pd.DataFrame(conn.execute(select(*(_A[c] for c in READING)).where(_A.id.in_(part))).mappings().all(),
                          columns=READING) for part in _chunks(ids)]
    found = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=READING)
    for col in ("period_start", "period_end"):
        found[col] = pd.to_datetime(found[col]).astype("datetime64[us]")
    found["superseded_by"] = found["superseded_by"].astype("Int64")
    return found.set_index("id", drop=False)


def _reference(conn: Connection, cache: FactorCache) -> tuple[Reference, Any]:
    table = cache.get(conn)
    sites = pd.read_sql(select(Site.id, Site.org_id, Site.country, Site.grid_region, Site.renewable_share), conn)
    dims = table.frame.loc[table.frame["method"] != "market", ["activity_type", "unit_dim", "unit"]]
    return Reference(sites=sites.set_index("id"), activity_dims=dims.drop_duplicates()), table


def _rejects(errors: pd.DataFrame, changes: Sequence[Change]) -> list[dict[str, Any]]:
    """Reject records with the request's item number (``row``, from 0) and the reading it corrects."""
    return [{"item": int(r) - 1, "activity_id": changes[int(r) - 1].activity_id, "column": str(c), "reason": str(why),
             "value": str(v)} for r, c, why, v in zip(errors["row"], errors["column"], errors["reason"],
                                                      errors["value"], strict=True)]


def _same(change: Change, reading: pd.Series) -> bool:
    """Whether ``reading`` is what ``change`` asks for (quantity, unit, period)."""
    try:
        unit = units.normalise_unit(change.unit)
    except units.UnknownUnit:
        return False
    start = _naive(change.period_start) or reading["period_start"]
    end = _naive(change.period_end) or reading["period_end"]
    return (float(reading["quantity"]) == float(change.quantity) and str(reading["unit"]) == unit
            and pd.Timestamp(reading["period_start"]) == pd.Timestamp(start)
            and pd.Timestamp(reading["period_end"]) == pd.Timestamp(end))


def _answer(rows: list[dict[str, Any]], *, version: int, parent: int, replayed: bool,
            kg_before: float, kg_after: float) -> dict[str, Any]:
    return {"ledger_version": version, "parent_version": parent, "replayed": replayed,
            "kg_co2e_removed": round(kg_before, 6), "kg_co2e_added": round(kg_after, 6), "corrections": rows}


def _correction_rows(conn: Connection, ids: Sequence[int]) -> list[dict[str, Any]]:
    c = Correction.__table__.c
    rows: list[dict[str, Any]] = []
    for part in _chunks(ids):
        rows.extend(dict(r) for r in conn.execute(select(Correction.__table__).where(c.activity_id.in_(part))
                                                  .order_by(c.created_at, c.id)).mappings())
    return rows


def _split_replays(conn: Connection, changes: Sequence[Change], old: pd.DataFrame) -> list[int]:
    """Positions of the changes already made (replays). A change of a reading that another correction replaced
    differently is a conflict."""
    done = old[old["superseded_by"].notna()]
    if done.empty:
        return []
    replacements = _readings(conn, done["superseded_by"].astype("int64").tolist())
    replayed = []
    for i, change in enumerate(changes):
        if change.activity_id not in done.index:
            continue
        new_id = int(done.loc[change.activity_id, "superseded_by"])
        if _same(change, replacements.loc[new_id]):
            replayed.append(i)
            continue
        raise Conflict(f"reading {change.activity_id} was already corrected: reading {new_id} replaced it; correct "
                       f"reading {new_id} instead (POST /api/v1/activities/{new_id}/corrections)",
                       activity_id=change.activity_id, replacement_id=new_id)
    return replayed


def _new_readings(changes: Sequence[Change], old: pd.DataFrame, ref: Reference) -> pd.DataFrame:
    """The new readings validated like ingested rows (``ROW`` = item number + 1), or a 422 with the reasons."""
    base = old.loc[[c.activity_id for c in changes]].reset_index(drop=True)
    chunk = pd.DataFrame({
        "site": base["site_id"].astype(str), "meter": base["meter"].astype(str),
        "activity_type": base["activity_type"].astype(str), "naics_code": base["naics_code"].fillna("").astype(str),
        "supplier": base["supplier"].fillna("").astype(str),
        "scope3_category": ["" if pd.isna(v) else str(int(v)) for v in base["scope3_category"]],
        "quantity": [repr(float(c.quantity)) for c in changes], "unit": [c.unit for c in changes],
        "period_start": [_iso(_naive(c.period_start) or s) for c, s in zip(changes, base["period_start"], strict=True)],
        "period_end": [_iso(_naive(c.period_end) or e) for c, e in zip(changes, base["period_end"], strict=True)],
        ROW: np.arange(1, len(changes) + 1)})
    checked = validate(chunk, ref)
    if not checked.errors.empty:
        raise Unprocessable("the correction is not a valid reading; nothing was changed",
                            rejects=_rejects(checked.errors, changes))
    return checked.good


def _check_overlaps(conn: Connection, good: pd.DataFrame, replaced: Sequence[int], changes: Sequence[Change]) -> None:
    """A 422 when a new reading overlaps a current reading of its series (not one being replaced) or another
    new reading of this request."""
    stored = series.stored_near(conn, good)
    current = stored[stored["superseded_db"].isna() & ~stored["id_db"].isin(list(replaced))]
    hit, errors = overlap.against(good, current.assign(label=current["id_db"].astype(str)))
    inner, inner_errors = overlap.within(good[~hit])
    errors = pd.concat([e for e in (errors, inner_errors) if not e.empty] or [errors], ignore_index=True)
    if not errors.empty:
        errors["reason"] = errors["reason"].str.replace(" of this file", " of this request", regex=False)
        raise Unprocessable("the corrected reading would overlap another reading; nothing was changed",
                            rejects=_rejects(errors, changes))


def _revisions(conn: Connection, good: pd.DataFrame) -> np.ndarray:
    """The next revision of each new reading's natural key (0 when the key is new)."""
    stored = series.stored_near(conn, good)
    if stored.empty:
        return np.zeros(len(good), dtype=np.int64)
    top = stored.groupby(KEY, as_index=False)["revision_db"].max()
    merged = good[KEY].reset_index(drop=True).merge(top, on=KEY, how="left")
    return (merged["revision_db"].fillna(-1).to_numpy(dtype=np.int64) + 1)


def correct(engine: Engine, cache: FactorCache, changes: Sequence[Change], *, requested_by: str, reason: str,
            orchestration_url: str | None = None) -> dict[str, Any]:
    """Apply ``changes`` in one transaction and return what was done (see the module's docstring)."""
    ids = [c.activity_id for c in changes]
    if len(set(ids)) != len(ids):
        twice = sorted({i for i in ids if ids.count(i) > 1})
        raise Unprocessable(f"reading(s) {', '.join(map(str, twice))} appear more than once in this request",
                            field="corrections")
    try:
        return _correct(engine, cache, changes, ids, requested_by=requested_by, reason=reason,
                        orchestration_url=orchestration_url)
    except IntegrityError as exc:  # SQLite: another correction of the same reading committed between our reads
        raise Conflict("another correction of the same reading committed at the same time; send this one again "
                       "to see whether it is still needed") from exc


def _correct(engine: Engine, cache: FactorCache, changes: Sequence[Change], ids: list[int], *, requested_by: str,
             reason: str, orchestration_url: str | None) -> dict[str, Any]:
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # one version at a time; waits for ingests in progress
            conn.execute(text("LOCK TABLE ledger_versions IN EXCLUSIVE MODE"))
        parent = current_version(conn)
        old = _readings(conn, ids)
        unknown = [i for i in ids if i not in old.index]
        if unknown:
            raise NotFound(f"no reading with id {unknown[0]}" + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1
                                                                  else ""), activity_ids=unknown[:100])
        replayed = _split_replays(conn, changes, old)
        todo = [c for i, c in enumerate(changes) if i not in set(replayed)]
        if not todo:
            return _answer(_correction_rows(conn, ids), version=parent, parent=parent, replayed=True,
                           kg_before=0.0, kg_after=0.0)
        same = [c.activity_id for c in todo if _same(c, old.loc[c.activity_id])]
        if same:
            raise Unprocessable(f"the correction of reading {same[0]} equals the stored reading; nothing to correct",
                                activity_ids=same[:100])
        ref, table = _reference(conn, cache)
        good = _new_readings(todo, old, ref)
        _check_overlaps(conn, good, [c.activity_id for c in todo], todo)
        return _apply(conn, table, todo, old, good, parent=parent, requested_by=requested_by, reason=reason,
                      orchestration_url=orchestration_url, replayed_ids=[changes[i].activity_id for i in replayed])


def _apply(conn: Connection, table: Any, todo: Sequence[Change], old: pd.DataFrame, good: pd.DataFrame, *,
           parent: int, requested_by: str, reason: str, orchestration_url: str | None,
           replayed_ids: list[int]) -> dict[str, Any]:
    """Store the new readings, supersede the old ones and make the new ledger version current."""
    replaced = [c.activity_id for c in todo]
    version = int(conn.execute(select(func.max(LedgerVersion.id))).scalar() or 0) + 1
    editions = conn.execute(select(LedgerVersion.applied_editions).where(LedgerVersion.id == parent)).scalar() or []
    first = allocate_block(conn)
    good = good.assign(activity_id=np.arange(first, first + len(good), dtype=np.int64))
    emissions, missing = calculate(good, table, version_id=version, applied_editions=editions)
    if not missing.empty:
        raise Unprocessable("the corrected reading has no emission factor; nothing was changed",
                            rejects=[{"item": int(i), "activity_id": replaced[int(i)], "column": "activity_type",
                                      "reason": str(why), "value": str(good.loc[i, "activity_type"])}
                                     for i, why in missing.items()])
    batch = uuid.uuid4().hex
    acts = good.rename(columns={"activity_id": "id"}).assign(batch_id=batch, revision=_revisions(conn, good))
    bulk_insert(conn, Activity.__tablename__, acts[[*ACTIVITY_COLUMNS, "revision"]],
                not_null_text=("meter", "naics_code", "supplier"))
    conn.execute(update(Activity).where(Activity.id == bindparam("old")).values(superseded_by=bindparam("new")),
                 [{"old": o, "new": int(n)} for o, n in zip(replaced, acts["id"], strict=True)])
    series.widen(conn, acts)
    cols = ", ".join(c for c in EMISSION_COLUMNS if c != "version_id")
    copied = int(conn.execute(text(f"INSERT INTO emissions (version_id, {cols}) SELECT :new, {cols} FROM emissions "
                                   "WHERE version_id = :prev"), {"new": version, "prev": parent}).rowcount or 0)
    e = Emission.__table__.c
    kg_before = 0.0
    for part in _chunks(replaced):
        kg_before += float(conn.execute(select(func.coalesce(func.sum(e.kg_co2e), 0.0)).where(
            e.version_id == parent, e.activity_id.in_(part))).scalar_one())
        copied -= int(conn.execute(Emission.__table__.delete().where(e.version_id == version,
                                                                     e.activity_id.in_(part))).rowcount or 0)
    bulk_insert(conn, Emission.__tablename__, emissions[EMISSION_COLUMNS])
    build_rollup(conn, version)
    corrections = [{"id": uuid.uuid4().hex, "activity_id": o, "replacement_id": int(n), "version_id": version,
                    "parent_version": parent, "requested_by": requested_by, "reason": reason}
                   for o, n in zip(replaced, acts["id"], strict=True)]
    conn.execute(insert(LedgerVersion.__table__).values(
        id=version, description=f"correction of {len(todo)} reading(s) by {requested_by}: {reason}"[:2000],
        parent_id=parent, applied_editions=list(editions), filters={"corrected_readings": replaced[:1000]},
        is_current=False, recalculated_rows=len(emissions), copied_rows=copied))
    set_current(conn, version)
    conn.execute(insert(Correction.__table__), corrections)
    if orchestration_url:  # the corrected hours are judged again, like newly ingested ones
        event = IngestionEvent(event_id=uuid.uuid4().hex, batch_id=batch, occurred_at=datetime.now(UTC),
                               accepted=len(acts), sites=sorted(acts["site_id"].unique().tolist()),
                               period_start=pd.Timestamp(min(acts["period_start"].min(), old.loc[replaced,
                                                             "period_start"].min())).to_pydatetime(),
                               period_end=pd.Timestamp(max(acts["period_end"].max(), old.loc[replaced,
                                                           "period_end"].max())).to_pydatetime(),
                               activity_types=sorted(acts["activity_type"].unique().tolist()))
        conn.execute(insert(OutboxEvent.__table__).values(
            id=event.event_id, type=event.type, payload=event.model_dump(mode="json"), attempts=0,
            next_attempt_at=datetime.now(UTC).replace(tzinfo=None)))
    rows = _correction_rows(conn, [*replaced, *replayed_ids])
    return _answer(rows, version=version, parent=parent, replayed=False, kg_before=kg_before,
                   kg_after=float(emissions["kg_co2e"].sum()))


def history(conn: Connection, activity_id: int) -> dict[str, Any]:
    """A reading, what replaced it and what it replaced (the chain of corrections through it)."""
    found = _readings(conn, [activity_id])
    if found.empty:
        raise NotFound(f"no reading with id {activity_id}", activity_id=activity_id)
    c = Correction.__table__.c
    chain: list[dict[str, Any]] = []
    seen = {activity_id}
    back = activity_id
    while True:  # earlier readings this one (indirectly) replaced
        row = conn.execute(select(Correction.__table__).where(c.replacement_id == back)).mappings().first()
        if row is None or row["activity_id"] in seen:
            break
        chain.insert(0, dict(row))
        back = row["activity_id"]
        seen.add(back)
    forward = activity_id
    while True:  # later readings that replaced it
        row = conn.execute(select(Correction.__table__).where(c.activity_id == forward)).mappings().first()
        if row is None or row["replacement_id"] in seen:
            break
        chain.append(dict(row))
        forward = row["replacement_id"]
        seen.add(forward)
    reading = found.iloc[0].to_dict()
    reading = {k: (None if pd.isna(v) else v.isoformat() if isinstance(v, pd.Timestamp) else
                   int(v) if isinstance(v, np.integer) else float(v) if isinstance(v, np.floating) else v)
               for k, v in reading.items()}
    return {"reading": reading, "current": reading["superseded_by"] is None, "current_id": forward,
            "corrections": chain}

"""New ledger versions: recalculate activities with other factors, keeping every earlier version."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Engine, and_, func, insert, select, text

from services.common.errors import Unprocessable
from services.data_core import units
from services.data_core.bulk import bulk_insert
from services.data_core.factors.store import FactorCache
from services.data_core.ledger import EMISSION_COLUMNS, calculate, current_version, set_current
from services.data_core.models import Activity, Emission, LedgerVersion, Site
from services.data_core.rollups import build_rollup
from services.data_core.schemas import LedgerVersionCreate

CHUNK = 200_000


def create_version(engine: Engine, cache: FactorCache, body: LedgerVersionCreate) -> dict[str, Any]:
    table = cache.get()
    unknown = sorted(set(body.editions) - set(table.frame["edition_key"].unique()))
    if unknown:
        raise Unprocessable(f"unknown edition(s): {', '.join(unknown)}", field="editions")
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("LOCK TABLE ledger_versions IN EXCLUSIVE MODE"))
        previous = current_version(conn)
        new_id = int(conn.execute(select(func.max(LedgerVersion.id))).scalar() or 0) + 1
        a, s = Activity.__table__.c, Site.__table__.c
        clauses = [a.superseded_by.is_(None)]  # a corrected reading counts through its replacement only
        if body.start:
            clauses.append(a.period_start >= body.start.replace(tzinfo=None))
        if body.end:
            clauses.append(a.period_start < body.end.replace(tzinfo=None))
        if body.sites:
            clauses.append(a.site_id.in_(body.sites))
        if body.activity_types:
            clauses.append(a.activity_type.in_(body.activity_types))
        stmt = (select(a.id.label("activity_id"), a.site_id, a.activity_type, a.naics_code, a.period_start,
                       a.period_end, a.quantity, a.unit, a.scope3_category, s.org_id, s.country, s.grid_region,
                       s.renewable_share)
                .join_from(Activity.__table__, Site.__table__, s.id == a.site_id)
                .where(and_(*clauses)).order_by(a.id))
        recalculated = 0
        for chunk in pd.read_sql(stmt, conn, chunksize=CHUNK):
            chunk["period_start"] = pd.to_datetime(chunk["period_start"]).astype("datetime64[us]")
            chunk["period_end"] = pd.to_datetime(chunk["period_end"]).astype("datetime64[us]")
            chunk["naics_code"] = chunk["naics_code"].fillna("").astype(str)
            dims = {u: units.dimensionality(u) for u in chunk["unit"].unique()}
            chunk["unit_dim"] = chunk["unit"].map(dims)
            chunk["scope3_category"] = chunk["scope3_category"].astype("Int64")
            rows, _missing = calculate(chunk, table, version_id=new_id, applied_editions=body.editions)
            recalculated += bulk_insert(conn, Emission.__tablename__, rows[EMISSION_COLUMNS])
        cols = ", ".join(c for c in EMISSION_COLUMNS if c != "version_id")
        copied = conn.execute(text(
            f"INSERT INTO emissions (version_id, {cols}) SELECT :new, {cols} FROM emissions e "
            "WHERE e.version_id = :prev AND NOT EXISTS (SELECT 1 FROM emissions n "
            "WHERE n.version_id = :new AND n.activity_id = e.activity_id)"), {"new": new_id, "prev": previous}).rowcount
        build_rollup(conn, new_id)
        filters = {"start": body.start.isoformat() if body.start else None,
                   "end": body.end.isoformat() if body.end else None,
                   "sites": body.sites, "activity_types": body.activity_types}
        conn.execute(insert(LedgerVersion.__table__).values(
            id=new_id, description=body.description, parent_id=previous, applied_editions=list(body.editions),
            filters=filters, is_current=False, recalculated_rows=recalculated, copied_rows=int(copied or 0)))
        set_current(conn, new_id)
        row = conn.execute(select(LedgerVersion.__table__).where(LedgerVersion.id == new_id)).mappings().one()
    return dict(row)

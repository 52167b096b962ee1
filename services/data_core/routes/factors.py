"""The factor library: browse, resolve, and add custom (supplier-specific) factors."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pandas as pd
from fastapi import APIRouter, Query
from sqlalchemy import func, insert, select

from services.common.auth import WriteAuth
from services.common.errors import NotFound, Unprocessable
from services.data_core import units
from services.data_core.deps import CacheDep, ConnDep
from services.data_core.factors.selection import explain_missing, select_factors
from services.data_core.models import EmissionFactor, Organisation, Site
from services.data_core.schemas import CustomFactorCreate, FactorPublic

router = APIRouter(prefix="/api/v1/factors", tags=["factors"])


@router.get("", response_model=list[FactorPublic], summary="Search factors")
def list_factors(
    conn: ConnDep,
    activity_type: str | None = Query(default=None, max_length=80),
    region: str | None = Query(default=None, max_length=64),
    edition_key: str | None = Query(default=None, max_length=40),
    scope: int | None = Query(default=None, ge=1, le=3),
    valid_at: datetime | None = Query(default=None, description="only factors valid at this time"),
    limit: int = Query(default=100, ge=1, le=5000),
    offset: int = Query(default=0, ge=0, le=10_000_000),
) -> list[dict[str, Any]]:
    stmt = select(EmissionFactor.__table__)
    t = EmissionFactor
    if activity_type:
        stmt = stmt.where(t.activity_type == activity_type)
    if region:
        stmt = stmt.where(t.region == region)
    if edition_key:
        stmt = stmt.where(t.edition_key == edition_key)
    if scope:
        stmt = stmt.where(t.scope == scope)
    if valid_at:
        at = valid_at.replace(tzinfo=None)
        stmt = stmt.where(t.valid_from <= at).where((t.valid_to.is_(None)) | (t.valid_to > at))
    stmt = stmt.order_by(t.factor_id).limit(limit).offset(offset)
    return [dict(r) for r in conn.execute(stmt).mappings()]


@router.get("/editions", summary="Editions in the library with their validity and size")
def editions(conn: ConnDep) -> list[dict[str, Any]]:
    t = EmissionFactor
    rows = conn.execute(
        select(t.edition_key, t.source, t.edition, func.count().label("factors"),
               func.min(t.valid_from).label("valid_from"), func.max(t.valid_to).label("valid_to"),
               func.count(func.distinct(t.activity_type)).label("activity_types"))
        .group_by(t.edition_key, t.source, t.edition).order_by(t.edition_key)
    ).mappings()
    return [dict(r) for r in rows]


@router.get("/activity-types", summary="Activity types the library has factors for, with their units")
def activity_types(cache: CacheDep) -> list[dict[str, Any]]:
    f = cache.get().frame
    grouped = f.groupby("activity_type").agg(
        scope=("scope", "min"), units=("unit", lambda u: sorted(set(u))),
        regions=("region", "nunique"), editions=("edition_key", lambda e: sorted(set(e))))
    return [{"activity_type": k, "scope": int(v.scope), "units": v.units, "regions": int(v.regions),
             "editions": v.editions} for k, v in grouped.iterrows()]


@router.get("/resolve", summary="Which factor applies to an activity, and why")
def resolve(
    cache: CacheDep,
    conn: ConnDep,
    site: str = Query(max_length=64),
    activity_type: str = Query(max_length=80),
    unit: str = Query(max_length=60),
    at: datetime = Query(description="start of the activity period (UTC)"),
    hours: float = Query(default=1.0, gt=0, le=24 * 366),
    naics_code: str = Query(default="", pattern=r"^(\d{6})?$"),
    editions: list[str] = Query(default=[], max_length=10),
) -> dict[str, Any]:
    row = conn.execute(select(Site.id, Site.org_id, Site.country, Site.grid_region).where(Site.id == site)).first()
    if row is None:
        raise NotFound(f"site '{site}' does not exist", site=site)
    try:
        dim = units.dimensionality(unit)
    except units.UnknownUnit as exc:
        raise Unprocessable(str(exc), field="unit") from exc
    start = pd.Timestamp(at).tz_localize(None) if pd.Timestamp(at).tzinfo is None else \
        pd.Timestamp(at).tz_convert("UTC").tz_localize(None)
    acts = pd.DataFrame([{
        "activity_type": activity_type, "naics_code": naics_code, "unit": units.normalise_unit(unit), "unit_dim": dim,
        "period_start": start, "period_end": start + pd.Timedelta(hours=hours), "site_id": row.id,
        "org_id": row.org_id, "country": row.country, "grid_region": row.grid_region,
    }])
    acts["period_start"] = acts["period_start"].astype("datetime64[us]")
    acts["period_end"] = acts["period_end"].astype("datetime64[us]")
    table = cache.get(conn)
    unknown = sorted(set(editions) - set(table.frame["edition_key"].unique()))
    if unknown:
        raise Unprocessable(f"unknown edition(s): {', '.join(unknown)}", parameter="editions")
    chosen = select_factors(acts, table.frame, applied_editions=editions)
    factor_id = chosen["factor_id"].iloc[0]
    if pd.isna(factor_id):
        raise NotFound(explain_missing(acts, table.frame).iloc[0], activity_type=activity_type, unit=unit,
                       region=row.grid_region or row.country, period_start=start.isoformat())
    factor = conn.execute(select(EmissionFactor.__table__).where(EmissionFactor.factor_id == factor_id)).mappings().one()
    return {"selection": chosen["selection"].iloc[0], "factor": dict(factor),
            "conversion": {"from": unit, "to": factor["unit"],
                           "multiplier": units.conversion_factor(unit, factor["unit"])}}


@router.get("/{factor_id:path}", response_model=FactorPublic)
def get_factor(factor_id: str, conn: ConnDep) -> dict[str, Any]:
    row = conn.execute(select(EmissionFactor.__table__).where(EmissionFactor.factor_id == factor_id)).mappings().first()
    if row is None:
        raise NotFound(f"factor '{factor_id}' does not exist", factor_id=factor_id)
    return dict(row)


@router.post("", status_code=201, dependencies=[WriteAuth], response_model=FactorPublic,
             summary="Add a custom or supplier-specific factor")
def create_custom_factor(body: CustomFactorCreate, conn: ConnDep, cache: CacheDep) -> dict[str, Any]:
    if (body.site_id is None) == (body.org_id is None):
        raise Unprocessable("give exactly one of site_id or org_id", field="site_id")
    if body.co2e_kg is None and body.co2_kg is None:
        raise Unprocessable("give co2e_kg, or per-gas values starting with co2_kg", field="co2e_kg")
    try:
        unit = units.normalise_unit(body.unit)
    except units.UnknownUnit as exc:
        raise Unprocessable(str(exc), field="unit") from exc
    table = cache.get(conn).frame
    known = table[table["activity_type"] == body.activity_type]
    if known.empty:
        raise Unprocessable(f"unknown activity type '{body.activity_type}'", field="activity_type")
    if units.dimensionality(unit) not in set(known["unit_dim"]):
        raise Unprocessable(f"unit '{body.unit}' does not fit activity '{body.activity_type}' "
                            f"(its factors are per {', '.join(sorted(set(known['unit'])))})", field="unit")
    if body.valid_to is not None and body.valid_to <= body.valid_from:
        raise Unprocessable("valid_to must be after valid_from", field="valid_to")
    if body.site_id:
        owner = conn.execute(select(Site.org_id).where(Site.id == body.site_id)).scalar()
        if owner is None:
            raise Unprocessable(f"site '{body.site_id}' does not exist", field="site_id")
        region = f"site:{body.site_id}"
    else:
        owner = conn.execute(select(Organisation.id).where(Organisation.id == body.org_id)).scalar()
        if owner is None:
            raise Unprocessable(f"organisation '{body.org_id}' does not exist", field="org_id")
        region = f"org:{body.org_id}"
    scope = int(known["scope"].mode().iloc[0])
    category = known["category"].dropna()
    values = {
        "factor_id": f"custom/{uuid.uuid4().hex}", "edition_key": "CUSTOM", "source": body.source,
        "edition": "custom", "table_ref": "", "source_label": body.supplier or body.source,
        "activity_type": body.activity_type, "naics_code": body.naics_code, "scope": scope,
        "category": int(category.mode().iloc[0]) if not category.empty else None, "region": region,
        "region_level": "custom", "unit": unit, "co2_kg": body.co2_kg, "ch4_kg": body.ch4_kg, "n2o_kg": body.n2o_kg,
        "co2e_kg": body.co2e_kg, "gwp_set": body.gwp_set, "valid_from": body.valid_from.replace(tzinfo=None),
        "valid_to": body.valid_to.replace(tzinfo=None) if body.valid_to else None,
        "method": body.method if scope == 2 else "", "source_rank": 0, "notes": body.notes,
        "org_id": body.org_id or owner, "site_id": body.site_id, "supplier": body.supplier,
    }
    conn.execute(insert(EmissionFactor).values(**values))
    return values

"""Organisations and sites."""

from __future__ import annotations

from fastapi import APIRouter, Query
from sqlalchemy import Connection, insert, select, update

from services.common.auth import WriteAuth
from services.common.errors import Conflict, NotFound, Unprocessable
from services.data_core.deps import ConnDep
from services.data_core.models import Organisation, Site, WeatherStation
from services.data_core.schemas import (
    OrganisationCreate,
    OrganisationPublic,
    SiteCreate,
    SitePublic,
    SiteUpdate,
)

router = APIRouter(prefix="/api/v1", tags=["sites"])


@router.post("/organisations", status_code=201, dependencies=[WriteAuth], response_model=OrganisationPublic)
def create_organisation(body: OrganisationCreate, conn: ConnDep) -> OrganisationPublic:
    existing = conn.execute(select(Organisation.id, Organisation.name).where(Organisation.id == body.id)).first()
    if existing is not None:
        if existing.name == body.name:
            return OrganisationPublic(id=body.id, name=body.name)
        raise Conflict(f"organisation '{body.id}' exists with another name", organisation=body.id)
    conn.execute(insert(Organisation).values(id=body.id, name=body.name))
    return OrganisationPublic(id=body.id, name=body.name)


@router.get("/organisations", response_model=list[OrganisationPublic])
def list_organisations(conn: ConnDep) -> list[OrganisationPublic]:
    rows = conn.execute(select(Organisation.id, Organisation.name).order_by(Organisation.id)).all()
    return [OrganisationPublic(id=r.id, name=r.name) for r in rows]


def _site(row: object) -> SitePublic:
    return SitePublic.model_validate(row, from_attributes=True)


SITE_COLUMNS = (Site.id, Site.org_id, Site.name, Site.country, Site.grid_region, Site.floor_area_m2, Site.tags,
                Site.renewable_share, Site.weather_station)
NOT_NULL = ("name", "tags", "renewable_share")


def _check_station(conn: Connection, station: str | None) -> None:
    if station is not None and conn.execute(select(WeatherStation.id).where(WeatherStation.id == station)).first() is None:
        raise Unprocessable(f"weather station '{station}' does not exist; create it with POST /api/v1/weather/stations",
                            field="weather_station")


@router.post("/sites", status_code=201, dependencies=[WriteAuth], response_model=SitePublic)
def create_site(body: SiteCreate, conn: ConnDep) -> SitePublic:
    if conn.execute(select(Organisation.id).where(Organisation.id == body.org_id)).first() is None:
        raise Unprocessable(f"organisation '{body.org_id}' does not exist; create it first", field="org_id")
    _check_station(conn, body.weather_station)
    existing = conn.execute(select(*SITE_COLUMNS).where(Site.id == body.id)).first()
    if existing is not None:
        # the same site again changes nothing (a body that leaves weather_station out keeps the stored one)
        ignore = set() if "weather_station" in body.model_fields_set else {"weather_station"}
        if _site(existing).model_dump(exclude=ignore) == SitePublic(**body.model_dump()).model_dump(exclude=ignore):
            return _site(existing)
        raise Conflict(f"site '{body.id}' exists with other attributes; use PATCH to change it", site=body.id)
    conn.execute(insert(Site).values(**body.model_dump()))
    return SitePublic(**body.model_dump())


@router.get("/sites", response_model=list[SitePublic])
def list_sites(conn: ConnDep, org_id: str | None = Query(default=None, max_length=64)) -> list[SitePublic]:
    stmt = select(*SITE_COLUMNS).order_by(Site.id)
    if org_id:
        stmt = stmt.where(Site.org_id == org_id)
    return [_site(r) for r in conn.execute(stmt).all()]


@router.get("/sites/{site_id}", response_model=SitePublic)
def get_site(site_id: str, conn: ConnDep) -> SitePublic:
    row = conn.execute(select(*SITE_COLUMNS).where(Site.id == site_id)).first()
    if row is None:
        raise NotFound(f"site '{site_id}' does not exist", site=site_id)
    return _site(row)


@router.patch("/sites/{site_id}", dependencies=[WriteAuth], response_model=SitePublic)
def update_site(site_id: str, body: SiteUpdate, conn: ConnDep) -> SitePublic:
    changes = body.model_dump(exclude_unset=True)
    if conn.execute(select(Site.id).where(Site.id == site_id)).first() is None:
        raise NotFound(f"site '{site_id}' does not exist", site=site_id)
    cleared = [k for k in NOT_NULL if k in changes and changes[k] is None]
    if cleared:
        raise Unprocessable(f"{', '.join(cleared)} cannot be null", field=cleared[0])
    _check_station(conn, changes.get("weather_station"))
    if changes:
        conn.execute(update(Site).where(Site.id == site_id).values(**changes))
    return get_site(site_id, conn)

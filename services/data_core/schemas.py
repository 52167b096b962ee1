"""Request and response schemas of the data core API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


class OrganisationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=ID_PATTERN, description="short code, e.g. 'ucam'")
    name: str = Field(min_length=1, max_length=200)


class OrganisationPublic(BaseModel):
    id: str
    name: str


class SiteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=ID_PATTERN, description="the code used for the site in activity files")
    org_id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    country: str = Field(min_length=2, max_length=2, description="ISO 3166-1 alpha-2, e.g. GB, US")
    grid_region: str | None = Field(default=None, max_length=32,
                                    description="sub-national grid region (eGRID subregion such as CAMX) or the country")
    floor_area_m2: float | None = Field(default=None, gt=0, lt=1e8)
    tags: list[str] = Field(default_factory=list, max_length=50)
    renewable_share: float = Field(default=0.0, ge=0.0, le=1.0,
                                   description="share of electricity covered by renewable certificates (market-based)")
    weather_station: str | None = Field(default=None, pattern=ID_PATTERN,
                                        description="id of the weather station whose hourly weather describes the "
                                                    "site (POST /api/v1/weather/stations first)")

    @field_validator("country")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class SiteUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    grid_region: str | None = Field(default=None, max_length=32)
    floor_area_m2: float | None = Field(default=None, gt=0, lt=1e8)
    tags: list[str] | None = Field(default=None, max_length=50)
    renewable_share: float | None = Field(default=None, ge=0.0, le=1.0)
    weather_station: str | None = Field(default=None, pattern=ID_PATTERN,
                                        description="the site's weather station; null removes it")


class SitePublic(BaseModel):
    id: str
    org_id: str
    name: str
    country: str
    grid_region: str | None
    floor_area_m2: float | None
    tags: list[str]
    renewable_share: float
    weather_station: str | None = None


class WeatherStationIn(BaseModel):
    """A weather station. Sending it again with other values updates it (an upsert by ``id``)."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=ID_PATTERN, description="short code, e.g. 'bedford'")
    name: str = Field(min_length=1, max_length=200)
    latitude: float = Field(ge=-90, le=90, description="degrees north (WGS 84)")
    longitude: float = Field(ge=-180, le=180, description="degrees east (WGS 84)")
    elevation_m: float | None = Field(default=None, ge=-500, le=9000, description="metres above sea level")
    timezone: str | None = Field(default=None, max_length=64,
                                 description="IANA time zone of the station's local time, e.g. Europe/London "
                                             "(observations are stored in UTC whatever it is)")
    source: str = Field(default="", max_length=300, description="where the observations come from")
    attribution: str = Field(default="", max_length=2000, description="licence and credit the data requires")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise ValueError(f"unknown IANA time zone '{value}'") from exc
        return value


class WeatherStationPublic(WeatherStationIn):
    model_config = ConfigDict(extra="ignore")
    first_hour: datetime | None = Field(default=None, description="first hour with observations (UTC)")
    last_hour: datetime | None = Field(default=None, description="last hour with observations (UTC)")
    hours: int = Field(default=0, description="hours with observations")


class FactorPublic(BaseModel):
    factor_id: str
    edition_key: str
    source: str
    edition: str
    table_ref: str
    source_label: str
    activity_type: str
    naics_code: str
    scope: int
    category: int | None
    region: str
    region_level: str
    unit: str
    co2_kg: float | None
    ch4_kg: float | None
    n2o_kg: float | None
    co2e_kg: float | None
    gwp_set: str
    valid_from: datetime
    valid_to: datetime | None
    method: str
    source_rank: int
    notes: str
    org_id: str | None = None
    site_id: str | None = None
    supplier: str | None = None


class CustomFactorCreate(BaseModel):
    """A supplier-specific or site-specific factor. It outranks every published factor for its
    site (or organisation). For electricity with ``method='market'`` it is the supplier factor of
    the market-based Scope 2 figure."""

    model_config = ConfigDict(extra="forbid")
    activity_type: str = Field(min_length=1, max_length=80)
    unit: str = Field(min_length=1, max_length=60)
    org_id: str | None = Field(default=None, pattern=ID_PATTERN)
    site_id: str | None = Field(default=None, pattern=ID_PATTERN)
    co2e_kg: float | None = Field(default=None, ge=0, lt=1e9)
    co2_kg: float | None = Field(default=None, ge=0, lt=1e9)
    ch4_kg: float | None = Field(default=None, ge=0, lt=1e9)
    n2o_kg: float | None = Field(default=None, ge=0, lt=1e9)
    gwp_set: Literal["AR4", "AR5"] = "AR5"
    naics_code: str = Field(default="", pattern=r"^(\d{6})?$")
    method: Literal["location", "market", ""] = ""
    supplier: str | None = Field(default=None, max_length=200)
    source: str = Field(default="supplier disclosure", max_length=200)
    notes: str = Field(default="", max_length=2000)
    valid_from: datetime = datetime(1990, 1, 1)
    valid_to: datetime | None = None


class LedgerVersionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = Field(min_length=1, max_length=500)
    editions: list[str] = Field(default_factory=list, max_length=10,
                                description="edition keys to apply on purpose, e.g. ['EPA-HUB-2025']")
    start: datetime | None = None
    end: datetime | None = None
    sites: list[str] = Field(default_factory=list, max_length=1000)
    activity_types: list[str] = Field(default_factory=list, max_length=200)


class LedgerVersionPublic(BaseModel):
    id: int
    created_at: datetime
    description: str
    parent_id: int | None
    applied_editions: list[str]
    filters: dict[str, Any]
    is_current: bool
    recalculated_rows: int
    copied_rows: int


class IngestRecords(BaseModel):
    model_config = ConfigDict(extra="forbid")
    records: list[dict[str, Any]] = Field(min_length=1, max_length=200_000)

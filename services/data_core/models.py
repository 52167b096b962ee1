"""Tables of the data core (SQLAlchemy 2). Migrations live in ``services/data_core/migrations``.

Times are stored as naive UTC. On SQLite they are ISO strings with a ``T`` separator and
microseconds, so the bulk writer, SQLAlchemy and SQLite's date functions agree on one format.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SQLITE_DATETIME_FORMAT = (
    "%(year)04d-%(month)02d-%(day)02dT%(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
)
UtcDateTime = DateTime().with_variant(
    sqlite.DATETIME(
        storage_format=SQLITE_DATETIME_FORMAT,
        regexp=r"(\d+)-(\d+)-(\d+)[T ](\d+):(\d+):(\d+)(?:\.(\d+))?",
    ),
    "sqlite",
)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Organisation(Base):
    __tablename__ = "organisations"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(server_default=func.current_timestamp())


class Site(Base):
    __tablename__ = "sites"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    grid_region: Mapped[str | None] = mapped_column(String(32))
    floor_area_m2: Mapped[float | None] = mapped_column(Float)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    renewable_share: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(server_default=func.current_timestamp())
    # the station whose hourly weather describes the site (GET /api/v1/sites/{id}/weather)
    weather_station: Mapped[str | None] = mapped_column(ForeignKey("weather_stations.id"))


class WeatherStation(Base):
    """A place hourly weather is measured, with where it comes from and under which licence."""

    __tablename__ = "weather_stations"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    elevation_m: Mapped[float | None] = mapped_column(Float)
    timezone: Mapped[str | None] = mapped_column(String(64))  # IANA zone of the station's local time
    source: Mapped[str] = mapped_column(String(300), default="")
    attribution: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(server_default=func.current_timestamp())


class WeatherObservation(Base):
    """One station's weather of one hour (the hour starting at ``timestamp``, UTC): the mean of the
    observations sent for that hour. Re-sending replaces the hour (an upsert)."""

    __tablename__ = "weather_observations"
    station_id: Mapped[str] = mapped_column(ForeignKey("weather_stations.id"), primary_key=True)
    timestamp: Mapped[datetime] = mapped_column(primary_key=True)
    air_temperature_degC: Mapped[float | None] = mapped_column(Float)
    relative_humidity_pct: Mapped[float | None] = mapped_column(Float)
    global_irradiance_w_m2: Mapped[float | None] = mapped_column(Float)


class EmissionFactor(Base):
    __tablename__ = "emission_factors"
    factor_id: Mapped[str] = mapped_column(String(160), primary_key=True)
    edition_key: Mapped[str] = mapped_column(String(40), index=True)
    source: Mapped[str] = mapped_column(String(200))
    edition: Mapped[str] = mapped_column(String(60))
    table_ref: Mapped[str] = mapped_column(String(200))
    source_label: Mapped[str] = mapped_column(Text)
    activity_type: Mapped[str] = mapped_column(String(80))
    naics_code: Mapped[str] = mapped_column(String(6), default="")
    scope: Mapped[int] = mapped_column(Integer)
    category: Mapped[int | None] = mapped_column(Integer)
    region: Mapped[str] = mapped_column(String(64))
    region_level: Mapped[str] = mapped_column(String(16))
    unit: Mapped[str] = mapped_column(String(60))
    co2_kg: Mapped[float | None] = mapped_column(Float)
    ch4_kg: Mapped[float | None] = mapped_column(Float)
    n2o_kg: Mapped[float | None] = mapped_column(Float)
    co2e_kg: Mapped[float | None] = mapped_column(Float)
    gwp_set: Mapped[str] = mapped_column(String(10))
    valid_from: Mapped[datetime]
    valid_to: Mapped[datetime | None]
    method: Mapped[str] = mapped_column(String(10), default="")
    source_rank: Mapped[int] = mapped_column(Integer, default=0)
    notes: Mapped[str] = mapped_column(Text, default="")
    # custom / supplier-specific factors belong to an organisation or one site
    org_id: Mapped[str | None] = mapped_column(ForeignKey("organisations.id"))
    site_id: Mapped[str | None] = mapped_column(ForeignKey("sites.id"))
    supplier: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(server_default=func.current_timestamp())

    __table_args__ = (Index(None, "activity_type", "region"),)


class GwpValue(Base):
    __tablename__ = "gwp_values"
    gwp_set: Mapped[str] = mapped_column(String(10), primary_key=True)
    gas: Mapped[str] = mapped_column(String(60), primary_key=True)
    gwp: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(Text, default="")


class IngestBatch(Base):
    __tablename__ = "ingest_batches"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(server_default=func.current_timestamp())
    source_name: Mapped[str] = mapped_column(String(300))
    content_sha256: Mapped[str] = mapped_column(String(64), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    request_sha256: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(20))
    received: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    editions: Mapped[list[Any]] = mapped_column(default=list)
    ledger_version: Mapped[int | None] = mapped_column(Integer)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Activity(Base):
    __tablename__ = "activities"
    # ascending within an ingest (blocks of 2**20 from ``id_blocks`` / the ``activity_id_block``
    # sequence), so both primary-key indexes (activities, emissions) grow at their right edge;
    # duplicates are detected on the natural-key columns, the id only has to be unique
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    site_id: Mapped[str] = mapped_column(String(64))
    meter: Mapped[str] = mapped_column(String(120), default="")
    activity_type: Mapped[str] = mapped_column(String(80))
    naics_code: Mapped[str] = mapped_column(String(6), default="")
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    quantity: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(60))
    supplier: Mapped[str] = mapped_column(String(200), default="")
    scope3_category: Mapped[int | None] = mapped_column(Integer)
    batch_id: Mapped[str] = mapped_column(String(32))
    # --- ingestfix ---
    # 0 for a reading as ingested; a correction of it is stored as a new reading with the next revision
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # the reading that replaced this one (corrections.py); NULL while it is the current reading
    superseded_by: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        # one index serves the uniqueness of the natural key (per revision: a correction of the same period is a
        # new revision), the duplicate pre-check and the overlap lookups by site and time (ingest/series.py bounds
        # them by the longest stored reading of the series; migration 0006 dropped the second index of 0004)
        UniqueConstraint("site_id", "period_start", "meter", "activity_type", "naics_code", "period_end", "revision",
                         name="uq_activities_reading"),
    )


class ActivitySeries(Base):
    """The time box of each stored series (site, meter, activity type, NAICS code): its first start, last end
    and longest reading. Ingest skips the overlap lookup when a chunk cannot touch the box, and otherwise
    bounds it to ``period_start >= first new start - longest`` on the natural-key index (ingest/series.py)."""

    __tablename__ = "activity_series"
    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    meter: Mapped[str] = mapped_column(String(120), primary_key=True)
    activity_type: Mapped[str] = mapped_column(String(80), primary_key=True)
    naics_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    first_start: Mapped[datetime]
    last_end: Mapped[datetime]
    longest_s: Mapped[float] = mapped_column(Float)


class Correction(Base):
    """A reading replaced on purpose: the old one is kept (superseded), the new one is stored, and a new
    ledger version (``version_id``, child of ``parent_version``) holds the new reading's emissions instead
    of the old one's (corrections.py)."""

    __tablename__ = "corrections"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    activity_id: Mapped[int] = mapped_column(BigInteger, unique=True)  # the superseded reading
    replacement_id: Mapped[int] = mapped_column(BigInteger, unique=True)  # the reading that replaces it
    version_id: Mapped[int] = mapped_column(Integer)
    parent_version: Mapped[int] = mapped_column(Integer)
    requested_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.current_timestamp())


class IdBlock(Base):
    """Next block of ids to hand out (SQLite; PostgreSQL uses the sequence ``activity_id_block``)."""

    __tablename__ = "id_blocks"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    next_block: Mapped[int] = mapped_column(BigInteger)


class LedgerVersion(Base):
    __tablename__ = "ledger_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(server_default=func.current_timestamp())
    description: Mapped[str] = mapped_column(Text, default="")
    parent_id: Mapped[int | None] = mapped_column(Integer)
    applied_editions: Mapped[list[Any]] = mapped_column(default=list)
    filters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    is_current: Mapped[bool] = mapped_column(Boolean, default=False)
    recalculated_rows: Mapped[int] = mapped_column(Integer, default=0)
    copied_rows: Mapped[int] = mapped_column(Integer, default=0)


class Emission(Base):
    """One row of the calculation ledger: everything needed to recompute it is on the row and its factor."""

    __tablename__ = "emissions"
    version_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    activity_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # -> activities (site, type, period)
    scope: Mapped[int] = mapped_column(Integer)
    category: Mapped[int | None] = mapped_column(Integer)
    factor_id: Mapped[str] = mapped_column(String(160))  # -> emission_factors (source, edition, region, unit, validity)
    selection: Mapped[str] = mapped_column(String(40))
    gwp_set: Mapped[str] = mapped_column(String(10))
    quantity_converted: Mapped[float] = mapped_column(Float)  # in the factor's unit
    kg_co2: Mapped[float | None] = mapped_column(Float)
    kg_ch4: Mapped[float | None] = mapped_column(Float)
    kg_n2o: Mapped[float | None] = mapped_column(Float)
    kg_co2e: Mapped[float] = mapped_column(Float)
    market_factor_id: Mapped[str | None] = mapped_column(String(160))
    renewable_share: Mapped[float] = mapped_column(Float, default=0.0)
    kg_co2e_market: Mapped[float] = mapped_column(Float)


class EmissionRollup(Base):
    """Daily sums of the ledger per version, site, scope, category, activity type and factor edition
    (see rollups.py)."""

    __tablename__ = "emission_rollups"
    version_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period_start: Mapped[datetime] = mapped_column(primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope: Mapped[int] = mapped_column(Integer, primary_key=True)
    category: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0 = none (scope 1 and 2)
    activity_type: Mapped[str] = mapped_column(String(80), primary_key=True)
    edition_key: Mapped[str] = mapped_column(String(40), primary_key=True)
    kg_co2e: Mapped[float] = mapped_column(Float)
    kg_co2e_market: Mapped[float] = mapped_column(Float)
    kg_co2: Mapped[float] = mapped_column(Float)
    kg_ch4: Mapped[float] = mapped_column(Float)
    kg_n2o: Mapped[float] = mapped_column(Float)
    rows: Mapped[int] = mapped_column(Integer)


class Prediction(Base):
    """The expected value of one hourly reading (site, meter, activity type, hour) from the ML engine,
    with its interval and the model version that made it. Re-predicting replaces it (idempotent)."""

    __tablename__ = "predictions"
    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    meter: Mapped[str] = mapped_column(String(120), primary_key=True)
    activity_type: Mapped[str] = mapped_column(String(80), primary_key=True)
    period_start: Mapped[datetime] = mapped_column(primary_key=True)
    expected: Mapped[float] = mapped_column(Float)
    lower: Mapped[float | None] = mapped_column(Float)
    upper: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(60))
    model_name: Mapped[str] = mapped_column(String(120))
    model_version: Mapped[str] = mapped_column(String(40))
    predicted_at: Mapped[datetime] = mapped_column(server_default=func.current_timestamp())


class BillExpectation(Base):
    """The expected value of one bill (a reading of a meter over days or months: site, meter, activity type,
    period) from the degree-day model of ASHRAE Guideline 14 / IPMVP Option C fitted on the meter's earlier
    bills (flow ``monthly-bills``), with its prediction interval and the model as metadata. A bill without
    a baseline has no expected value and says why (``reason``). Re-sending replaces it (idempotent)."""

    __tablename__ = "bill_expectations"
    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    meter: Mapped[str] = mapped_column(String(120), primary_key=True)
    activity_type: Mapped[str] = mapped_column(String(80), primary_key=True)
    period_start: Mapped[datetime] = mapped_column(primary_key=True)
    period_end: Mapped[datetime]
    expected: Mapped[float | None] = mapped_column(Float)  # kWh
    lower: Mapped[float | None] = mapped_column(Float)
    upper: Mapped[float | None] = mapped_column(Float)
    level: Mapped[float] = mapped_column(Float)
    weather: Mapped[float | None] = mapped_column(Float)  # share of the bill's hours with a temperature
    model_name: Mapped[str] = mapped_column(String(120))
    model_version: Mapped[str] = mapped_column(String(40))
    model: Mapped[dict[str, Any]] = mapped_column(default=dict)  # kind, coefficients, bases, n, CV(RMSE), NMBE
    reason: Mapped[str] = mapped_column(Text, default="")
    predicted_at: Mapped[datetime] = mapped_column(server_default=func.current_timestamp())


class RejectedRow(Base):
    __tablename__ = "rejected_rows"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reject_key: Mapped[int] = mapped_column(BigInteger, unique=True)
    batch_id: Mapped[str] = mapped_column(String(32), index=True)
    row_number: Mapped[int] = mapped_column(Integer)
    column: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(Text)
    value: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(server_default=func.current_timestamp())


class OutboxEvent(Base):
    __tablename__ = "outbox_events"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    type: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(server_default=func.current_timestamp())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None] = mapped_column(index=True)
    last_error: Mapped[str | None] = mapped_column(Text)


class Hotspot(Base):
    """A site, meter or category running above expectation, shifted, silent or stuck, or dominating the
    total. One row per episode: a scan that finds the same episode again updates it (``revision``); it is
    ``closed`` when it ends. Found by the hotspot scan (``services.lib.hotspots``), stored through the
    orchestration engine."""

    __tablename__ = "hotspots"
    __table_args__ = (Index(None, "site_id", "kind", "status"), Index(None, "status", "period_end"))
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    site_id: Mapped[str] = mapped_column(String(64))
    meter: Mapped[str] = mapped_column(String(120), default="")
    activity_type: Mapped[str] = mapped_column(String(80), default="")  # or the category for Pareto kinds
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))  # open | closed
    severity: Mapped[str] = mapped_column(String(16))
    excess_kwh: Mapped[float] = mapped_column(Float, default=0.0)
    excess_kg: Mapped[float | None] = mapped_column(Float)
    model_version: Mapped[str | None] = mapped_column(String(40))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    first_seen_at: Mapped[datetime] = mapped_column(server_default=func.current_timestamp())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.current_timestamp())
    closed_at: Mapped[datetime | None]


class Alert(Base):
    """Raised from a hotspot by the alert rules; acknowledged and resolved by people."""

    __tablename__ = "alerts"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    hotspot_id: Mapped[str] = mapped_column(ForeignKey("hotspots.id"), unique=True)
    rule: Mapped[str] = mapped_column(String(120))
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), index=True)  # open | acknowledged | resolved
    created_at: Mapped[datetime] = mapped_column(server_default=func.current_timestamp())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.current_timestamp())
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(120))
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(120))
    note: Mapped[str | None] = mapped_column(Text)


class Recommendation(Base):
    """Reduction actions for one hotspot from the chatbot service. Created ``pending`` in the same
    transaction as the hotspot, so a request made while the chatbot is down is queued, not lost."""

    __tablename__ = "recommendations"
    hotspot_id: Mapped[str] = mapped_column(ForeignKey("hotspots.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | ready | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(server_default=func.current_timestamp())
    answered_at: Mapped[datetime | None]
    content: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Stream(Base):
    """One WebSocket channel's identity: ``epoch`` changes only if its history is lost; ``last_seq``
    is the sequence number of its newest event (updated under a row lock)."""

    __tablename__ = "streams"
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    epoch: Mapped[str] = mapped_column(String(32))
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class StreamEvent(Base):
    """The durable log behind the orchestration engine's channels: written in the same transaction as
    the change it announces, so a restarted orchestration engine loses nothing."""

    __tablename__ = "stream_events"
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(60))
    ts: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)

"""Hourly weather per station, and the weather of a site (its station's): ``/api/v1/weather/...`` and
``GET /api/v1/sites/{id}/weather``. The work is in :mod:`services.data_core.weather`."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime
from typing import IO, Any, Literal

import pandas as pd
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from services.common.auth import WriteAuth
from services.common.errors import NotFound, Unprocessable, UnsupportedMediaType, problem_response
from services.data_core import paging
from services.data_core import weather as domain
from services.data_core.deps import ConnDep, EngineDep, SettingsDep
from services.data_core.exports import frame_response
from services.data_core.models import Site, WeatherStation
from services.data_core.paging import LimitQ, OffsetQ, link_header, page, settle
from services.data_core.schemas import WeatherStationIn, WeatherStationPublic

router = APIRouter(prefix="/api/v1", tags=["weather"])
WEATHER_HEADER = "X-Weather"
STATION_HEADER = "X-Weather-Station"
CSV_TYPES = ("text/csv", "application/csv", "text/plain")
_UPLOAD_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "required": ["file"],
                           "properties": {"file": {"type": "string", "format": "binary",
                                                   "description": "CSV (UTF-8) of observations"}}}},
            "text/csv": {"schema": {"type": "string"},
                         "example": "timestamp,air_temperature_degC,relative_humidity_pct,global_irradiance_w_m2\n"
                                    "2020-03-01T10:00:00Z,7.5,81.0,152.0\n"},
        },
    }
}
_WINDOW = {"start": "first hour (inclusive; ISO 8601, UTC when no offset)", "end": "end (exclusive)"}


def _utc(value: datetime | None) -> datetime | None:
    """UTC without a zone, as the database stores times."""
    return value if value is None or value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)


def _window(start: datetime | None, end: datetime | None) -> tuple[datetime | None, datetime | None]:
    start, end = _utc(start), _utc(end)
    if start and end and end <= start:
        raise Unprocessable("end must be after start", field="end")
    return start, end


def _public(row: dict[str, Any]) -> WeatherStationPublic:
    for key in ("first_hour", "last_hour"):
        if row.get(key) is not None:
            row[key] = row[key].replace(tzinfo=UTC)
    return WeatherStationPublic.model_validate(row)


def _station(conn: Any, station_id: str) -> WeatherStationPublic:
    found = domain.stations(conn, station_id)
    if not found:
        raise NotFound(f"weather station '{station_id}' does not exist", station=station_id)
    return _public(found[0])


@router.post("/weather/stations", dependencies=[WriteAuth], response_model=WeatherStationPublic,
             status_code=201, responses={200: {"description": "the station existed: updated or unchanged"}},
             summary="Create or update a weather station (idempotent)")
def put_station(body: WeatherStationIn, response: Response, conn: ConnDep) -> WeatherStationPublic:
    """201 when the station is new; 200 when it existed (its fields are set to the ones sent)."""
    values = body.model_dump()
    new = (pg_insert(WeatherStation) if conn.dialect.name == "postgresql" else sqlite_insert(WeatherStation))
    # insert-or-nothing, then update: two clients creating the same station at once both succeed
    created = conn.execute(new.values(**values).on_conflict_do_nothing(index_elements=["id"])
                           .returning(WeatherStation.id)).first()
    if created is None:
        response.status_code = 200
        conn.execute(update(WeatherStation).where(WeatherStation.id == body.id).values(**values))
    return _station(conn, body.id)


@router.get("/weather/stations", response_model=list[WeatherStationPublic], summary="Weather stations")
def list_stations(conn: ConnDep) -> list[WeatherStationPublic]:
    """Every station with the first and last hour it has observations for, and how many hours."""
    return [_public(r) for r in domain.stations(conn)]


@router.get("/weather/stations/{station_id}", response_model=WeatherStationPublic, summary="One weather station")
def get_station(station_id: str, conn: ConnDep) -> WeatherStationPublic:
    return _station(conn, station_id)


@router.post("/weather/stations/{station_id}/observations", dependencies=[WriteAuth], openapi_extra=_UPLOAD_DOC,
             summary="Upload observations (CSV in multipart field 'file' or a text/csv body)",
             responses={200: {"description": "upload report"}, 404: {"description": "unknown station"},
                        415: {"description": "unsupported type"}, 422: {"description": "bad file, or no good row"}})
async def upload_observations(station_id: str, request: Request, engine: EngineDep, settings: SettingsDep,
                              encoding: str | None = Query(default=None, max_length=40,
                                                           description="text encoding if not UTF-8")) -> JSONResponse:
    """Columns: ``timestamp`` (aliases datetime_utc, datetime, time, ob_time, ...; an offset is converted to UTC,
    none means UTC) and at least one of ``air_temperature_degC`` (temperature, temp, air_temperature),
    ``relative_humidity_pct`` (relative_humidity, rh, humidity), ``global_irradiance_w_m2`` (global_irradiance,
    irradiance, ghi); other columns are ignored and named in ``ignored_columns``. Observations of one hour are
    averaged into the hour that starts at or before them. A row with an unreadable time, a value that is not a
    number or a physically impossible value (temperature outside -90..60 °C, humidity outside 0..100 %,
    irradiance outside 0..2,000 W/m²) is rejected with its row, column and reason, and stored for review
    (``rejects_url``); the good rows are kept. Re-sending the same file changes nothing (its rows come back as
    ``duplicates``); an hour sent with other values replaces the stored hour (``hours_updated``). When no row is
    good the answer is a 422 problem listing the rejects."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    upload: UploadFile | None = None
    try:
        if content_type == "multipart/form-data":
            form = await request.form(max_files=1, max_fields=10)
            candidate = form.get("file")
            if not isinstance(candidate, UploadFile):
                raise Unprocessable("multipart field 'file' is missing or is not a file", field="file")
            upload = candidate
            stream: IO[bytes] = upload.file
            name = upload.filename or "upload"
        elif content_type in CSV_TYPES:
            stream, name = io.BytesIO(await request.body()), "text/csv body"
        else:
            raise UnsupportedMediaType(f"content type '{content_type or 'none'}' is not accepted; send "
                                       "multipart/form-data with a 'file' field or a text/csv body")
        report = await run_in_threadpool(_upload, engine, stream, station_id, name, encoding,
                                         settings.ingest_max_rejects_listed)
    finally:
        if upload is not None:
            await upload.close()
    if report["status"] == "rejected":
        return problem_response(
            status=422, title="No row could be accepted", type_suffix="all-rows-rejected", request=request,
            detail=(f"all {report['received']} rows were rejected; the reasons are listed and stored for review"
                    if report["received"] else "the file has a header but no rows"),
            batch_status=report["status"], **{k: v for k, v in report.items() if k != "status"})
    return JSONResponse(report)


def _upload(engine: Any, stream: IO[bytes], station: str, name: str, encoding: str | None,
            max_listed: int) -> dict[str, Any]:
    digest = hashlib.sha256(json.dumps({"station": station, "encoding": encoding}).encode())
    for block in iter(lambda: stream.read(1 << 20), b""):
        digest.update(block)
    stream.seek(0)
    with engine.connect() as conn:  # a missing station is a 404 before the file is read
        if conn.execute(select(WeatherStation.id).where(WeatherStation.id == station)).first() is None:
            raise domain.missing_station(station)
    parsed = domain.read_observations(stream, encoding=encoding)
    return domain.upload(engine, parsed, domain.UploadOptions(station=station, source_name=name,
                                                              request_sha256=digest.hexdigest(),
                                                              max_rejects_listed=max_listed))


def _hours(request: Request, response: Response, conn: Any, station: str, start: datetime | None,
           end: datetime | None, fmt: str, limit: int | None, offset: int, what: str,
           extra: dict[str, Any], headers: dict[str, str]) -> tuple[Any, int]:
    """One page of a station's hours as JSON (``extra`` members added) or CSV, and its row count."""
    p = page(limit, offset, paging.cap(fmt))
    frame = domain.observations(conn, station, start, end, limit=p.fetch, offset=p.offset)
    next_url = settle(request, p, len(frame), what)
    return _answer(response, frame.iloc[: p.limit], fmt, extra, headers | link_header(next_url), next_url), \
        min(len(frame), p.limit)


def _answer(response: Response, frame: pd.DataFrame, fmt: str, extra: dict[str, Any], headers: dict[str, str],
            next_url: str | None = None) -> Any:
    if fmt == "csv":
        answer = frame_response(frame, fmt="csv", name="weather")
        answer.headers.update(headers)
        return answer
    response.headers.update(headers)
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return extra | {"count": len(rows), "rows": rows} | ({"next": next_url} if next_url else {})


@router.get("/weather/stations/{station_id}/observations",
            summary="Hourly observations of a station (paged: limit, offset, Link)")
def station_observations(request: Request, response: Response, station_id: str, conn: ConnDep,
                         start: datetime | None = Query(default=None, description=_WINDOW["start"]),
                         end: datetime | None = Query(default=None, description=_WINDOW["end"]),
                         format: Literal["json", "csv"] = "json",
                         limit: int | None = LimitQ, offset: int = OffsetQ) -> Any:
    """Hours in [start, end), oldest first: ``timestamp`` (the hour starting then, UTC) and the three values
    (null when the hour had none). At most 100,000 rows in JSON and 2,000,000 in CSV per answer."""
    start, end = _window(start, end)
    _station(conn, station_id)
    return _hours(request, response, conn, station_id, start, end, format, limit, offset,
                  "the observations answer", {"station": station_id}, {STATION_HEADER: station_id})[0]


@router.get("/sites/{site_id}/weather", summary="Hourly weather of a site (its station's); says when there is none")
def site_weather(request: Request, response: Response, site_id: str, conn: ConnDep,
                 start: datetime | None = Query(default=None, description=_WINDOW["start"]),
                 end: datetime | None = Query(default=None, description=_WINDOW["end"]),
                 format: Literal["json", "csv"] = "json",
                 limit: int | None = LimitQ, offset: int = OffsetQ) -> Any:
    """The hours of the site's weather station in [start, end), as ``GET /weather/stations/{id}/observations``
    answers them. Whether there is weather is said in the header ``X-Weather`` (JSON and CSV) and the member
    ``weather`` (JSON): ``hourly`` when the window has observations, ``none`` when it has not, with ``reason``
    ``no-station`` (the site names no station: set ``weather_station`` with PATCH /api/v1/sites/{id}) or
    ``no-observations`` (the station has no hour in the window). A site without weather is a 200 with no rows,
    not an error: a prediction without weather is still a prediction. ``X-Weather-Station`` names the station.
    404 only when the site does not exist."""
    start, end = _window(start, end)
    row = conn.execute(select(Site.weather_station).where(Site.id == site_id)).first()
    if row is None:
        raise NotFound(f"site '{site_id}' does not exist", site=site_id)
    station = row.weather_station
    if station is None:
        none = {"site": site_id, "station": None, "weather": "none", "reason": "no-station"}
        return _answer(response, domain.empty_hours(), format, none, {WEATHER_HEADER: "none"})
    body = {"site": site_id, "station": station}
    headers = {STATION_HEADER: station}
    answer, count = _hours(request, response, conn, station, start, end, format, limit, offset,
                           "the weather answer", body, headers)
    # a page past the last one of a window that has hours still says "hourly"
    has_hours = count > 0 or (offset > 0 and not domain.observations(conn, station, start, end, limit=1,
                                                                      offset=0).empty)
    weather = "hourly" if has_hours else "none"
    if isinstance(answer, Response):
        answer.headers[WEATHER_HEADER] = weather
        return answer
    response.headers[WEATHER_HEADER] = weather
    return answer | {"weather": weather} | ({} if has_hours else {"reason": "no-observations"})

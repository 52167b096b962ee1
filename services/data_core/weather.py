"""Hourly weather per station: an observation file is read in chunks, checked row by row (vectorised),
averaged into hours and stored as an upsert per station and hour; reads give a station's or a site's
hours back.

* **Hours.** An observation at 10:20 UTC belongs to the hour starting 10:00. Several observations of one
  hour (10-minute data) are averaged, each column over the rows that have a value in it (temperature,
  humidity and irradiance alike: the mean irradiance of the hour in W/m²). Timestamps with an offset
  (``2019-03-31T02:30:00+01:00``) are converted to UTC; timestamps without one are taken as UTC.
* **Rejects.** A row with an unreadable time, a value that is not a number, or a physically impossible
  value (air temperature below -90 or above 60 °C, relative humidity outside 0-100 %, irradiance below 0
  or above 2,000 W/m², beyond the solar constant with any cloud enhancement) is rejected whole, with its
  row (spreadsheet row, header = 1), column and reason; its good rows are kept. Rejects are stored in
  ``rejected_rows`` under the upload's batch (``ingest_batches``), reviewed like an ingest's.
* **Re-sending.** An hour whose values are already stored unchanged is counted as duplicate rows and not
  written; an hour with other values replaces the stored one (``hours_updated``); a column the file
  lacks is left as stored.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, cast

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, String, func, insert, select, type_coerce, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from services.common.errors import NotFound, UnsupportedMediaType
from services.data_core.bulk import bulk_insert
from services.data_core.ingest.parse import MalformedFile, MissingColumns, sniff_encoding
from services.data_core.ingest.pipeline import _store_rejects
from services.data_core.models import IngestBatch, WeatherObservation, WeatherStation

log = logging.getLogger(__name__)

TIME = "timestamp"
ROW = "_row"
VALUES = ("air_temperature_degC", "relative_humidity_pct", "global_irradiance_w_m2")
ALIASES: dict[str, str] = {
    "datetime_utc": TIME, "datetime": TIME, "date_time": TIME, "time": TIME, "ts": TIME, "timestamp_utc": TIME,
    "ob_time": TIME, "observed_at": TIME, "observation_time": TIME,
    "air_temperature_degc": VALUES[0], "air_temperature": VALUES[0], "temperature": VALUES[0], "temp": VALUES[0],
    "temp_c": VALUES[0], "temperature_c": VALUES[0], "air_temp": VALUES[0], "t2m_c": VALUES[0],
    "relative_humidity_pct": VALUES[1], "relative_humidity": VALUES[1], "rh": VALUES[1], "rh_pct": VALUES[1],
    "humidity": VALUES[1], "humidity_pct": VALUES[1], "rltv_hum": VALUES[1],
    "global_irradiance_w_m2": VALUES[2], "global_irradiance": VALUES[2], "irradiance": VALUES[2], "ghi": VALUES[2],
    "ghi_w_m2": VALUES[2], "solar_irradiance": VALUES[2], "global_horizontal_irradiance": VALUES[2],
}
# physically possible range of each value (a value outside is a faulty sensor or a unit mix-up)
LIMITS: dict[str, tuple[float, float, str, str]] = {
    VALUES[0]: (-90.0, 60.0, "°C", "air temperature"),
    VALUES[1]: (0.0, 100.0, "%", "relative humidity"),
    VALUES[2]: (0.0, 2000.0, "W/m²", "global irradiance"),
}
MISSING = ("", "na", "n/a", "nan", "null", "none", "-")
CHUNK_ROWS = 100_000
DECIMALS = 4  # hourly means are stored rounded, so a re-sent file compares equal exactly
ERROR_COLUMNS = ["row", "column", "reason", "value"]


@dataclass
class ObservationFile:
    chunks: Iterator[pd.DataFrame]  # text columns: timestamp, the value columns present, _row
    values: list[str]
    ignored_columns: list[str] = field(default_factory=list)


def canonical(header: list[Any]) -> tuple[list[str], list[str]]:
    """Header names mapped to the canonical ones; (names, ignored original names)."""
    names, ignored, seen = [], [], set()
    for raw in header:
        key = re.sub(r"[\s\-./()]+", "_", str(raw).strip().lower()).strip("_")
        key = ALIASES.get(key, key)
        if key in seen and (key == TIME or key in VALUES):
            raise MalformedFile(f"column '{raw}' appears twice (as '{key}')", column=str(raw))
        seen.add(key)
        names.append(key)
        if key != TIME and key not in VALUES:
            ignored.append(str(raw))
    missing = [] if TIME in names else [TIME]
    if not any(v in names for v in VALUES):
        missing.append(" or ".join(VALUES))
    if missing:
        raise MissingColumns(f"the file lacks required column(s): {', '.join(missing)}", missing=missing,
                             found=[str(h) for h in header])
    return names, ignored


def read_observations(stream: IO[bytes], *, encoding: str | None = None,
                      chunk_rows: int = CHUNK_ROWS) -> ObservationFile:
    """A CSV of observations as chunks of text columns (header aliases mapped, other columns dropped)."""
    head = stream.read(4096)
    stream.seek(0)
    if not head.strip():
        raise MalformedFile("the file is empty")
    if head.startswith(b"PK\x03\x04"):
        raise UnsupportedMediaType("this is a ZIP/XLSX file; send the observations as CSV text")
    if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise MalformedFile("the file contains NUL bytes: it is binary, not CSV text")
    enc = sniff_encoding(head, encoding)
    try:
        text = io.TextIOWrapper(stream, encoding=enc, errors="strict", newline="")
        first_line = text.readline()
        text.seek(0)
        try:
            delimiter = csv.Sniffer().sniff(first_line, delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
        header = next(csv.reader([first_line], delimiter=delimiter), [])
        names, ignored = canonical(header)
        # other columns get unique placeholder names (pandas refuses duplicate names) and are not read
        names = [n if n == TIME or n in VALUES else f"_ignored_{i}" for i, n in enumerate(names)]
        reader = pd.read_csv(text, sep=delimiter, dtype=str, keep_default_na=False, na_filter=False,
                             chunksize=chunk_rows, header=0, names=names, index_col=False, skipinitialspace=True,
                             usecols=[n for n in names if n == TIME or n in VALUES], engine="c")
    except UNREADABLE as exc:
        raise _unreadable(exc, enc) from exc
    values = [v for v in VALUES if v in names]

    def chunks() -> Iterator[pd.DataFrame]:
        first_row = 2
        try:
            for chunk in reader:
                chunk[ROW] = np.arange(first_row, first_row + len(chunk))
                first_row += len(chunk)
                yield chunk
        except UNREADABLE as exc:
            raise _unreadable(exc, enc) from exc

    return ObservationFile(chunks=chunks(), values=values, ignored_columns=ignored)


# what a file that is not CSV text in the encoding raises while it is read (a codec that is not a text
# encoding, e.g. ?encoding=rot13, is a LookupError)
UNREADABLE = (UnicodeError, LookupError, csv.Error, pd.errors.ParserError, pd.errors.EmptyDataError)


def _unreadable(exc: Exception, enc: str) -> MalformedFile:
    if isinstance(exc, UnicodeError | LookupError):
        return MalformedFile(f"the file is not valid {enc} text; save it as UTF-8 or pass ?encoding=", encoding=enc)
    return MalformedFile(f"the CSV is malformed: {str(exc).strip().replace('Error tokenizing data. C error: ', '')}")


def _reject(chunk: pd.DataFrame, mask: pd.Series, column: str, reason: str | tuple[str, str],
            value: pd.Series) -> pd.DataFrame:
    """Reject records of the rows in ``mask``; a (prefix, suffix) ``reason`` is put around each row's value
    (formatted for the masked rows only)."""
    if not mask.any():
        return pd.DataFrame(columns=ERROR_COLUMNS)
    shown = value[mask].astype(str)
    reasons = reason[0] + shown + reason[1] if isinstance(reason, tuple) else reason
    return pd.DataFrame({"row": chunk.loc[mask, ROW], "column": column, "reason": reasons, "value": shown},
                        columns=ERROR_COLUMNS)


def check(chunk: pd.DataFrame, values: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(good rows: hour and value columns as floats; rejects: row, column, reason, value) of one chunk."""
    errors: list[pd.DataFrame] = []
    stamp = chunk[TIME].astype(str).str.strip()
    parsed = pd.to_datetime(stamp.where(stamp != ""), format="ISO8601", utc=True, errors="coerce")
    errors.append(_reject(chunk, stamp == "", TIME, "timestamp is missing", stamp))
    errors.append(_reject(chunk, (stamp != "") & parsed.isna(), TIME,
                          ("'", "' is not an ISO 8601 date and time (e.g. 2020-03-01T10:00:00Z)"), stamp))
    errors.append(_reject(chunk, stamp.str.fullmatch(r"\d{4}-\d{2}-\d{2}"), TIME,
                          "a date without a time is not an hourly observation", stamp))
    out = pd.DataFrame({"hour": parsed.dt.tz_convert(None).dt.floor("h").astype("datetime64[us]")})
    present = pd.Series(False, index=chunk.index)
    for column in values:
        text = chunk[column].astype(str).str.strip()
        blank = text.str.lower().isin(MISSING)
        number = pd.to_numeric(text.where(~blank), errors="coerce").astype(float)
        bad = ~blank & ~np.isfinite(number)
        errors.append(_reject(chunk, bad, column, ("'", "' is not a finite number"), text))
        low, high, unit, what = LIMITS[column]
        impossible = (number < low) | (number > high)
        errors.append(_reject(chunk, impossible, column, (f"{what} ", f" {unit} is physically impossible "
                                                          f"(outside {low:g} to {high:g} {unit})"), text))
        out[column] = number.where(~bad & ~impossible)
        present |= ~blank
    errors.append(_reject(chunk, ~present, ",".join(values), "no observation: every value column is empty",
                          pd.Series("", index=chunk.index)))
    found = [e for e in errors if not e.empty]
    if not found:
        return out, pd.DataFrame(columns=ERROR_COLUMNS)
    rejects = pd.concat(found)
    return out.drop(index=rejects.index.unique()), rejects.reset_index(drop=True)


def partial_sums(good: pd.DataFrame, values: list[str]) -> pd.DataFrame:
    """Per hour: the sum and count of each value column and the rows (combined across chunks by summing)."""
    parts = {"rows": good.groupby("hour").size()}
    for column in values:
        grouped = good.groupby("hour")[column]
        parts[f"sum:{column}"] = grouped.sum(min_count=1).fillna(0.0)
        parts[f"n:{column}"] = grouped.count()
    return pd.DataFrame(parts)


def hourly_means(partials: list[pd.DataFrame], values: list[str]) -> pd.DataFrame:
    """hour, rows and the mean of each value column (NaN when the hour had no value in it), oldest first."""
    columns = ["hour", "rows", *values]
    if not partials:
        return pd.DataFrame(columns=columns)
    total = pd.concat(partials).groupby(level=0).sum().sort_index()
    out = pd.DataFrame({"hour": total.index, "rows": total["rows"].to_numpy()})
    for column in values:
        count = total[f"n:{column}"].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total[f"sum:{column}"].to_numpy() / count
        out[column] = np.where(count > 0, np.round(mean, DECIMALS), np.nan)
    return out


def _same(new: pd.Series, old: pd.Series) -> pd.Series:
    return (new.isna() & old.isna()) | ((new - old).abs() <= 1e-9)


def store_hours(conn: Connection, station: str, hours: pd.DataFrame, values: list[str]) -> pd.Series:
    """Write the hours that are new or changed (the value columns in ``values`` only); returns each hour's
    outcome: 'inserted', 'updated' or 'unchanged'."""
    if hours.empty:
        return pd.Series(dtype=object)
    w = WeatherObservation.__table__.c
    lo, hi = hours["hour"].min().to_pydatetime(), hours["hour"].max().to_pydatetime()
    stored = _frame(conn, select(_hour_column(conn), *(w[c] for c in values))
                    .where(w.station_id == station, w.timestamp >= lo, w.timestamp <= hi), ["hour", *values])
    merged = hours.merge(stored, on="hour", how="left", suffixes=("", ":old"), indicator=True)
    existed = (merged["_merge"] == "both").to_numpy()
    same = np.ones(len(merged), dtype=bool)
    for column in values:
        same &= _same(merged[column].astype(float), merged[f"{column}:old"].astype(float)).to_numpy()
    outcome = pd.Series(np.where(~existed, "inserted", np.where(same, "unchanged", "updated")), index=hours.index)
    rows = hours[["hour", *values]].rename(columns={"hour": "timestamp"}).assign(station_id=station)
    rows = rows[["station_id", "timestamp", *values]]
    bulk_insert(conn, WeatherObservation.__tablename__, rows[(outcome == "inserted").to_numpy()])
    changed = rows[(outcome == "updated").to_numpy()]
    if not changed.empty:
        stmt = (pg_insert(WeatherObservation) if conn.dialect.name == "postgresql"
                else sqlite_insert(WeatherObservation))
        stmt = stmt.on_conflict_do_update(index_elements=["station_id", "timestamp"],
                                          set_={c: stmt.excluded[c] for c in values})
        records = changed.astype(object).where(changed.notna(), None)
        records["timestamp"] = changed["timestamp"].dt.to_pydatetime()
        payload = cast(list[dict[str, Any]], records.to_dict("records"))
        for start in range(0, len(payload), 5000):
            conn.execute(stmt, payload[start : start + 5000])
    return outcome


def lock_station(conn: Connection, station: str) -> None:
    """Serialise uploads of one station (a row lock on PostgreSQL; the write lock on SQLite, taken before any
    read so that SQLite's busy timeout applies); NotFound if the station does not exist."""
    # a no-op write of a non-key column: on PostgreSQL a FOR NO KEY UPDATE lock, which does not block a
    # site being pointed at the station meanwhile
    found = conn.execute(update(WeatherStation).where(WeatherStation.id == station)
                         .values(name=WeatherStation.name)).rowcount
    if not found:
        raise missing_station(station)


def missing_station(station: str) -> NotFound:
    return NotFound(f"weather station '{station}' does not exist; create it with POST /api/v1/weather/stations",
                    station=station)


@dataclass
class UploadOptions:
    station: str
    source_name: str
    request_sha256: str
    max_rejects_listed: int = 1000


def upload(engine: Engine, parsed: ObservationFile, opts: UploadOptions) -> dict[str, Any]:
    """Check, average and store one observation file in one transaction; the report."""
    batch_id = uuid.uuid4().hex
    received, partials, errors = 0, [], []
    raw: dict[int, dict[str, str]] = {}
    with engine.begin() as conn:
        lock_station(conn, opts.station)
        for chunk in parsed.chunks:
            received += len(chunk)
            good, bad = check(chunk, parsed.values)
            if not bad.empty:  # (NUL, which PostgreSQL text cannot hold, shown as U+FFFD)
                errors.append(bad.assign(reason=_printable(bad["reason"]), value=_printable(bad["value"])))
                rows = chunk[chunk[ROW].isin(bad["row"])]
                texts = rows.drop(columns=ROW).apply(_printable)
                raw.update({int(r): {"station": opts.station, **{str(k): str(v) for k, v in rec.items()}}
                            for r, rec in zip(rows[ROW], texts.to_dict("records"), strict=True)})
            if not good.empty:
                partials.append(partial_sums(good, parsed.values))
        hours = hourly_means(partials, parsed.values)
        outcome = store_hours(conn, opts.station, hours, parsed.values)
        rejects = pd.concat(errors, ignore_index=True) if errors else pd.DataFrame(columns=ERROR_COLUMNS)
        _store_rejects(conn, batch_id, rejects, raw)
        report = _report(batch_id, received, hours, outcome, rejects, parsed, opts)
        conn.execute(insert(IngestBatch).values(
            id=batch_id, source_name=f"weather {opts.station}: {opts.source_name}"[:300],
            content_sha256=opts.request_sha256, request_sha256=opts.request_sha256, status=report["status"],
            received=received, accepted=report["accepted"], duplicates=report["duplicates"],
            rejected=report["rejected"], editions=[], ledger_version=None, report=report))
    log.info("weather stored", extra={k: report[k] for k in ("batch_id", "station", "received", "accepted",
                                                              "duplicates", "rejected")})
    return report


def _printable(text: pd.Series) -> pd.Series:
    return text.astype(str).str.replace("\x00", "\ufffd", regex=False)


def _report(batch_id: str, received: int, hours: pd.DataFrame, outcome: pd.Series, rejects: pd.DataFrame,
            parsed: ObservationFile, opts: UploadOptions) -> dict[str, Any]:
    rows = hours["rows"].astype(int) if not hours.empty else pd.Series(dtype=int)
    written = (outcome != "unchanged") if not hours.empty else pd.Series(dtype=bool)
    accepted, duplicates = int(rows[written].sum()), int(rows[~written].sum())
    rejected = received - accepted - duplicates
    listed = rejects.sort_values(["row", "column"], kind="stable").head(opts.max_rejects_listed)
    status = "committed" if accepted else "nothing-new" if duplicates else "rejected"
    return {
        "batch_id": batch_id, "station": opts.station, "status": status, "received": received,
        "accepted": accepted, "duplicates": duplicates, "rejected": rejected,
        "hours_inserted": int((outcome == "inserted").sum()), "hours_updated": int((outcome == "updated").sum()),
        "hours_unchanged": int((outcome == "unchanged").sum()), "columns": parsed.values,
        "ignored_columns": parsed.ignored_columns,
        "period_start": _iso(hours["hour"].min()) if not hours.empty else None,
        "period_end": _iso(hours["hour"].max() + pd.Timedelta(hours=1)) if not hours.empty else None,
        "rejects": [{"row": int(r), "column": str(c), "reason": str(why), "value": str(v)}
                    for r, c, why, v in zip(listed["row"], listed["column"], listed["reason"], listed["value"],
                                            strict=True)],
        "rejects_total": len(rejects), "rejects_truncated": len(rejects) > len(listed),
        "rejects_url": f"/api/v1/ingest/batches/{batch_id}/rejects",
    }


def _iso(value: Any) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------- reads
def stations(conn: Connection, station: str | None = None) -> list[dict[str, Any]]:
    """Every station (or one) with the first and last hour and the count of hours it has."""
    s, w = WeatherStation.__table__.c, WeatherObservation.__table__.c
    extent = (select(w.station_id, func.min(w.timestamp).label("first_hour"), func.max(w.timestamp).label("last_hour"),
                     func.count().label("hours")).group_by(w.station_id))
    if station is not None:
        extent = extent.where(w.station_id == station)
    sub = extent.subquery()
    stmt = (select(s.id, s.name, s.latitude, s.longitude, s.elevation_m, s.timezone, s.source, s.attribution,
                   sub.c.first_hour, sub.c.last_hour, func.coalesce(sub.c.hours, 0).label("hours"))
            .outerjoin(sub, sub.c.station_id == s.id).order_by(s.id))
    if station is not None:
        stmt = stmt.where(s.id == station)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def empty_hours() -> pd.DataFrame:
    return pd.DataFrame({TIME: pd.Series(dtype=str), **{c: pd.Series(dtype=float) for c in VALUES}})


def observations(conn: Connection, station: str, start: datetime | None, end: datetime | None, *, limit: int,
                 offset: int) -> pd.DataFrame:
    """Hours of one station in [start, end) (UTC, naive), oldest first: timestamp (ISO text, Z) and values;
    at most ``limit`` rows from ``offset``."""
    w = WeatherObservation.__table__.c
    clauses = [w.station_id == station]
    if start is not None:
        clauses.append(w.timestamp >= start)
    if end is not None:
        clauses.append(w.timestamp < end)
    stmt = (select(_hour_column(conn), *(w[c] for c in VALUES)).where(*clauses).order_by(w.timestamp)
            .limit(limit).offset(offset))
    frame = _frame(conn, stmt, [TIME, *VALUES])
    frame[TIME] = frame[TIME].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return frame.astype({c: float for c in VALUES})


def _hour_column(conn: Connection) -> Any:
    """The hour as the driver gives it: on SQLite the stored ISO text, which pandas parses at once (SQLAlchemy's
    per-row conversion costs ~15 µs a row)."""
    w = WeatherObservation.__table__.c
    return type_coerce(w.timestamp, String()) if conn.dialect.name == "sqlite" else w.timestamp


def _frame(conn: Connection, stmt: Any, columns: list[str]) -> pd.DataFrame:
    rows = conn.execute(stmt).all()
    # column by column (pandas asks each Row object for attributes it lacks, slowly)
    data: dict[str, Any] = dict(zip(columns, zip(*rows, strict=True), strict=True)) if rows else {}
    frame = pd.DataFrame(data, columns=columns)
    frame[columns[0]] = pd.to_datetime(frame[columns[0]], format="ISO8601").astype("datetime64[us]")
    return frame


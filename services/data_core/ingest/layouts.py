"""Meter-data layouts besides the long CSV, turned into long rows the ingest path validates like any other.

* ``halfhourly``: the wide layout UK suppliers send: one row per meter and local day, one column per
  half-hour (HH01..HH50, or 00:30..24:00 labels). The day is a Europe/London day: 48 half-hours, 46 on the
  spring clock change (29 Mar 2020), 50 on the autumn one (25 Oct 2020). The k-th value column is the k-th
  half-hour after local midnight; a value beyond the day's last half-hour is refused.
* ``greenbutton``: Green Button (NAESB ESPI) XML from US utilities: ``IntervalBlock/IntervalReading`` with
  ``timePeriod`` (start in epoch seconds, duration in seconds) and ``value`` scaled by the ReadingType's
  ``powerOfTenMultiplier`` in its ``uom``. Parsed with defusedxml: no DTD, no entity expansion.

Each long row keeps the file row it came from (``_row``: the spreadsheet row of the wide CSV, the ordinal of
the IntervalReading in the XML) and ``_cell``, the column or element its value came from, which rejects name.
Rows refused while reading the layout (an unreadable date, values beyond the day) come back in
``ParsedInput.rejects`` and are counted and stored like the validator's.
"""

from __future__ import annotations

import csv
import io
import re
from typing import IO, Any, Literal

import numpy as np
import pandas as pd

from services.common.errors import Unprocessable
from services.data_core.ingest.parse import (
    ROW,
    MalformedFile,
    ParsedInput,
    _encoding_error,
    _split,
    read_csv,
    sniff_encoding,
)
from services.data_core.ingest.validate import CELL

LOCAL_TZ = "Europe/London"
HALF_HOUR = pd.Timedelta(minutes=30)
_HH = re.compile(r"^(?:hh|hh_|p|period_?)?\s*0*(\d{1,2})$|^(\d{1,2}):(\d{2})$", re.IGNORECASE)
_ID = {"site": ("site", "site_id", "site_code", "building"), "meter": ("meter", "meter_id", "mpan", "mpan_core", "mprn"),
       "date": ("date", "day", "reading_date", "settlement_date", "read_date"), "unit": ("unit", "units", "uom"),
       "activity_type": ("activity_type", "activity", "fuel")}
LONG_COLUMNS = ["site", "meter", "activity_type", "unit", "period_start", "period_end", "quantity", CELL, ROW]


def _norm(name: str) -> str:
    return re.sub(r"[\s\-./]+", "_", str(name).strip().lower()).strip("_")


def halfhour_columns(header: list[str]) -> list[str]:
    """The header's half-hour value columns, in order."""
    return [h for h in header if _HH.match(str(h).strip())]


def looks_halfhourly(header: list[str]) -> bool:
    return len(halfhour_columns(header)) >= 46


def _iso(values: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    return pd.DatetimeIndex(values).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy()


def _rejects(rows: np.ndarray, column: str | np.ndarray, reason: np.ndarray | str, value: np.ndarray,
             raw: list[dict[Any, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame({"row": rows, "column": column, "reason": reason, "value": value})
    frame["raw"] = pd.Series(raw, index=frame.index, dtype=object)
    return frame


def read_halfhourly(stream: IO[bytes], *, chunk_rows: int, encoding: str | None = None,
                    tz: str = LOCAL_TZ) -> ParsedInput:
    head = stream.read(4096)
    stream.seek(0)
    enc = sniff_encoding(head, encoding)
    try:
        text = stream.read().decode(enc)
    except UnicodeDecodeError as exc:
        raise _encoding_error(exc, enc) from exc
    try:
        delimiter = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    try:
        wide = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False, na_filter=False,
                           skipinitialspace=True, index_col=False)
    except pd.errors.ParserError as exc:
        raise MalformedFile(f"the half-hourly CSV is malformed: {exc}") from exc
    header = [str(c).strip() for c in wide.columns]
    wide.columns = header
    values = halfhour_columns(header)
    if len(values) < 46:
        raise MalformedFile(f"the half-hourly layout needs 46 to 50 half-hour columns (HH01..HH50 or 00:30..24:00); "
                            f"found {len(values)}", found=values[:60])
    by_norm = {_norm(h): h for h in header if h not in values}
    ids = {key: next((by_norm[n] for n in names if n in by_norm), None) for key, names in _ID.items()}
    missing = [k for k in ("site", "date") if ids[k] is None]
    if missing:
        raise Unprocessable(f"the half-hourly layout lacks column(s): {', '.join(missing)}", missing=missing,
                            found=header[:60])
    ignored = [h for h in header if h not in values and h not in ids.values()]
    wide[ROW] = np.arange(2, 2 + len(wide))
    raw = wide.drop(columns=[ROW]).to_dict("records")
    date_text = wide[ids["date"]].astype(str).str.strip()  # type: ignore[index]
    day = pd.to_datetime(date_text, format="ISO8601", errors="coerce")
    uk = day.isna() & date_text.str.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}")
    if uk.any():  # UK files write days first
        day[uk] = pd.to_datetime(date_text[uk], format="%d/%m/%Y", errors="coerce")
    rejected = [_rejects(wide.loc[day.isna(), ROW].to_numpy(), ids["date"] or "date",
                         "unreadable date (use YYYY-MM-DD or DD/MM/YYYY)", date_text[day.isna()].to_numpy(),
                         [raw[i] for i in np.flatnonzero(day.isna())])]
    ok = day.notna().to_numpy()
    midnight = pd.DatetimeIndex(day[ok]).normalize().tz_localize(tz)
    slots = np.asarray(((pd.DatetimeIndex(day[ok]).normalize() + pd.Timedelta(days=1)).tz_localize(tz) - midnight)
                       // HALF_HOUR, dtype=np.int64)
    grid = wide.loc[ok, values].to_numpy(dtype=str)
    cols = np.arange(len(values))
    beyond = (cols[None, :] >= slots[:, None]) & (np.char.strip(grid) != "")
    over = beyond.any(axis=1)
    if over.any():
        first = beyond.argmax(axis=1)[over]
        rows_ok = np.flatnonzero(ok)[over]
        reason = ("the local day " + date_text.to_numpy()[rows_ok] + f" ({tz}) has " + slots[over].astype(str)
                  + " half-hours; a value in " + np.asarray(values)[first] + " is beyond it")
        rejected.append(_rejects(wide[ROW].to_numpy()[rows_ok], np.asarray(values)[first], reason,
                                 grid[over, first], [raw[i] for i in rows_ok]))
    keep = np.flatnonzero(ok)[~over]
    n = slots[~over]
    which = np.repeat(np.arange(len(keep)), n)
    k = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    start = midnight[~over][which] + k * HALF_HOUR
    src = wide.iloc[keep]

    def col(key: str, default: str) -> np.ndarray:
        name = ids[key]
        return (src[name].astype(str).to_numpy()[which] if name is not None
                else np.full(len(which), default, dtype=object))

    long = pd.DataFrame({"site": col("site", ""), "meter": col("meter", ""),
                         "activity_type": col("activity_type", "electricity"), "unit": col("unit", "kWh"),
                         "period_start": _iso(start), "period_end": _iso(start + HALF_HOUR),
                         "quantity": grid[~over][which, k], CELL: np.asarray(values)[k],
                         ROW: src[ROW].to_numpy()[which]})
    long["unit"] = long["unit"].where(long["unit"].str.strip() != "", "kWh")
    long["activity_type"] = long["activity_type"].where(long["activity_type"].str.strip() != "", "electricity")
    found = [r for r in rejected if not r.empty]
    return ParsedInput(chunks=_split(long, chunk_rows), columns=LONG_COLUMNS[:-2], ignored_columns=ignored,
                       rejects=found)


# ---- Green Button (ESPI) ----------------------------------------------------------------------------

ESPI_UOM = {72: ("Wh", "electricity"), 169: ("therm", "natural_gas"), 42: ("m3", "natural_gas"),
            119: ("ft3", "natural_gas")}


def looks_xml(head: bytes) -> bool:
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def read_greenbutton(stream: IO[bytes], *, chunk_rows: int, site: str | None, meter: str | None) -> ParsedInput:
    from defusedxml import DefusedXmlException
    from defusedxml import ElementTree as SafeET

    if not site:
        raise Unprocessable("a Green Button file names no site of this platform; pass ?site=<site id>",
                            parameter="site")
    try:
        root = SafeET.parse(stream, forbid_dtd=True).getroot()
    except DefusedXmlException as exc:
        raise MalformedFile(f"the XML is refused: {type(exc).__name__} (no DTDs or entities are accepted)") from exc
    except SafeET.ParseError as exc:
        raise MalformedFile(f"the XML is malformed: {exc}") from exc
    types = {(_int(rt.findtext("{*}uom")), _int(rt.findtext("{*}powerOfTenMultiplier"), 0))
             for rt in root.iterfind(".//{*}ReadingType")}
    if len(types) != 1:
        raise Unprocessable(f"a Green Button file needs exactly one ReadingType (uom, powerOfTenMultiplier); "
                            f"found {len(types)}", field="ReadingType")
    uom, power = types.pop()
    power = power or 0
    if uom not in ESPI_UOM:
        raise Unprocessable(f"ReadingType uom {uom} is not supported (known: "
                            f"{', '.join(f'{k} = {v[0]}' for k, v in ESPI_UOM.items())})", field="ReadingType.uom")
    unit, activity = ESPI_UOM[uom]
    if meter is None:
        title = next((e.findtext("{*}title") for e in root.iterfind(".//{*}entry") if e.find(".//{*}UsagePoint") is not None),
                     None)
        meter = (title or "").strip()[:120]
    starts, durations, values = [], [], []
    for reading in root.iterfind(".//{*}IntervalReading"):
        starts.append(reading.findtext("{*}timePeriod/{*}start", "").strip())
        durations.append(reading.findtext("{*}timePeriod/{*}duration", "").strip())
        values.append(reading.findtext("{*}value", "").strip())
    if not starts:
        raise MalformedFile("the Green Button file has no IntervalReading")
    frame = pd.DataFrame({"start": starts, "duration": durations, "value": values})
    begin = pd.to_numeric(frame["start"].where(frame["start"].str.fullmatch(r"\d{1,12}"), None), errors="coerce")
    length = pd.to_numeric(frame["duration"].where(frame["duration"].str.fullmatch(r"\d{1,9}"), None), errors="coerce")
    t0 = pd.to_datetime(begin, unit="s", utc=True)
    t1 = t0 + pd.to_timedelta(length, unit="s")
    amount = pd.to_numeric(frame["value"].where(frame["value"].str.fullmatch(r"-?\d+(\.\d+)?"), None), errors="coerce")
    scaled = (amount * 10.0**power).map(lambda v: "" if pd.isna(v) else repr(float(v)))
    # unreadable parts keep their text, for the validator to refuse with the row and the element named
    long = pd.DataFrame({"site": site, "meter": meter, "activity_type": activity, "unit": unit,
                         "period_start": np.where(t0.notna(), t0.dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                                  "timePeriod.start " + frame["start"]),
                         "period_end": np.where(t1.notna(), t1.dt.strftime("%Y-%m-%dT%H:%M:%SZ"), ""),
                         "quantity": np.where(amount.notna(), scaled, frame["value"]), CELL: "value",
                         ROW: np.arange(1, len(frame) + 1)})
    return ParsedInput(chunks=_split(long, chunk_rows), columns=LONG_COLUMNS[:-2])


def _int(text: str | None, default: int | None = None) -> int | None:
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return default



# ---- which layout ------------------------------------------------------------------------------------

Layout = Literal["auto", "long", "halfhourly", "greenbutton"]
XML_TYPES = ("application/xml", "text/xml", "application/atom+xml", "application/espi+xml")


def detect_layout(head: bytes, encoding: str | None) -> Layout:
    """XML is Green Button; a CSV whose header has 46 or more half-hour columns is the wide half-hourly
    layout; anything else is the long CSV."""
    if looks_xml(head):
        return "greenbutton"
    try:
        first = head.decode(sniff_encoding(head, encoding), errors="replace").lstrip("\ufeff").splitlines()[0]
    except IndexError:
        return "long"
    cells = next(csv.reader([first], delimiter=max(",;\t|", key=first.count)), [])
    return "halfhourly" if looks_halfhourly(cells) else "long"


def read_text(stream: IO[bytes], *, chunk_rows: int, encoding: str | None, layout: Layout, site: str | None,
              meter: str | None) -> ParsedInput:
    """A text upload in its layout (``auto``: :func:`detect_layout`)."""
    if layout == "auto":
        head = stream.read(65536)
        stream.seek(0)
        layout = detect_layout(head, encoding)
    if layout == "greenbutton":
        return read_greenbutton(stream, chunk_rows=chunk_rows, site=site, meter=meter)
    if layout == "halfhourly":
        return read_halfhourly(stream, chunk_rows=chunk_rows, encoding=encoding)
    return read_csv(stream, chunk_rows=chunk_rows, encoding=encoding)

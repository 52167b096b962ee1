"""Reading CSV, XLSX and JSON records into chunks of raw string columns.

Every value stays a string here; validation (``validate.py``) turns them into types and reasons.
Row numbers are what the user sees: for CSV/XLSX the spreadsheet row (the header is row 1), for
JSON the index in ``records`` (from 0).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import pandas as pd

from services.common.errors import Unprocessable, UnsupportedMediaType

ROW = "_row"

COLUMN_ALIASES: dict[str, str] = {
    "site_id": "site", "site_code": "site", "building": "site", "building_id": "site",
    "meter_id": "meter", "source": "meter", "source_id": "meter", "meter_code": "meter",
    "activity": "activity_type", "type": "activity_type", "fuel": "activity_type",
    "qty": "quantity", "amount": "quantity", "value": "quantity", "consumption": "quantity",
    "units": "unit", "uom": "unit", "unit_of_measure": "unit",
    "start": "period_start", "from": "period_start", "start_date": "period_start", "period_from": "period_start",
    "end": "period_end", "to": "period_end", "end_date": "period_end", "period_to": "period_end",
    "date": "timestamp", "datetime": "timestamp", "time": "timestamp", "ts": "timestamp",
    "datetime_utc": "timestamp", "reading_time": "timestamp",
    "naics": "naics_code", "naics6": "naics_code",
    "category": "scope3_category", "scope_3_category": "scope3_category", "ghg_category": "scope3_category",
    "vendor": "supplier",
}
KNOWN_COLUMNS = ("site", "meter", "activity_type", "quantity", "unit", "timestamp", "period", "period_start",
                 "period_end", "naics_code", "supplier", "scope3_category")
REQUIRED = ("site", "activity_type", "quantity", "unit")


@dataclass
class ParsedInput:
    chunks: Iterator[pd.DataFrame]
    columns: list[str]
    ignored_columns: list[str] = field(default_factory=list)
    # rows a layout reader refused itself (columns row, column, reason, value, raw): counted once read
    rejects: list[pd.DataFrame] = field(default_factory=list)


class MalformedFile(Unprocessable):
    title = "Malformed file"
    type_suffix = "malformed-file"


class MissingColumns(Unprocessable):
    title = "Missing columns"
    type_suffix = "missing-columns"


def canonical_columns(columns: list[Any]) -> tuple[list[str], list[str]]:
    """Map header names to canonical ones; returns (mapped names, ignored names)."""
    mapped, ignored = [], []
    seen: set[str] = set()
    for raw in columns:
        key = re.sub(r"[\s\-./]+", "_", str(raw).strip().lower()).strip("_")
        key = COLUMN_ALIASES.get(key, key)
        if key in seen:
            raise MalformedFile(f"column '{raw}' appears twice (as '{key}')", column=str(raw))
        seen.add(key)
        mapped.append(key)
        if key not in KNOWN_COLUMNS:
            ignored.append(str(raw))
    return mapped, ignored


def check_required(columns: list[str], *, where: str) -> None:
    missing = [c for c in REQUIRED if c not in columns]
    has_time = "timestamp" in columns or "period" in columns or "period_start" in columns
    if not has_time:
        missing.append("timestamp (or period, or period_start and period_end)")
    if "period_start" in columns and "period_end" not in columns and "timestamp" not in columns:
        missing.append("period_end")
    if missing:
        raise MissingColumns(
            f"{where} lacks required column(s): {', '.join(missing)}",
            missing=missing, found=[c for c in columns if c],
        )


def sniff_encoding(head: bytes, requested: str | None) -> str:
    if requested:
        try:
            codecs.lookup(requested)
        except LookupError as exc:
            raise Unprocessable(f"unknown encoding '{requested}'", parameter="encoding") from exc
        return requested
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return "utf-8"


def read_csv(stream: IO[bytes], *, chunk_rows: int, encoding: str | None = None) -> ParsedInput:
    head = stream.read(4096)
    stream.seek(0)
    if not head.strip():
        raise MalformedFile("the file is empty")
    if head.startswith(b"PK\x03\x04"):
        raise UnsupportedMediaType("this is a ZIP/XLSX file sent as CSV; send it with an .xlsx name or "
                                   "the spreadsheet content type")
    if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise MalformedFile("the file contains NUL bytes: it is binary, not CSV text")
    enc = sniff_encoding(head, encoding)
    text = io.TextIOWrapper(stream, encoding=enc, errors="strict", newline="")
    try:
        sample = text.read(8192)
        text.seek(0)
        try:
            delimiter = csv.Sniffer().sniff(sample.split("\n", 1)[0], delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
        lines = csv.reader(io.StringIO(sample), delimiter=delimiter)
        header = next(lines)
        first = next(lines, None)
    except UnicodeDecodeError as exc:
        raise _encoding_error(exc, enc) from exc
    # pandas would take the extra leading fields of a too-long first row as an index and shift every column
    if first is not None and len(first) > len(header):
        raise MalformedFile(f"the CSV is malformed: line 2 has {len(first)} fields where the header has "
                            f"{len(header)}", line=2)
    columns, ignored = canonical_columns(header)
    check_required(columns, where="the file")
    text.seek(0)
    try:  # the parser reads its first block (up to 256 KiB) here, not at the first chunk
        reader = pd.read_csv(
            text, sep=delimiter, dtype=str, keep_default_na=False, na_filter=False, chunksize=chunk_rows,
            header=0, names=columns, index_col=False, skipinitialspace=True, engine="c",
        )
    except UnicodeDecodeError as exc:
        raise _encoding_error(exc, enc) from exc
    except pd.errors.ParserError as exc:
        raise MalformedFile(f"the CSV is malformed: {_parser_message(exc)}") from exc

    def chunks() -> Iterator[pd.DataFrame]:
        first_row = 2
        try:
            for chunk in reader:
                chunk[ROW] = range(first_row, first_row + len(chunk))
                first_row += len(chunk)
                yield chunk
        except UnicodeDecodeError as exc:
            raise _encoding_error(exc, enc) from exc
        except pd.errors.ParserError as exc:
            raise MalformedFile(f"the CSV is malformed: {_parser_message(exc)}") from exc

    return ParsedInput(chunks=chunks(), columns=columns, ignored_columns=ignored)


def _parser_message(exc: Exception) -> str:
    text = str(exc).strip()
    match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
    if match:
        return f"line {match.group(2)} has {match.group(3)} fields where the header has {match.group(1)}"
    return text.replace("Error tokenizing data. C error: ", "")


def _encoding_error(exc: UnicodeDecodeError, enc: str) -> Unprocessable:
    return Unprocessable(
        f"the file is not valid {enc} text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start} of a "
        f"decoding block); save it as UTF-8 or pass ?encoding=cp1252 (or the file's encoding)",
        encoding=enc,
    )


def read_xlsx(stream: IO[bytes], *, chunk_rows: int) -> ParsedInput:
    try:
        if not zipfile.is_zipfile(stream):
            raise MalformedFile("the file is not a valid XLSX workbook (not a ZIP container)")
        stream.seek(0)
        frame = pd.read_excel(stream, sheet_name=0, dtype=str, engine="openpyxl", keep_default_na=False,
                              na_filter=False)
    except MalformedFile:
        raise
    except Exception as exc:  # openpyxl raises many exception types for broken workbooks
        raise MalformedFile(f"the XLSX workbook cannot be read: {type(exc).__name__}: {exc}") from exc
    columns, ignored = canonical_columns(list(frame.columns))
    check_required(columns, where="the first sheet")
    frame.columns = columns
    frame = frame.astype(str).replace({"nan": "", "NaT": "", "None": ""})
    frame[ROW] = range(2, 2 + len(frame))
    return ParsedInput(chunks=_split(frame, chunk_rows), columns=columns, ignored_columns=ignored)


def read_records(records: list[dict[str, Any]], *, chunk_rows: int) -> ParsedInput:
    if not records:
        raise Unprocessable("'records' is empty", field="records")
    frame = pd.DataFrame.from_records(records)
    columns, ignored = canonical_columns(list(frame.columns))
    check_required(columns, where="the records")
    frame.columns = columns
    frame = frame.astype(object).where(frame.notna(), "").astype(str)
    frame[ROW] = range(len(frame))
    return ParsedInput(chunks=_split(frame, chunk_rows), columns=columns, ignored_columns=ignored)


def _split(frame: pd.DataFrame, chunk_rows: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), chunk_rows):
        yield frame.iloc[start : start + chunk_rows].copy()

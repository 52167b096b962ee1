"""Fast bulk writes inside the caller's transaction: COPY on PostgreSQL, executemany on SQLite.

Both take a DataFrame whose columns are named like the table's; datetimes are written in the one
format SQLAlchemy reads back (see ``models.SQLITE_DATETIME_FORMAT``).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection

COPY_CHUNK_ROWS = 100_000


def _datetime_strings(series: pd.Series) -> np.ndarray:
    values = series.to_numpy(dtype="datetime64[us]")
    out = np.datetime_as_string(values, unit="us").astype(object)
    out[pd.isna(series).to_numpy()] = None
    return out


def _column_values(series: pd.Series) -> list[Any]:
    if pd.api.types.is_datetime64_any_dtype(series):
        return _datetime_strings(series).tolist()
    if pd.api.types.is_bool_dtype(series):
        return series.astype(object).tolist()
    if pd.api.types.is_float_dtype(series):
        arr = series.to_numpy(dtype=float)
        obj = arr.astype(object)
        obj[np.isnan(arr)] = None
        return obj.tolist()
    if pd.api.types.is_integer_dtype(series) and not isinstance(series.dtype, pd.api.extensions.ExtensionDtype):
        return series.tolist()
    obj = series.astype(object)
    return obj.where(pd.notna(obj), None).tolist()


def bulk_insert(conn: Connection, table: str, frame: pd.DataFrame, *, not_null_text: tuple[str, ...] = ()) -> int:
    """Insert every row of ``frame`` into ``table`` in the current transaction; returns the row count."""
    if frame.empty:
        return 0
    columns = list(frame.columns)
    if conn.dialect.name == "postgresql":
        return _copy_postgres(conn, table, frame, columns, not_null_text)
    raw = conn.connection.driver_connection
    assert raw is not None
    placeholders = ",".join("?" * len(columns))
    sql = f'INSERT INTO {table} ({",".join(_quote(c) for c in columns)}) VALUES ({placeholders})'
    rows = zip(*(_column_values(frame[c]) for c in columns), strict=True)
    cursor = raw.cursor()
    try:
        cursor.executemany(sql, rows)
    finally:
        cursor.close()
    return len(frame)


def _quote(name: str) -> str:
    return f'"{name}"'


def _copy_postgres(
    conn: Connection, table: str, frame: pd.DataFrame, columns: list[str], not_null_text: tuple[str, ...]
) -> int:
    raw = conn.connection.driver_connection
    assert raw is not None
    options = "FORMAT csv"
    forced = [c for c in not_null_text if c in columns]
    if forced:
        options += f", FORCE_NOT_NULL ({','.join(_quote(c) for c in forced)})"
    sql = f'COPY {table} ({",".join(_quote(c) for c in columns)}) FROM STDIN ({options})'
    prepared = frame.copy(deep=False)
    for c in columns:
        if pd.api.types.is_datetime64_any_dtype(prepared[c]):
            prepared[c] = _datetime_strings(prepared[c])
        elif pd.api.types.is_float_dtype(prepared[c]):
            pass
        elif pd.api.types.is_bool_dtype(prepared[c]):
            prepared[c] = prepared[c].map({True: "t", False: "f"})
    with raw.cursor() as cursor, cursor.copy(sql) as copy:
        for start in range(0, len(prepared), COPY_CHUNK_ROWS):
            buffer = io.StringIO()
            prepared.iloc[start : start + COPY_CHUNK_ROWS].to_csv(
                buffer, index=False, header=False, float_format="%.17g", na_rep=""
            )
            copy.write(buffer.getvalue())
    return len(frame)

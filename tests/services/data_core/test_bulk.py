"""Bulk inserts: COPY on PostgreSQL, executemany on SQLite; missing values become NULL and datetimes, floats,
booleans and text read back as written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Boolean, Column, DateTime, Float, Integer, MetaData, String, Table, select

from services.data_core import bulk

T = pd.Timestamp("2020-01-01T10:00:00.123456")


def test_column_values_are_what_the_driver_takes() -> None:
    assert bulk._column_values(pd.Series([1.5, np.nan])) == [1.5, None]
    assert bulk._column_values(pd.Series([1.5, 2.0])) == [1.5, 2.0]
    assert bulk._column_values(pd.Series([T, pd.NaT])) == ["2020-01-01T10:00:00.123456", None]
    assert bulk._column_values(pd.Series([True, False])) == [True, False]
    assert bulk._column_values(pd.Series([1, 2])) == [1, 2]
    assert bulk._column_values(pd.Series(["a", None])) == ["a", None]
    assert bulk._column_values(pd.Series([1, None], dtype="Int64")) == [1, None]


def test_prepare_insert_names_the_columns_per_dialect() -> None:
    frame = pd.DataFrame({"a": [1.0], "b": ["x"]})
    copy = bulk.prepare_insert("postgresql", "t", frame, not_null_text=("b", "missing"))
    assert copy.sql == 'COPY t ("a","b") FROM STDIN (FORMAT csv, FORCE_NOT_NULL ("b"))' and copy.rows == 1
    assert bulk.prepare_insert("sqlite", "t", frame).sql == 'INSERT INTO t ("a","b") VALUES (?,?)'


@pytest.mark.integration
def test_rows_read_back_as_written(db_engine, monkeypatch) -> None:
    monkeypatch.setattr(bulk, "COPY_CHUNK_ROWS", 2)  # several blocks on either dialect
    monkeypatch.setattr(bulk, "SQLITE_BLOCK_ROWS", 2)
    table = Table("bulk_probe", MetaData(), Column("n", Integer, primary_key=True), Column("x", Float),
                  Column("at", DateTime), Column("ok", Boolean), Column("label", String(20), nullable=False))
    table.create(db_engine)
    frame = pd.DataFrame({"n": [1, 2, 3, 4, 5], "x": [0.1, np.nan, 1e-300, -2.5, 3.0],
                          "at": [T, pd.NaT, T, T, T], "ok": [True, False, True, False, True],
                          "label": ["a", "", "b,c", 'd"e', "f"]})
    with db_engine.begin() as conn:
        assert bulk.bulk_insert(conn, "bulk_probe", frame, not_null_text=("label",)) == 5
        assert bulk.bulk_insert(conn, "bulk_probe", frame.iloc[:0]) == 0
    with db_engine.connect() as conn:
        rows = conn.execute(select(table).order_by(table.c.n)).all()
    assert [r.x for r in rows][0] == 0.1 and rows[1].x is None and rows[2].x == 1e-300
    assert rows[0].at == T.to_pydatetime() and rows[1].at is None
    assert [r.ok for r in rows] == [True, False, True, False, True]
    assert [r.label for r in rows] == ["a", "", "b,c", 'd"e', "f"]  # '' stays '' (not NULL)

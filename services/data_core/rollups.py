"""Daily rollups of the ledger, kept in step with it, so dashboards and reports aggregate tens of
thousands of rows instead of millions.

One row per (ledger version, day, site, scope, category, activity type) with the sums of the gases,
CO2e (location and market) and the number of ledger rows. Ingestion adds each chunk's sums with an
upsert in the same transaction as the ledger rows; a new ledger version builds its rollup with one
``INSERT ... SELECT``. Queries at day resolution or coarser, with day-aligned filters, read the rollup;
finer ones read the ledger. A test checks both give the same totals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import Connection, text

KEYS = ["version_id", "period_start", "site_id", "scope", "category", "activity_type", "edition_key"]
SUMS = ["kg_co2e", "kg_co2e_market", "kg_co2", "kg_ch4", "kg_n2o"]
NO_CATEGORY = 0


def add_to_rollup(conn: Connection, emissions: pd.DataFrame) -> int:
    """Add the sums of these ledger rows (as ``ledger.calculate`` returns them, with site, activity
    type, period start and edition key) to the rollup: a vectorised group-by, one upsert per group."""
    if emissions.empty:
        return 0
    frame = emissions[KEYS + SUMS].copy()
    frame["period_start"] = frame["period_start"].astype("datetime64[us]").dt.floor("D")
    frame["category"] = frame["category"].astype("Int64").fillna(NO_CATEGORY).astype("int64")
    frame["rows"] = 1
    grouped = frame.groupby(KEYS, as_index=False, sort=False).agg(
        {**{c: "sum" for c in SUMS}, "rows": "sum"})
    columns = [*KEYS, *SUMS, "rows"]
    marker = "%s" if conn.dialect.name == "postgresql" else "?"
    sql = (f"INSERT INTO emission_rollups ({', '.join(columns)}) VALUES ({', '.join([marker] * len(columns))}) "
           f"ON CONFLICT ({', '.join(KEYS)}) DO UPDATE SET "
           + ", ".join(f"{c} = emission_rollups.{c} + excluded.{c}" for c in [*SUMS, "rows"]))
    day = np.datetime_as_string(grouped["period_start"].to_numpy(dtype="datetime64[us]"), unit="us")
    values = [day.tolist() if c == "period_start" else grouped[c].tolist() for c in columns]
    if conn.dialect.name == "postgresql":  # psycopg wants datetimes for timestamp columns
        values[1] = grouped["period_start"].dt.to_pydatetime().tolist()
    raw = conn.connection.driver_connection
    cursor = raw.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, list(zip(*values, strict=True)))
    finally:
        cursor.close()
    return len(grouped)


def build_rollup(conn: Connection, version_id: int) -> int:
    """(Re)build the rollup of one ledger version from its rows."""
    day = "date_trunc('day', a.period_start)" if conn.dialect.name == "postgresql" else \
        "strftime('%Y-%m-%dT00:00:00.000000', a.period_start)"
    conn.execute(text("DELETE FROM emission_rollups WHERE version_id = :v"), {"v": version_id})
    result = conn.execute(text(
        f"INSERT INTO emission_rollups (version_id, period_start, site_id, scope, category, activity_type, "
        f"edition_key, kg_co2e, kg_co2e_market, kg_co2, kg_ch4, kg_n2o, rows) "
        f"SELECT e.version_id, {day}, a.site_id, e.scope, COALESCE(e.category, {NO_CATEGORY}), a.activity_type, "
        f"f.edition_key, "
        f"SUM(e.kg_co2e), SUM(e.kg_co2e_market), COALESCE(SUM(e.kg_co2), 0), COALESCE(SUM(e.kg_ch4), 0), "
        f"COALESCE(SUM(e.kg_n2o), 0), COUNT(*) "
        f"FROM emissions e JOIN activities a ON a.id = e.activity_id "
        f"JOIN emission_factors f ON f.factor_id = e.factor_id WHERE e.version_id = :v "
        f"GROUP BY e.version_id, {day}, a.site_id, e.scope, COALESCE(e.category, {NO_CATEGORY}), a.activity_type, "
        f"f.edition_key"),
        {"v": version_id})
    return int(result.rowcount or 0)

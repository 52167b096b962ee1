"""bench/scan.py's server-side breakdown of ``GET /api/v1/residuals``: the endpoint's statement run in-process
on the bench database for one chunk of sites, step by step (SQL fetch, DataFrame, time format, CSV), next to
the same rows fetched other ways (tuples, no ORDER BY, count only, the DBAPI cursor, Arrow's CSV writer), and
its table."""

from __future__ import annotations

import io
import statistics
import time
from typing import Any

import pandas as pd


def _client_frame(body: bytes) -> pd.DataFrame:
    """The frame ``services.lib.hotspots.scan.read_residuals`` parses from a residuals CSV body."""
    return pd.read_csv(io.BytesIO(body), dtype={"site": str, "meter": str, "model_version": str},
                       keep_default_na=False, na_values={"expected": [""], "lower": [""], "upper": [""],
                                                         "actual": [""], "model_version": [""]})


def residuals_breakdown(db_url: str, sites: list[str], repeat: int, start: pd.Timestamp,
                        end: pd.Timestamp) -> dict[str, Any]:
    """The residuals endpoint's work for one chunk, in-process on the same database, by step; and the same
    rows fetched other ways (what the endpoint could do instead)."""
    from sqlalchemy import and_, create_engine, select, text

    from services.data_core.exports import frame_response
    from services.data_core.models import Activity, Prediction
    from services.data_core.routes.predictions import _hourly_readings

    engine = create_engine(db_url)
    a, p = Activity.__table__.c, Prediction.__table__.c
    columns = ["site", "meter", "activity_type", "period_start", "actual", "unit", "expected", "lower", "upper",
               "model_name", "model_version"]
    out: dict[str, list[float]] = {}

    def add(key: str, seconds: float) -> None:
        out.setdefault(key, []).append(seconds)

    with engine.connect() as conn:
        dialect = conn.dialect.name
        clauses = _hourly_readings(dialect, sites, [], start.to_pydatetime(), end.to_pydatetime())
        base = (select(a.site_id.label("site"), a.meter, a.activity_type, a.period_start,
                       a.quantity.label("actual"), a.unit, p.expected, p.lower, p.upper, p.model_name,
                       p.model_version)
                .join_from(Activity.__table__, Prediction.__table__, and_(
                    p.site_id == a.site_id, p.meter == a.meter, p.activity_type == a.activity_type,
                    p.period_start == a.period_start))
                .where(*clauses))
        stmt = base.order_by(a.period_start, a.site_id, a.meter)
        compiled = stmt.compile(conn, compile_kwargs={"literal_binds": True})
        plan_sql = ("EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN ") + str(compiled)
        plan = [" | ".join(str(v) for v in row) for row in conn.exec_driver_sql(plan_sql)]
        literal_sql = str(compiled)
        n, same, arrow_same = 0, False, None
        for _ in range(repeat):
            t = time.perf_counter()
            result = conn.execute(stmt).mappings().all()
            add("sql_fetch_mappings", time.perf_counter() - t)
            t = time.perf_counter()
            frame = pd.DataFrame(result, columns=columns)
            add("dataframe", time.perf_counter() - t)
            t = time.perf_counter()
            frame["period_start"] = pd.to_datetime(frame["period_start"]).dt.strftime("%Y-%m-%dT%H:%M:%S")
            add("strftime", time.perf_counter() - t)
            t = time.perf_counter()
            body = frame_response(frame, fmt="csv", name="residuals").body
            add("to_csv", time.perf_counter() - t)
            n = len(frame)
            del result, frame
            # alternatives (same rows): tuples instead of RowMappings; the SQL without ORDER BY; count only
            t = time.perf_counter()
            tuples = conn.execute(stmt).all()
            add("alt_sql_fetch_tuples", time.perf_counter() - t)
            del tuples
            t = time.perf_counter()
            conn.execute(base).all()
            add("alt_sql_fetch_no_order", time.perf_counter() - t)
            t = time.perf_counter()
            conn.execute(select(text("count(*)")).select_from(base.subquery())).scalar_one()
            add("alt_sql_count_only", time.perf_counter() - t)
            # the whole endpoint done at the driver level: DBAPI cursor, no SQLAlchemy result processing
            # (on SQLite that processing parses every period_start string into a datetime in Python), the
            # time formatted from the stored text, the same pandas to_csv
            t0 = time.perf_counter()
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            cursor.execute(literal_sql)
            raw = cursor.fetchall()
            cursor.close()
            t1 = time.perf_counter()
            frame = pd.DataFrame.from_records(raw, columns=columns)
            del raw
            if frame["period_start"].map(type).eq(str).all():  # type: ignore[arg-type]  # SQLite: 'YYYY-MM-DD HH:MM:SS.ffffff'
                frame["period_start"] = frame["period_start"].str.slice(0, 19).str.replace(" ", "T", regex=False)
            else:
                frame["period_start"] = pd.to_datetime(frame["period_start"]).dt.strftime("%Y-%m-%dT%H:%M:%S")
            t2 = time.perf_counter()
            alt_body = frame.to_csv(index=False).encode("utf-8")
            t3 = time.perf_counter()
            add("alt_driver_fetch", t1 - t0)
            add("alt_driver_frame_and_time", t2 - t1)
            add("alt_driver_to_csv", t3 - t2)
            add("alt_driver_total", t3 - t0)
            same = alt_body == body
            import pyarrow as pa
            import pyarrow.csv as pacsv

            t = time.perf_counter()
            sink = io.BytesIO()
            pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), sink)
            add("alt_arrow_csv_instead_of_to_csv", time.perf_counter() - t)
            if arrow_same is None:  # what the scan's client makes of the Arrow CSV: the same frame?
                arrow_same = bool(_client_frame(sink.getvalue()).equals(_client_frame(bytes(body))))
            del frame, alt_body
    engine.dispose()
    med = {k: statistics.median(v) for k, v in out.items()}
    med["endpoint_total"] = sum(med[k] for k in ("sql_fetch_mappings", "dataframe", "strftime", "to_csv"))
    return {"sites": sites, "rows": n, "csv_mib": len(body) / 2**20, "seconds": med, "plan": plan,
            "driver_level_csv_identical": same, "arrow_csv_parses_same": arrow_same}




def breakdown_table(results: dict[str, Any]) -> str:
    bd = results.get("residuals_breakdown")
    if not bd:
        return ""
    one, four = bd["1x"], bd["4x"]
    lines = [f"\n{results['db']}: GET /api/v1/residuals for one chunk ({len(one['sites'])} sites, "
             f"{one['rows']:,} rows, {one['csv_mib']:.1f} MiB CSV), in-process, median of {results['repeat']}:",
             f"{'':30}{'1x db':>10}{'4x db':>10}{'4x/1x':>8}"]
    for k in one["seconds"]:
        a, b = one["seconds"][k], four["seconds"][k]
        lines.append(f"  {k:28}{a:>10.3f}{b:>10.3f}{b / a:>8.2f}")
    lines.append(f"  driver-level CSV byte-identical to the endpoint's: {one['driver_level_csv_identical']} / "
                 f"{four['driver_level_csv_identical']}; Arrow CSV parses to the same frame in the scan's "
                 f"read_csv: {one['arrow_csv_parses_same']} / {four['arrow_csv_parses_same']}")
    lines.append("  query plan (4x): " + " ; ".join(four["plan"]))
    return "\n".join(lines)

"""Loading the factor library into the database and into memory for vectorised selection."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, Table, bindparam, func, select, update

from services.data_core import units
from services.data_core.bulk import bulk_insert
from services.data_core.factors.schema import FACTOR_COLUMNS
from services.data_core.models import EmissionFactor, GwpValue

log = logging.getLogger(__name__)

OPEN_END = pd.Timestamp("9999-12-31")


def read_library_csv(path: Path) -> pd.DataFrame:
    dtypes: dict[str, Any] = {"naics_code": str, "category": "Int64", "scope": int}
    frame = pd.read_csv(path, dtype=dtypes, keep_default_na=False,
                        na_values={c: [""] for c in ("co2_kg", "ch4_kg", "n2o_kg", "co2e_kg", "category", "valid_to")})
    missing = set(FACTOR_COLUMNS) - set(frame.columns)
    if missing:
        raise ValueError(f"{path} lacks columns {sorted(missing)}")
    frame = frame[FACTOR_COLUMNS].copy()
    frame["valid_from"] = pd.to_datetime(frame["valid_from"], format="ISO8601")
    frame["valid_to"] = pd.to_datetime(frame["valid_to"], format="ISO8601")
    for col in ("naics_code", "method", "notes", "table_ref", "source_label"):
        frame[col] = frame[col].fillna("").astype(str)
    return frame


def seed_library(conn: Connection, factors_csv: Path, gwp_csv: Path) -> int:
    """Insert library factors that the database does not have yet. Factors are immutable, so a
    factor id already present is left as it is. Returns the number inserted."""
    library = read_library_csv(factors_csv)
    stored = pd.read_sql(select(EmissionFactor.factor_id, EmissionFactor.valid_to)
                         .where(EmissionFactor.org_id.is_(None)), conn)
    present = set(stored["factor_id"])
    new = library[~library["factor_id"].isin(present)]
    _close_superseded(conn, library, stored)
    inserted = bulk_insert(conn, EmissionFactor.__tablename__, new,
                           not_null_text=("naics_code", "method", "notes", "table_ref", "source_label"))
    gwp = pd.read_csv(gwp_csv)
    have = {(r.gwp_set, r.gas) for r in conn.execute(select(GwpValue.gwp_set, GwpValue.gas))}
    gwp_new = gwp[[(s, g) not in have for s, g in zip(gwp["gwp_set"], gwp["gas"], strict=True)]]
    bulk_insert(conn, GwpValue.__tablename__, gwp_new[["gwp_set", "gas", "gwp", "source"]], not_null_text=("source",))
    if inserted:
        log.info("factor library seeded", extra={"inserted": inserted, "total": len(library)})
    return inserted


def _close_superseded(conn: Connection, library: pd.DataFrame, stored: pd.DataFrame) -> int:
    """The one change a published factor may see: an end of validity, when a newer edition of the same
    publication joins the library. Everything else about a factor is immutable."""
    if stored.empty:
        return 0
    stored = stored.assign(valid_to=pd.to_datetime(stored["valid_to"]).astype("datetime64[us]"))
    both = library[["factor_id", "valid_to"]].merge(stored, on="factor_id", suffixes=("", "_db"))
    changed = both[both["valid_to"].notna() & (both["valid_to_db"].isna() | (both["valid_to"] != both["valid_to_db"]))]
    if changed.empty:
        return 0
    table = cast(Table, EmissionFactor.__table__)
    conn.execute(
        update(table).where(table.c.factor_id == bindparam("fid")).values(valid_to=bindparam("vt")),
        [{"fid": f, "vt": v.to_pydatetime()} for f, v in zip(changed["factor_id"], changed["valid_to"], strict=True)],
    )
    log.info("superseded factors closed", extra={"factors": len(changed)})
    return len(changed)


@dataclass(frozen=True)
class FactorTable:
    """All factors (library and custom) as one frame, with the dimension of each unit."""

    frame: pd.DataFrame
    gwp: dict[tuple[str, str], float]
    fingerprint: tuple[int, str]



class FactorCache:
    """In-memory factor table, reloaded when the database's factors change (a custom factor added
    on any replica changes the count and the newest creation time)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._table: FactorTable | None = None

    def _fingerprint(self, conn: Connection) -> tuple[int, str]:
        count, newest = conn.execute(
            select(func.count(), func.max(EmissionFactor.created_at))
        ).one()
        return int(count), str(newest)

    def get(self, conn: Connection | None = None) -> FactorTable:
        with self._lock:
            if conn is None:
                with self.engine.connect() as own:
                    return self._get(own)
            return self._get(conn)

    def _get(self, conn: Connection) -> FactorTable:
        fingerprint = self._fingerprint(conn)
        if self._table is not None and self._table.fingerprint == fingerprint:
            return self._table
        frame = pd.read_sql(select(EmissionFactor.__table__), conn)
        frame["valid_from"] = pd.to_datetime(frame["valid_from"]).astype("datetime64[us]")
        frame["valid_to"] = pd.to_datetime(frame["valid_to"]).astype("datetime64[us]").fillna(OPEN_END)
        frame["naics_code"] = frame["naics_code"].fillna("").astype(str)
        frame["method"] = frame["method"].fillna("").astype(str)
        dims = {u: units.dimensionality(u) for u in frame["unit"].unique()}
        frame["unit_dim"] = frame["unit"].map(dims).astype(str)
        for col in ("activity_type", "region", "region_level", "edition_key", "factor_id"):
            frame[col] = frame[col].astype(str)
        gwp = {(r.gwp_set, r.gas): float(r.gwp) for r in conn.execute(select(GwpValue.gwp_set, GwpValue.gas, GwpValue.gwp))}
        self._table = FactorTable(frame=frame, gwp=gwp, fingerprint=fingerprint)
        return self._table


def gwp_vector(table: FactorTable, sets: pd.Series, gas: str) -> np.ndarray:
    codes, uniques = pd.factorize(sets)
    values = np.array([table.gwp.get((u, gas), np.nan) for u in uniques] + [np.nan], dtype=float)
    return values[codes]  # code -1 (missing) takes the trailing NaN

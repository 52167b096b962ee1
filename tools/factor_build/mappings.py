"""The reviewed mapping tables of the factor build: ``data/factors/mappings/*.csv``.

Each table maps a source's own wording (key columns) to the library's names (value columns); its
columns are declared in :data:`TABLES` and documented in ``data/factors/mappings/README.md``. The
loader checks every header, key and cell, so a malformed file fails with its path and what is wrong.
The readers look values up through :class:`Mappings`, which records every key the build matched: a
test builds the library and asserts that no mapping row went unused.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pandas as pd

from tools.factor_build.common import MAPPINGS_DIR


@dataclass(frozen=True)
class TableSpec:
    """Columns of one mapping file: ``key`` identifies a row (unique), ``values`` are what it maps to."""

    key: tuple[str, ...]
    values: tuple[str, ...]
    optional: tuple[str, ...] = ()  # columns whose cells may be empty
    integers: tuple[str, ...] = ()  # columns whose non-empty cells are whole numbers

    @property
    def columns(self) -> list[str]:
        return [*self.key, *self.values]


_DESNZ_LEVELS = ("level_1", "level_2", "level_3", "level_4", "column_text", "uom")

TABLES: dict[str, TableSpec] = {
    "epa_hub_t1_activity_overrides": TableSpec(("fuel_type",), ("activity_type",)),
    "epa_hub_fuel_renames": TableSpec(("fuel_type_workbook",), ("fuel_type",)),
    "epa_hub_withdrawn": TableSpec(("edition_key", "table", "vehicle_type", "unit"), ("reason",)),
    "epa_hub_t2_activities": TableSpec(("fuel_type",), ("activity_type",)),
    "epa_hub_t8_activities": TableSpec(("vehicle_type", "unit"), ("activity_type",)),
    "epa_hub_t10_activities": TableSpec(("vehicle_type",), ("activity_type",)),
    "epa_hub_t9_methods": TableSpec(("column",), ("method", "workbook_2021_heading")),
    "epa_hub_units": TableSpec(("hub_unit",), ("unit",)),
    "desnz_units": TableSpec(("uom",), ("unit",)),
    "desnz_factors": TableSpec(
        _DESNZ_LEVELS,
        ("activity_type", "scope", "category", "method", "unit", "notes"),
        optional=("level_4", "column_text", "category", "method", "unit", "notes"),
        integers=("scope", "category"),
    ),
    "desnz_wording": TableSpec(
        ("edition_key", "level_1", "column", "source_text"), ("text",), optional=("source_text", "text")
    ),
    "desnz_waste_materials": TableSpec(("level_3",), ("material",)),
    "desnz_waste_methods": TableSpec(("column_text",), ("method",)),
    "desnz_hotel_countries": TableSpec(("country",), ("iso_alpha2",), optional=("iso_alpha2",)),
    "activity_descriptions": TableSpec(("activity_type",), ("description",)),
}

Key = tuple[str, ...]


def _keys(frame: pd.DataFrame, key: tuple[str, ...]) -> set[Key]:
    return set(frame[list(key)].drop_duplicates().itertuples(index=False, name=None))


class Mappings:
    """The loaded tables, and the keys of each that the build has matched so far."""

    def __init__(self, tables: dict[str, pd.DataFrame]) -> None:
        self._tables = tables
        self._used: dict[str, set[Key]] = {name: set() for name in tables}

    def table(self, name: str) -> pd.DataFrame:
        """A whole table, in file order; every row counts as used (the caller fails on a row it cannot use)."""
        frame = self._tables[name].copy()
        self._used[name] |= _keys(frame, TABLES[name].key)
        return frame

    def map(self, name: str, *keys: pd.Series, value: str | None = None) -> pd.Series:
        """Look the key series up in table ``name``; NaN where no row matches (like ``Series.map``)."""
        spec = TABLES[name]
        column = value or spec.values[0]
        if len(keys) != len(spec.key):
            raise TypeError(f"mapping {name} is keyed by {spec.key}, got {len(keys)} key series")
        left = pd.DataFrame({k: s.to_numpy(dtype=object) for k, s in zip(spec.key, keys, strict=True)})
        right = self._tables[name][[*spec.key, column]].astype(object)
        merged = left.merge(right, on=list(spec.key), how="left", validate="many_to_one")
        self._used[name] |= _keys(merged[merged[column].notna()], spec.key)
        return pd.Series(merged[column].to_numpy(dtype=object), index=keys[0].index, name=column)

    def unused(self) -> dict[str, list[Key]]:
        """Rows (by key) of each table that no lookup has matched; empty after a full build."""
        unused = {
            name: sorted(_keys(frame, TABLES[name].key) - self._used[name]) for name, frame in self._tables.items()
        }
        return {name: keys for name, keys in unused.items() if keys}


def _read_table(path: Path, spec: TableSpec) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    header = list(frame.columns)
    missing = [c for c in spec.columns if c not in header]
    extra = [c for c in header if c not in spec.columns]
    if missing or extra:
        raise ValueError(
            f"{path}: missing column(s) {missing}, unexpected column(s) {extra}; "
            f"the header must be: {','.join(spec.columns)}"
        )
    for column in spec.columns:
        line = frame.index + 2  # the header is line 1
        if column not in spec.optional and frame[column].eq("").any():
            raise ValueError(f"{path}: empty {column!r} on line(s) {line[frame[column].eq('')].tolist()}")
        if column in spec.integers:
            bad = frame[column].ne("") & ~frame[column].str.fullmatch(r"\d+")
            if bad.any():
                raise ValueError(f"{path}: {column!r} is not a whole number on line(s) {line[bad].tolist()}")
    duplicated = frame.duplicated(list(spec.key), keep=False)
    if duplicated.any():
        raise ValueError(
            f"{path}: duplicate key {list(spec.key)} on line(s) {(frame.index[duplicated] + 2).tolist()}"
        )
    return frame[spec.columns]


def load_mappings(directory: Path = MAPPINGS_DIR) -> Mappings:
    """Read and check every table of :data:`TABLES` from ``directory`` (no other CSV may be there)."""
    strays = sorted(p.name for p in directory.glob("*.csv") if p.stem not in TABLES)
    if strays:
        raise ValueError(f"{directory}: mapping files no table is declared for: {strays}")
    tables = {}
    for name, spec in TABLES.items():
        path = directory / f"{name}.csv"
        if not path.is_file():
            raise ValueError(f"{path}: mapping file missing (columns: {','.join(spec.columns)})")
        tables[name] = _read_table(path, spec)
    return Mappings(tables)


@cache
def mappings() -> Mappings:
    """The tables of ``data/factors/mappings``, loaded once per process (usage accumulates across builds)."""
    return load_mappings()

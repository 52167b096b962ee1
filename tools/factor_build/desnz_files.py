"""UK Government GHG Conversion Factors, flat-file editions 2019-2024: each file read into one shape.

The layouts differ by year (header on row 5 in 2019-2022, row 6 in 2023; a leading ``ID`` column from
2023; ``UOM (simple)``/``Lookup`` columns in 2019-2021; the per-gas rows labelled ``kg CO2`` in
2019-2021, ``kg CO2e of CO2`` in 2022 and ``kg CO2e of CO2 per unit`` from 2023). :func:`read_flat_file`
returns every edition as the same frame: ``table_ref``, ``scope``, ``level_1`` .. ``level_4``,
``column_text``, ``uom``, ``ghg_unit``, ``value`` (``value`` NaN where the cell holds no number).

The 2019-2022 files are Excel 97 ``.xls``; the 2021 and 2022 ones declare more shared strings than they
hold, which xlrd rejects, so every workbook is read with calamine (``python-calamine``), which reads
the strings that are stored (no cell of these files refers past them). The edition's version is read
from its ``Front page`` sheet and its GWP set from its own "Refrigerant & other" rows (methane 25 and
nitrous oxide 298 = AR4, 28 and 265 = AR5).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
from python_calamine import CalamineWorkbook

from tools.factor_build.common import DESNZ_CSV, DESNZ_FLAT_FILES

LEVELS = ["level_1", "level_2", "level_3", "level_4", "column_text"]
_HEADERS = {
    "ID": "id",
    "Scope": "scope",
    "Level 1": "level_1",
    "Level 2": "level_2",
    "Level 3": "level_3",
    "Level 4": "level_4",
    "Column Text": "column_text",
    "UOM": "uom",
    "GHG": "ghg_unit",
    "GHG/Unit": "ghg_unit",
}
_GWP_SETS = {(25.0, 298.0): "AR4", (28.0, 265.0): "AR5"}


@dataclass(frozen=True)
class FlatFile:
    """One edition: its rows (the common shape) and what its front page and refrigerant rows say."""

    year: int
    rows: pd.DataFrame
    version: str
    gwp_set: str
    publisher: str


def _text(value: object) -> str:
    """A cell as text: whole numbers without '.0' (the 2022 file's Level 4 holds the number 2020)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _sheet(path: Path, name: str) -> list[list[Any]]:
    return CalamineWorkbook.from_path(str(path)).get_sheet_by_name(name).to_python()


def _front_page(path: Path) -> dict[str, str]:
    """The label: value pairs of the Front page as printed (e.g. 'Version' -> '1.03', '1.0')."""
    pairs: dict[str, str] = {}
    for row in _sheet(path, "Front page"):
        cells = [str(c).strip() for c in row if str(c).strip()]
        for label, value in zip(cells, cells[1:], strict=False):
            if label.endswith(":") and label.rstrip(": ") not in pairs:
                pairs[label.rstrip(": ")] = value
    return pairs


def _read_workbook(path: Path, year: int) -> pd.DataFrame:
    rows = _sheet(path, "Factors by Category")
    header_at = next(i for i, row in enumerate(rows) if "Scope" in row and "Level 1" in row)
    header = [_text(c) for c in rows[header_at]]
    factor_column = f"GHG Conversion Factor {year}"
    if factor_column not in header:
        raise ValueError(f"{path.name}: no column {factor_column!r} in the header {header}")
    body = pd.DataFrame(rows[header_at + 1 :], columns=header)
    excel_row = pd.RangeIndex(header_at + 2, header_at + 2 + len(body))  # 1-based sheet row of each record
    out = pd.DataFrame({new: body[old].map(_text) for old, new in _HEADERS.items() if old in body})
    if "id" not in out:
        out["id"] = "Factors by Category row " + pd.Series(excel_row, index=body.index).astype(str)
    value = pd.to_numeric(body[factor_column].map(lambda v: v if isinstance(v, int | float) else None))
    if path.suffix == ".xls":
        # BIFF stores many numbers as "RK" integers x 0.01, which decode with float noise (0.21233 ->
        # 0.21233000000000002); Excel itself keeps 15 significant digits, so the value as published is
        # the double rounded to 15 significant digits.
        value = value.map(lambda v: float(f"{v:.15g}"), na_action="ignore")
    out["value"] = value
    return out


def _read_csv_2024() -> pd.DataFrame:
    raw = pd.read_csv(DESNZ_CSV, dtype=str, keep_default_na=False)
    out = raw.drop(columns=["factor_2024"]).copy()
    out["value"] = pd.to_numeric(raw["factor_2024"].where(raw["factor_2024"].str.strip() != ""), errors="coerce")
    return out


def _gwp_set(rows: pd.DataFrame, year: int) -> str:
    refrigerant = rows[rows["level_1"].str.startswith("Refrigerant") & rows["ghg_unit"].eq("kg CO2e")]
    gwp = refrigerant.groupby("level_3")["value"].first()
    pair = (float(gwp.get("Methane", float("nan"))), float(gwp.get("Nitrous oxide", float("nan"))))
    if pair not in _GWP_SETS:
        raise ValueError(f"DESNZ {year}: unrecognised GWPs methane/nitrous oxide {pair}")
    return _GWP_SETS[pair]


@cache
def read_flat_file(year: int) -> FlatFile:
    """The edition of ``year`` (2019 .. 2024) in the common shape, with its version and GWP set."""
    if year == 2024:
        rows = _read_csv_2024()
        version = "1.1"  # the CSV is the v1.1 flat file's factor sheet (data/NOTICE.md)
    else:
        path = DESNZ_FLAT_FILES[year]
        front = _front_page(path)
        if float(front.get("Year", "nan")) != year:
            raise ValueError(f"{path.name}: front page says year {front.get('Year')!r}, expected {year}")
        rows = _read_workbook(path, year)
        version = front["Version"]
    rows = rows[rows["scope"].ne("") & rows["scope"].ne("END")].reset_index(drop=True)
    publisher = "DESNZ" if year >= 2023 else "BEIS"
    return FlatFile(year=year, rows=rows, version=version, gwp_set=_gwp_set(rows, year), publisher=publisher)


def per_gas(rows: pd.DataFrame) -> pd.Series:
    """The gas of each per-gas row (CO2, CH4, N2O), NaN for the kg CO2e totals and other rows.

    2019-2021 say 'kg CO2' but the values are CO2e contributions (they add up to the kg CO2e row);
    2022 says 'kg CO2e of CO2', 2023-2024 'kg CO2e of CO2 per unit'."""
    return rows["ghg_unit"].str.extract(r"^kg (?:CO2e of )?(CO2|CH4|N2O)(?: per unit)?$")[0]

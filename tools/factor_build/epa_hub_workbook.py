"""US EPA GHG Emission Factors Hub 2021, 2023 and 2024: EPA's workbook, parsed into the 2025 CSV shapes.

Each table is located by its title cell ("Table 1" ... "Table 12") and its rows by their content, then
normalised by :func:`tools.factor_build.epa_hub.hub_factors` like the 2025 edition. The edition's GWP
set and eGRID edition are read from the workbook. Layout differences handled: Table 6 has one
"eGRID Subregion" column (2021) or an acronym and a name column (2023, 2024); Table 11 lists gases by
formula (2021, 2023) or by name and formula (2024). Rows EPA revised after an edition's release, where
this library holds only the original, are left out (``data/factors/mappings/epa_hub_withdrawn.csv``).
"""

from __future__ import annotations

import re
import warnings
from functools import cache

import pandas as pd

from tools.factor_build.common import HUB_WORKBOOKS, clean_label, strip_footnote
from tools.factor_build.epa_hub import (
    canonical_gas_names,
    hub_common,
    hub_factors,
    read_2025_table11,
    waste_methods,
)
from tools.factor_build.mappings import mappings

HUB_WORKBOOK_YEARS = tuple(HUB_WORKBOOKS)


@cache
def _sheet(year: int) -> pd.DataFrame:
    with warnings.catch_warnings():
        # openpyxl warns about the workbook's page header/footer and extensions; irrelevant to values
        warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
        sheet = pd.read_excel(
            HUB_WORKBOOKS[year], sheet_name="Emission Factors Hub", header=None, dtype=object, engine="openpyxl"
        )
    sheet.columns = [f"c{i}" for i in range(sheet.shape[1])]
    return sheet


def _table_block(sheet: pd.DataFrame, number: int) -> pd.DataFrame:
    """Rows from the 'Table <number>' title row up to the next table title (located by text)."""
    titles = sheet["c1"].astype(str).str.strip()
    is_title = titles.str.match(r"^Table \d+$")
    starts = sheet.index[is_title & titles.eq(f"Table {number}")]
    if len(starts) != 1:
        raise ValueError(f"Table {number} not found exactly once in the Hub workbook")
    start = starts[0]
    later = sheet.index[is_title & (sheet.index > start)]
    stop = later[0] if len(later) else sheet.index[-1] + 1
    return sheet.loc[start : stop - 1]


def _num(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce")


def _table1(sheet: pd.DataFrame) -> pd.DataFrame:
    """Table 1: unit header rows ("mmBtu per short ton") and category rows are carried down."""
    b = _table_block(sheet, 1)
    unit_header = b["c3"].astype(str).str.extract(r"^mmBtu per (.+)$")[0]
    is_data = _num(b["c4"]).notna()
    is_category = b["c2"].notna() & b["c3"].isna() & b["c4"].isna()
    category = b["c2"].where(is_category).ffill()
    per_unit = unit_header.ffill()
    rows = b[is_data]
    has_unit = _num(rows["c7"]).notna()
    fuel = clean_label(rows["c2"])
    return pd.DataFrame(
        {
            "fuel_category": clean_label(category[is_data]),
            "fuel_type": mappings().map("epa_hub_fuel_renames", fuel).fillna(fuel),
            "kg_co2_per_mmbtu": _num(rows["c4"]),
            "g_ch4_per_mmbtu": _num(rows["c5"]),
            "g_n2o_per_mmbtu": _num(rows["c6"]),
            "kg_co2_per_unit": _num(rows["c7"]),
            "g_ch4_per_unit": _num(rows["c8"]),
            "g_n2o_per_unit": _num(rows["c9"]),
            "per_unit": per_unit[is_data].where(has_unit),
        }
    )


def _table6(sheet: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Table 6 eGRID subregions and US average, and the eGRID edition named in the table."""
    b = _table_block(sheet, 6)
    text = " ".join(b["c2"].dropna().astype(str))
    egrid = re.search(r"eGRID\d{4}", text)
    if egrid is None:
        raise ValueError("Hub Table 6: eGRID edition not stated")
    if b["c2"].astype(str).str.strip().eq("eGRID Subregion Acronym").any():  # 2023, 2024
        acronym, name, values = clean_label(b["c2"]), clean_label(b["c3"]), ["c4", "c5", "c6"]
        name = name.str.replace(r"^[A-Z]{4} \((.+)\)$", r"\1", regex=True)  # 2023: "CAMX (WECC California)"
        is_row = (acronym.str.fullmatch(r"[A-Z]{4}") | acronym.eq("US Average")) & _num(b["c4"]).notna()
    else:  # 2021: one column "CAMX (WECC California)"
        labels = clean_label(b["c2"])
        parsed = labels.str.extract(r"^([A-Z]{4}) \((.+)\)$")
        acronym, name, values = parsed[0].fillna(labels), parsed[1].fillna(labels), ["c3", "c4", "c5"]
        is_row = (parsed[0].notna() | labels.eq("US Average")) & _num(b["c3"]).notna()
    t6 = pd.DataFrame(
        {
            "egrid_subregion": acronym[is_row],
            "egrid_subregion_name": name[is_row],
            "total_output_lb_co2_per_mwh": _num(b[values[0]])[is_row],
            "total_output_lb_ch4_per_mwh": _num(b[values[1]])[is_row],
            "total_output_lb_n2o_per_mwh": _num(b[values[2]])[is_row],
        }
    )
    return t6, egrid.group(0)


def _transport(sheet: pd.DataFrame, number: int) -> pd.DataFrame:
    blk = _table_block(sheet, number)
    r = blk[_num(blk["c3"]).notna() & blk["c6"].notna()]
    return pd.DataFrame(
        {
            "vehicle_type": r["c2"],
            "kg_co2_per_unit": _num(r["c3"]),
            "g_ch4_per_unit": _num(r["c4"]),
            "g_n2o_per_unit": _num(r["c5"]),
            "unit": r["c6"],
        }
    )


def _table9(sheet: pd.DataFrame) -> pd.DataFrame:
    """Table 9 waste: the six method columns, checked against the headings of the mapping table."""
    b = _table_block(sheet, 9)
    value_columns = ["c3", "c4", "c5", "c6", "c7", "c8"]
    header_row = b.index[b["c2"].astype(str).str.strip().eq("Material")][0]
    header = clean_label(b.loc[header_row, value_columns])
    methods = waste_methods()
    expected = methods["workbook_2021_heading"].tolist()
    if len(expected) != len(header) or not all(h.startswith(e) for h, e in zip(header, expected, strict=True)):
        raise ValueError(f"Hub Table 9 header changed: {list(header)}")
    if not b["c3"].astype(str).str.contains("Metric Tons CO2e / Short Ton").any():
        raise ValueError("Hub Table 9 is not in metric tons CO2e per short ton")
    rows = b[(b.index > header_row) & b[value_columns].apply(_num).notna().any(axis=1)]
    t9 = pd.DataFrame({"material": rows["c2"]})
    for col, name in zip(value_columns, methods["column"], strict=True):
        t9[name] = _num(rows[col])
    return t9


def _formula_to_name() -> dict[str, str]:
    t11 = read_2025_table11()
    canonical = canonical_gas_names(t11["gas"].str.strip(), t11["formula"].str.strip())
    return dict(zip(t11["formula"].str.strip(), canonical, strict=True))


def _table11(sheet: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Table 11 GWPs (gases named as in the 2025 Hub) and the GWP set they are."""
    b = _table_block(sheet, 11)
    if b["c3"].astype(str).str.strip().eq("Chemical Formula").any():  # 2024: name, formula, GWP
        rows = b[_num(b["c4"]).notna()]
        gas = canonical_gas_names(clean_label(rows["c2"]), clean_label(rows["c3"]))
        gwp_column = "c4"
    else:  # 2021, 2023: PFCs by formula -> the 2025 names
        rows = b[_num(b["c3"]).notna()]
        gas = clean_label(rows["c2"])
        gas = gas.map(_formula_to_name()).fillna(gas)
        gwp_column = "c3"
    unknown = ~gas.str.match(r"^(HFC|PFC)-") & ~gas.isin(["CO2", "CH4", "N2O", "SF6", "NF3"])
    if unknown.any():
        raise ValueError(f"Hub Table 11: unknown gases {list(gas[unknown])}")
    t11 = pd.DataFrame({"gas": gas, "gwp": _num(rows[gwp_column]).astype(float)})
    gwp = dict(zip(t11["gas"], t11["gwp"], strict=True))
    if (gwp["CH4"], gwp["N2O"]) == (25.0, 298.0):
        return t11, "AR4"
    if (gwp["CH4"], gwp["N2O"]) == (28.0, 265.0):
        return t11, "AR5"
    raise ValueError(f"Hub: unrecognised GWP set CH4={gwp['CH4']} N2O={gwp['N2O']}")


@cache
def hub_workbook_tables(year: int) -> tuple[dict[str, pd.DataFrame], str, str]:
    """Parse one Hub workbook into the 2025 CSV shapes; also return its GWP set and eGRID label."""
    sheet = _sheet(year)

    b = _table_block(sheet, 2)
    rows = b[_num(b["c3"]).notna() & b["c4"].notna()]
    t2 = pd.DataFrame({"fuel_type": rows["c2"], "kg_co2_per_unit": _num(rows["c3"]), "unit": rows["c4"]})

    b = _table_block(sheet, 7)
    rows = b[_num(b["c3"]).notna()]
    t7 = pd.DataFrame(
        {
            "source": rows["c2"],
            "kg_co2_per_mmbtu": _num(rows["c3"]),
            "g_ch4_per_mmbtu": _num(rows["c4"]),
            "g_n2o_per_mmbtu": _num(rows["c5"]),
        }
    )

    b = _table_block(sheet, 12)
    rows = b[b["c2"].astype(str).str.match(r"^R-\d") & _num(b["c3"]).notna()]
    t12 = pd.DataFrame({"gas": clean_label(rows["c2"]), "gwp": _num(rows["c3"]).astype(float)})

    t6, egrid = _table6(sheet)
    t11, gwp_set = _table11(sheet)
    tables = {
        "t1": _table1(sheet),
        "t2": t2,
        "t6": t6,
        "t7": t7,
        "t8": _transport(sheet, 8),
        "t9": _table9(sheet),
        "t10": _transport(sheet, 10),
        "t11": t11,
        "t12": t12,
    }
    return tables, gwp_set, egrid


def hub_2021_tables() -> tuple[dict[str, pd.DataFrame], str, str]:
    return hub_workbook_tables(2021)


def last_modified(year: int) -> str:
    """The workbook's own "Last Modified: ..." line (e.g. "February 13, 2024")."""
    sheet = _sheet(year)
    cells = sheet.head(12).stack().astype(str)
    found = cells[cells.str.match(r"^\s*Last Modified:")]
    if found.empty:
        raise ValueError(f"Hub {year}: no 'Last Modified' line")
    return found.iloc[0].split(":", 1)[1].strip()


def _without_withdrawn(tables: dict[str, pd.DataFrame], key: str) -> dict[str, pd.DataFrame]:
    """Tables 8 and 10 without the rows EPA revised after this edition's release (epa_hub_withdrawn.csv)."""
    out = dict(tables)
    for table in ("t8", "t10"):
        t = tables[table]
        withdrawn = mappings().map(
            "epa_hub_withdrawn",
            pd.Series(key, index=t.index),
            pd.Series(table, index=t.index),
            strip_footnote(t["vehicle_type"]),
            t["unit"].astype(str).str.strip(),
        )
        out[table] = t[withdrawn.isna()]
    return out


def build_epa_hub_workbook(year: int) -> pd.DataFrame:
    """One workbook edition: valid from 1 January of its year, ``valid_to`` open (closed by
    :func:`tools.factor_build.validity.close_superseded` where a newer edition has the same factor)."""
    tables, gwp_set, egrid = hub_workbook_tables(year)
    key = f"EPA-HUB-{year}"
    edition = str(year) if year != 2024 else f"2024 (original release, Last Modified: {last_modified(year)})"
    common = hub_common(key, edition, f"{year}-01-01", "", gwp_set)
    return hub_factors(_without_withdrawn(tables, key), common, f"epa-hub-{year}", egrid)


def build_epa_hub_2021() -> pd.DataFrame:
    return build_epa_hub_workbook(2021)

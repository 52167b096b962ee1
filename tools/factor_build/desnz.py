"""UK Government GHG Conversion Factors (BEIS 2019-2022, DESNZ 2023-2024), one edition per year.

Each edition's flat file is read by :mod:`tools.factor_build.desnz_files`. Per edition: a curated list
of rows (``data/factors/mappings/desnz_factors.csv``, matched exactly on level_1 .. column_text and uom,
in the 2024 wording; older wording is translated by ``desnz_wording.csv``), every waste-disposal
material x method with a factor (``desnz_waste_*.csv``) and one hotel-stay factor per country.
"""

from __future__ import annotations

import pandas as pd
import pycountry

from tools.factor_build.common import frame, require_mapped
from tools.factor_build.desnz_files import LEVELS, per_gas, read_flat_file
from tools.factor_build.mappings import mappings

# GWP100 used to turn DESNZ per-gas CO2e rows back into gas masses (the edition's own set).
GWP = {"AR4": {"CO2": 1.0, "CH4": 25.0, "N2O": 298.0}, "AR5": {"CO2": 1.0, "CH4": 28.0, "N2O": 265.0}}
DESNZ_YEARS = (2019, 2020, 2021, 2022, 2023, 2024)

DESNZ_KEY = ["level_1", "level_2", "level_3", "level_4", "column_text", "uom"]
_GROSS_CV_NOTE = "kWh on a gross calorific value basis (DESNZ: use gross CV for energy bills)"


def edition_key(year: int) -> str:
    return f"DESNZ-{year}"


def _reworded(table: pd.DataFrame, year: int) -> pd.DataFrame:
    """Older wording of level_4 / column_text -> the 2024 wording the mapping uses (desnz_wording.csv)."""
    m = mappings()
    out = table.copy()
    edition = pd.Series(edition_key(year), index=out.index)
    for column in ("level_4", "column_text"):
        which = pd.Series(column, index=out.index)
        out[column] = m.map("desnz_wording", edition, out["level_1"], which, out[column]).fillna(out[column])
    return out


def desnz_table(year: int = 2024) -> pd.DataFrame:
    """kg CO2e rows (with a factor) of one edition joined with their per-gas rows, gases as masses."""
    flat = read_flat_file(year)
    raw = flat.rows
    gas = per_gas(raw)
    co2e = raw[raw["ghg_unit"].eq("kg CO2e") & raw["value"].notna()]
    out = co2e.rename(columns={"value": "co2e_kg", "id": "table_ref"})
    for name, column in {"CO2": "co2_kg", "CH4": "ch4_kg", "N2O": "n2o_kg"}.items():
        part = raw[gas.eq(name)][[*DESNZ_KEY, "value"]]
        part = part.assign(**{column: part["value"] / GWP[flat.gwp_set][name]})[[*DESNZ_KEY, column]]
        out = out.merge(part, on=DESNZ_KEY, how="left", validate="one_to_one")
    label = out["level_1"].str.strip()
    for column in LEVELS[1:]:
        level = out[column].str.strip()
        label = label + (" > " + level).where(level != "", "")
    out["source_label"] = label
    out["desnz_scope"] = out["scope"]
    return _reworded(out.drop(columns=["scope"]), year)


def curated_entries() -> pd.DataFrame:
    """The curated mapping, one row per DESNZ row: an empty ``unit`` is the uom's (desnz_units.csv)."""
    m = mappings()
    entries = m.table("desnz_factors")
    default = entries["unit"].eq("")
    entries.loc[default, "unit"] = m.map("desnz_units", entries.loc[default, "uom"])
    require_mapped(entries.set_index("uom")["unit"], "DESNZ mapping uom")
    entries["scope"] = pd.to_numeric(entries["scope"])
    entries["category"] = pd.to_numeric(entries["category"].mask(entries["category"].eq("")))
    return entries


def _curated(table: pd.DataFrame, year: int) -> pd.DataFrame:
    """The mapped rows of one edition. An entry is skipped where the edition publishes no value: its row
    is there with a blank factor (2019-2020 lubricants per litre), or the item is not published at all
    (no row with its level_1 .. level_3: propane and butane before 2021). Any other entry without
    exactly one factor row fails the build (a wording change to translate in desnz_wording.csv)."""
    entries = curated_entries()
    curated = entries.merge(table, on=DESNZ_KEY, how="left", indicator=True)
    if len(curated) != len(entries):
        raise ValueError(f"a DESNZ {year} mapping entry matches more than one factor row")
    raw = read_flat_file(year).rows
    blank = _reworded(raw[raw["ghg_unit"].eq("kg CO2e") & raw["value"].isna()], year)[DESNZ_KEY]
    published = raw[["level_1", "level_2", "level_3"]].drop_duplicates()
    unmatched = curated[curated["_merge"] != "both"][DESNZ_KEY]
    unmatched = unmatched.merge(blank.drop_duplicates(), how="left", indicator="_blank")
    unmatched = unmatched[unmatched["_blank"] == "left_only"].drop(columns="_blank")
    wrong = unmatched.merge(published, how="inner")
    if len(wrong):
        raise ValueError(f"DESNZ {year} mapping entries without a factor row: {wrong[DESNZ_KEY].to_dict('records')[:5]}")
    curated = curated[curated["_merge"] == "both"].copy()
    curated["region"] = "GB"
    curated["region_level"] = "national"
    gross = curated["uom"].eq("kWh (Gross CV)")
    curated.loc[gross, "notes"] = (curated.loc[gross, "notes"] + "; " + _GROSS_CV_NOTE).str.strip("; ")
    return curated.drop(columns=["_merge"])


def _waste(table: pd.DataFrame) -> pd.DataFrame:
    """Waste disposal: every material x method row with a factor, per tonne."""
    m = mappings()
    waste = table[table["level_1"].eq("Waste disposal")].copy()
    material = m.map("desnz_waste_materials", waste["level_3"])
    method = m.map("desnz_waste_methods", waste["column_text"])
    require_mapped(material.set_axis(waste["level_3"]), "DESNZ waste material")
    require_mapped(method.set_axis(waste["column_text"]), "DESNZ waste method")
    waste["activity_type"] = "waste_" + material + "_" + method
    return waste.assign(
        scope=3,
        category=5,
        method="",
        unit=m.map("desnz_units", waste["uom"]),
        region="GB",
        region_level="national",
        notes="kg CO2e per tonne of waste",
    )


def _hotel(table: pd.DataFrame) -> pd.DataFrame:
    """Hotel stays: one factor per country with a value (UK (London) is sub-national and a region mapped
    to an empty code, e.g. 2019's "Caribbean Region", is not a country: both skipped)."""
    m = mappings()
    hotel = table[table["level_1"].eq("Hotel stay") & table["level_3"].ne("UK (London)")].copy()
    unit = m.map("desnz_units", hotel["uom"])
    require_mapped(unit.set_axis(hotel["uom"]), "DESNZ hotel uom")
    countries = hotel["level_3"].drop_duplicates()
    named = m.map("desnz_hotel_countries", countries)
    # the names the mapping does not cover are resolved by pycountry (a lookup per distinct country)
    resolved = {name: pycountry.countries.lookup(name).alpha_2 for name in countries[named.isna()]}
    iso = dict(zip(countries, named.fillna(countries.map(resolved)), strict=True))
    hotel = hotel[hotel["level_3"].map(iso).ne("")]
    unit = unit[hotel.index]
    return hotel.assign(
        activity_type="hotel_stay",
        scope=3,
        category=6,
        method="",
        unit=unit,
        region=hotel["level_3"].map(iso),
        region_level="national",
        notes="per room per night",
    )


def build_desnz(year: int) -> pd.DataFrame:
    """The factors of one edition, ``valid_from`` 1 January of its year, ``valid_to`` open (closed by
    :func:`tools.factor_build.validity.close_superseded` when a newer edition has the same factor)."""
    flat = read_flat_file(year)
    table = desnz_table(year)
    rows = pd.concat([_curated(table, year), _waste(table), _hotel(table)], ignore_index=True)
    declared = rows["desnz_scope"].str.extract(r"Scope (\d)")[0].astype(int)
    if (declared != rows["scope"]).any():
        bad = rows.loc[declared != rows["scope"], "table_ref"].tolist()
        raise ValueError(f"DESNZ {year} rows mapped to a scope other than the one published: {bad}")
    rows["factor_id"] = f"desnz-{year}/" + rows["table_ref"].str.replace("Factors by Category row ", "row-", regex=False)
    return frame(
        rows,
        edition_key=edition_key(year),
        source=f"UK Government GHG Conversion Factors for Company Reporting ({flat.publisher})",
        edition=f"{year} v{flat.version}",
        gwp_set=flat.gwp_set,
        valid_from=f"{year}-01-01",
        valid_to="",
        source_rank=0,
    )


def build_desnz_2024() -> pd.DataFrame:
    return build_desnz(2024)


def build_all_desnz() -> pd.DataFrame:
    return pd.concat([build_desnz(year) for year in DESNZ_YEARS], ignore_index=True)

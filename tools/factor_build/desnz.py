"""UK DESNZ GHG Conversion Factors 2024 (flat file v1.1).

A curated list of rows (``data/factors/mappings/desnz_factors.csv``, matched exactly on level_1 ..
column_text and uom), every waste-disposal material x method with a factor (materials and methods
mapped by ``desnz_waste_*.csv``) and one hotel-stay factor per country.
"""

from __future__ import annotations

import pandas as pd
import pycountry

from tools.factor_build.common import DESNZ_CSV, frame, require_mapped
from tools.factor_build.mappings import mappings

# GWP100 used to turn DESNZ "kg CO2e of <gas>" rows back into gas masses (DESNZ 2024 uses AR5).
AR5_GWP = {"CO2": 1.0, "CH4": 28.0, "N2O": 265.0}

DESNZ_KEY = ["level_1", "level_2", "level_3", "level_4", "column_text", "uom"]
_GROSS_CV_NOTE = "kWh on a gross calorific value basis (DESNZ: use gross CV for energy bills)"


def desnz_table() -> pd.DataFrame:
    """kg CO2e rows (with a factor) joined with their per-gas rows, gases as masses."""
    raw = pd.read_csv(DESNZ_CSV, dtype=str, keep_default_na=False)
    raw["value"] = pd.to_numeric(raw["factor_2024"].where(raw["factor_2024"].str.strip() != ""), errors="coerce")
    raw["base_id"] = raw["id"].str.rsplit("_", n=1).str[0]
    co2e = raw[raw["ghg_unit"].eq("kg CO2e") & raw["value"].notna()]
    gases = {"CO2": "co2_kg", "CH4": "ch4_kg", "N2O": "n2o_kg"}
    out = co2e.rename(columns={"value": "co2e_kg", "id": "table_ref"})
    for gas, column in gases.items():
        part = raw[raw["ghg_unit"].eq(f"kg CO2e of {gas} per unit")][["base_id", "value"]]
        part = part.assign(**{column: part["value"] / AR5_GWP[gas]})[["base_id", column]]
        out = out.merge(part, on="base_id", how="left", validate="one_to_one")
    label = out["level_1"].str.strip()
    for column in ["level_2", "level_3", "level_4", "column_text"]:
        level = out[column].str.strip()
        label = label + (" > " + level).where(level != "", "")
    out["source_label"] = label
    out["desnz_scope"] = out["scope"]
    return out.drop(columns=["scope"])


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


def _curated(table: pd.DataFrame) -> pd.DataFrame:
    entries = curated_entries()
    curated = entries.merge(table, on=DESNZ_KEY, how="left", indicator=True)
    unmatched = curated[curated["_merge"] != "both"]
    if len(unmatched):
        raise ValueError(f"DESNZ mapping entries without a factor row: {unmatched[DESNZ_KEY].to_dict('records')}")
    if len(curated) != len(entries):
        raise ValueError("a DESNZ mapping entry matches more than one factor row")
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
    """Hotel stays: one factor per country with a value (UK (London) is sub-national: skipped)."""
    m = mappings()
    hotel = table[table["level_1"].eq("Hotel stay") & table["level_3"].ne("UK (London)")].copy()
    unit = m.map("desnz_units", hotel["uom"])
    require_mapped(unit.set_axis(hotel["uom"]), "DESNZ hotel uom")
    countries = hotel["level_3"].drop_duplicates()
    named = m.map("desnz_hotel_countries", countries)
    # the names the mapping does not cover are resolved by pycountry (a lookup per distinct country)
    resolved = {name: pycountry.countries.lookup(name).alpha_2 for name in countries[named.isna()]}
    iso = dict(zip(countries, named.fillna(countries.map(resolved)), strict=True))
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


def build_desnz_2024() -> pd.DataFrame:
    table = desnz_table()
    rows = pd.concat([_curated(table), _waste(table), _hotel(table)], ignore_index=True)
    declared = rows["desnz_scope"].str.extract(r"Scope (\d)")[0].astype(int)
    if (declared != rows["scope"]).any():
        bad = rows.loc[declared != rows["scope"], "table_ref"].tolist()
        raise ValueError(f"DESNZ rows mapped to a scope other than the one published: {bad}")
    rows["factor_id"] = "desnz-2024/" + rows["table_ref"]
    return frame(
        rows,
        edition_key="DESNZ-2024",
        source="UK Government GHG Conversion Factors for Company Reporting (DESNZ)",
        edition="2024 v1.1",
        gwp_set="AR5",
        valid_from="2024-01-01",
        valid_to="",
        source_rank=0,
    )

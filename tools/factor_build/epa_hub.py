"""US EPA GHG Emission Factors Hub: one normaliser for both editions, and the 2025 reader.

The normaliser is fed tidy tables shaped like the 2025 CSV extracts (``data/sources/epa_ghg_hub_2025``);
the 2021 workbook is parsed into the same shapes by :mod:`tools.factor_build.epa_hub_workbook`, so both
editions get the same activity types. Mappings: ``data/factors/mappings/epa_hub_*.csv``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from tools.factor_build.common import (
    G_TO_KG,
    HUB_2025_DIR,
    LB_TO_KG,
    clean_label,
    frame,
    require_mapped,
    slugs,
    strip_footnote,
)
from tools.factor_build.mappings import mappings

EPA_HUB_SOURCE = "US EPA GHG Emission Factors Hub"
_US = {"region": "US", "region_level": "national"}


def hub_common(edition_key: str, edition: str, valid_from: str, valid_to: str, gwp_set: str) -> dict[str, Any]:
    """The columns every factor of one Hub edition shares."""
    return {
        "edition_key": edition_key,
        "source": EPA_HUB_SOURCE,
        "edition": edition,
        "valid_from": valid_from,
        "valid_to": valid_to,
        "gwp_set": gwp_set,
        "source_rank": 0,
    }


def _table1(t1: pd.DataFrame, common: dict[str, Any], prefix: str) -> pd.DataFrame:
    """Table 1 stationary combustion: per mmBtu and per physical unit."""
    m = mappings()
    t1 = t1.copy()
    t1["fuel_type"] = clean_label(t1["fuel_type"])
    t1["activity_type"] = m.map("epa_hub_t1_activity_overrides", t1["fuel_type"]).fillna(slugs(t1["fuel_type"]))
    t1["source_label"] = clean_label(t1["fuel_category"]) + " > " + t1["fuel_type"]
    biogenic = t1["fuel_category"].str.contains("Biomass", case=False)
    t1["notes"] = biogenic.map(
        {
            True: "biomass fuel: the CO2 is biogenic, report it outside the scopes (GHG Protocol); "
            "CH4/N2O count in scope 1",
            False: "",
        }
    )
    per_mmbtu = pd.DataFrame(
        {
            "activity_type": t1["activity_type"],
            "source_label": t1["source_label"],
            "unit": "mmBtu",
            "co2_kg": t1["kg_co2_per_mmbtu"].astype(float),
            "ch4_kg": t1["g_ch4_per_mmbtu"].astype(float) * G_TO_KG,
            "n2o_kg": t1["g_n2o_per_mmbtu"].astype(float) * G_TO_KG,
            "notes": t1["notes"],
        }
    )
    physical = t1[t1["kg_co2_per_unit"].notna()]
    per_unit = pd.DataFrame(
        {
            "activity_type": physical["activity_type"],
            "source_label": physical["source_label"],
            "unit": m.map("epa_hub_units", physical["per_unit"]),
            "co2_kg": physical["kg_co2_per_unit"].astype(float),
            "ch4_kg": physical["g_ch4_per_unit"].astype(float) * G_TO_KG,
            "n2o_kg": physical["g_n2o_per_unit"].astype(float) * G_TO_KG,
            "notes": physical["notes"],
        }
    )
    require_mapped(per_unit.set_index("source_label")["unit"], "Table 1 unit")
    rows = pd.concat([per_mmbtu, per_unit], ignore_index=True)
    rows["factor_id"] = prefix + "/t1/" + rows["activity_type"] + "/" + slugs(rows["unit"])
    rows.loc[rows["unit"] == "mmBtu", "factor_id"] = prefix + "/t1/" + rows["activity_type"] + "/mmBtu"
    return frame(rows, table_ref="Table 1 Stationary Combustion", scope=1, **_US, **common)


def _table2(t2: pd.DataFrame, common: dict[str, Any], prefix: str) -> pd.DataFrame:
    """Table 2 mobile combustion CO2 (CH4/N2O are per vehicle-mile in Tables 3-5, not per fuel unit)."""
    m = mappings()
    fuel = clean_label(t2["fuel_type"])
    rows = pd.DataFrame(
        {
            "activity_type": m.map("epa_hub_t2_activities", fuel),
            "source_label": fuel,
            "unit": m.map("epa_hub_units", t2["unit"]),
            "co2_kg": t2["kg_co2_per_unit"].astype(float),
        }
    )
    require_mapped(rows.set_index("source_label")["activity_type"], "Table 2 fuel")
    rows["factor_id"] = prefix + "/t2/" + rows["activity_type"] + "/" + slugs(rows["unit"])
    return frame(
        rows,
        table_ref="Table 2 Mobile Combustion CO2",
        scope=1,
        notes="CO2 only; EPA gives CH4/N2O per vehicle-mile (Tables 3-4)",
        **_US,
        **common,
    )


def _table6(t6: pd.DataFrame, common: dict[str, Any], prefix: str, egrid_label: str) -> pd.DataFrame:
    """Table 6 electricity: total output emission rates, lb/MWh -> kg/kWh."""
    is_us = t6["egrid_subregion"].str.strip().eq("US Average")
    lb_mwh_to_kg_kwh = LB_TO_KG / 1000.0
    rows = pd.DataFrame(
        {
            "region": t6["egrid_subregion"].str.strip().where(~is_us, "US"),
            "region_level": is_us.map({True: "national", False: "subnational"}),
            "source_label": (
                t6["egrid_subregion"].str.strip() + " (" + t6["egrid_subregion_name"].str.strip() + ")"
            ).where(~is_us, "US Average"),
            "co2_kg": t6["total_output_lb_co2_per_mwh"].astype(float) * lb_mwh_to_kg_kwh,
            "ch4_kg": t6["total_output_lb_ch4_per_mwh"].astype(float) * lb_mwh_to_kg_kwh,
            "n2o_kg": t6["total_output_lb_n2o_per_mwh"].astype(float) * lb_mwh_to_kg_kwh,
        }
    )
    rows["factor_id"] = prefix + "/t6/electricity/" + rows["region"]
    return frame(
        rows,
        table_ref=f"Table 6 Electricity ({egrid_label} total output)",
        activity_type="electricity",
        scope=2,
        unit="kWh",
        method="location",
        notes=f"{egrid_label} total output emission rate, converted from lb/MWh",
        **common,
    )


def _table7(t7: pd.DataFrame, common: dict[str, Any], prefix: str) -> pd.DataFrame:
    """Table 7 steam and heat."""
    rows = pd.DataFrame(
        {
            "source_label": clean_label(t7["source"]),
            "co2_kg": t7["kg_co2_per_mmbtu"].astype(float),
            "ch4_kg": t7["g_ch4_per_mmbtu"].astype(float) * G_TO_KG,
            "n2o_kg": t7["g_n2o_per_mmbtu"].astype(float) * G_TO_KG,
        }
    )
    return frame(
        rows,
        factor_id=prefix + "/t7/purchased_steam_heat/mmBtu",
        table_ref="Table 7 Steam and Heat",
        activity_type="purchased_steam_heat",
        scope=2,
        unit="mmBtu",
        method="location",
        notes="natural gas boiler at 80% efficiency (EPA assumption)",
        **_US,
        **common,
    )


def _transport(t: pd.DataFrame, key: str, common: dict[str, Any], prefix: str) -> pd.DataFrame:
    """Tables 8 and 10: distance-based transport, keyed by vehicle type (and unit, for Table 8)."""
    m = mappings()
    vehicle = strip_footnote(t["vehicle_type"])
    unit = m.map("epa_hub_units", t["unit"].str.strip())
    if key == "t8":
        table_ref, category, notes = "Table 8 Scope 3 Category 4 Upstream Transportation", 4, ""
        activity = m.map("epa_hub_t8_activities", vehicle, unit)
    else:
        table_ref, category = "Table 10 Scope 3 Category 6/7 Business Travel and Commuting", 6
        notes = "category 6; also valid for category 7 commuting"
        activity = m.map("epa_hub_t10_activities", vehicle)
    rows = pd.DataFrame(
        {
            "activity_type": activity,
            "source_label": clean_label(t["vehicle_type"]),
            "unit": unit,
            "co2_kg": t["kg_co2_per_unit"].astype(float),
            "ch4_kg": t["g_ch4_per_unit"].astype(float) * G_TO_KG,
            "n2o_kg": t["g_n2o_per_unit"].astype(float) * G_TO_KG,
        }
    )
    require_mapped(rows.set_index("source_label")["activity_type"], f"{table_ref} row")
    rows["factor_id"] = prefix + f"/{key}/" + rows["activity_type"] + "/" + slugs(rows["unit"])
    return frame(rows, table_ref=table_ref, scope=3, category=category, notes=notes, **_US, **common)


def waste_methods() -> pd.DataFrame:
    """Table 9 method columns (2025 CSV names, in the 2021 workbook's column order) and their slugs."""
    return mappings().table("epa_hub_t9_methods")


def _table9(t9: pd.DataFrame, common: dict[str, Any], prefix: str) -> pd.DataFrame:
    """Table 9 waste: metric tons CO2e per short ton -> kg CO2e per short ton; AR4-based per EPA notes."""
    methods = waste_methods()
    t9 = t9.copy()
    t9["material"] = clean_label(t9["material"])
    long = t9.melt(
        id_vars="material", value_vars=methods["column"].tolist(), var_name="method_col", value_name="value"
    )
    long["value"] = pd.to_numeric(long["value"], errors="coerce")
    long = long[long["value"].notna()]
    method_slug = long["method_col"].map(dict(zip(methods["column"], methods["method"], strict=True)))
    rows = pd.DataFrame(
        {
            "activity_type": "waste_" + slugs(long["material"]) + "_" + method_slug,
            "source_label": long["material"] + " > " + long["method_col"],
            "co2e_kg": long["value"] * 1000.0,
        }
    )
    rows["factor_id"] = prefix + "/t9/" + rows["activity_type"] + "/short_ton"
    return frame(
        rows,
        table_ref="Table 9 Scope 3 Category 5 Waste (WARM)",
        scope=3,
        category=5,
        unit="short_ton",
        notes="published as metric tons CO2e per short ton of material; EPA: AR4 GWPs used for "
        "waste factors; excludes avoided emissions",
        **_US,
        **{**common, "gwp_set": "AR4"},
    )


def _refrigerants(tables: dict[str, pd.DataFrame], common: dict[str, Any], prefix: str) -> pd.DataFrame:
    """Tables 11 + 12: refrigerants and other fluorinated gases, kg released -> kg CO2e."""
    t11 = tables["t11"]
    t11 = t11[~t11["gas"].isin(["CO2", "CH4", "N2O"])]
    t12 = tables["t12"]
    gwp = pd.concat(
        [
            pd.DataFrame(
                {"gas": t11["gas"], "gwp": t11["gwp"], "table_ref": "Table 11 Global Warming Potentials"}
            ),
            pd.DataFrame(
                {
                    "gas": t12["gas"],
                    "gwp": t12["gwp"],
                    "table_ref": "Table 12 Global Warming Potentials for Blended Refrigerants",
                }
            ),
        ],
        ignore_index=True,
    )
    rows = pd.DataFrame(
        {
            "activity_type": "refrigerant_" + slugs(gwp["gas"]),
            "source_label": gwp["gas"],
            "table_ref": gwp["table_ref"],
            "co2e_kg": gwp["gwp"].astype(float),
        }
    )
    rows["factor_id"] = prefix + "/gwp/" + rows["activity_type"] + "/kilogram"
    return frame(
        rows,
        scope=1,
        region="GLOBAL",
        region_level="global",
        unit="kilogram",
        notes="fugitive: kg released",
        **common,
    )


def hub_factors(
    tables: dict[str, pd.DataFrame], common: dict[str, Any], prefix: str, egrid_label: str
) -> pd.DataFrame:
    """All factors of one Hub edition from its tidy tables (keys t1, t2, t6, t7, t8, t9, t10, t11, t12)."""
    return pd.concat(
        [
            _table1(tables["t1"], common, prefix),
            _table2(tables["t2"], common, prefix),
            _table6(tables["t6"], common, prefix, egrid_label),
            _table7(tables["t7"], common, prefix),
            _transport(tables["t8"], "t8", common, prefix),
            _transport(tables["t10"], "t10", common, prefix),
            _table9(tables["t9"], common, prefix),
            _refrigerants(tables, common, prefix),
        ],
        ignore_index=True,
    )


def canonical_gas_names(names: pd.Series, formulas: pd.Series) -> pd.Series:
    """HFC/PFC by name, CO2/CH4/N2O/SF6/NF3 by formula (Table 11 of the 2025 Hub)."""
    named = names.str.match(r"^(HFC|PFC)-")
    return names.where(named, formulas)


def read_2025_table11() -> pd.DataFrame:
    """The 2025 Table 11 extract as published (gas, formula, gwp100_ar5)."""
    return pd.read_csv(HUB_2025_DIR / "table11_gwp_ar5.csv", keep_default_na=False)


def hub_2025_tables() -> dict[str, pd.DataFrame]:
    """The 2025 Hub's CSV extracts, with Tables 11-12 reduced to (gas, gwp)."""

    def read(name: str) -> pd.DataFrame:
        return pd.read_csv(HUB_2025_DIR / name, keep_default_na=False, na_values=["", "NA"])

    t11 = read("table11_gwp_ar5.csv")
    t12 = read("table12_gwp_refrigerant_blends_ar5.csv")
    return {
        "t1": read("table1_stationary_combustion.csv"),
        "t2": read("table2_mobile_combustion_co2.csv"),
        "t6": read("table6_electricity_egrid2023_subregions.csv"),
        "t7": read("table7_steam_and_heat.csv"),
        "t8": read("table8_scope3_cat4_upstream_transport.csv"),
        "t9": read("table9_scope3_cat5_waste_tco2e_per_short_ton.csv"),
        "t10": read("table10_scope3_cat6_7_business_travel_commuting.csv"),
        "t11": pd.DataFrame(
            {
                "gas": canonical_gas_names(t11["gas"].str.strip(), t11["formula"].str.strip()),
                "gwp": t11["gwp100_ar5"].astype(float),
            }
        ),
        "t12": pd.DataFrame({"gas": t12["ashrae_number"].str.strip(), "gwp": t12["gwp100_ar5"].astype(float)}),
    }


def build_epa_hub_2025() -> pd.DataFrame:
    common = hub_common("EPA-HUB-2025", "2025", "2025-01-01", "", "AR5")
    return hub_factors(hub_2025_tables(), common, "epa-hub-2025", "eGRID2023")

"""Tests of the factor-library build (tools.factor_build) and its committed output.

Hand-checked values cite the source row they were read from; the build must reproduce them.
"""

from __future__ import annotations

import math

import openpyxl
import pandas as pd
import pytest

from services.data_core.factors.schema import FACTOR_COLUMNS, REGION_LEVELS
from services.data_core.units import conversion_factor, dimensionality, normalise_unit
from tools.factor_build import common
from tools.factor_build.assemble import build_activity_types, build_factors, build_gwp, to_csv_text
from tools.factor_build.desnz import build_desnz_2024, curated_entries
from tools.factor_build.epa_hub_workbook import build_epa_hub_2021

pytestmark = pytest.mark.unit

FACTORS_CSV = common.OUTPUT_DIR / "factors.csv"
GWP_CSV = common.OUTPUT_DIR / "gwp.csv"
ACTIVITY_TYPES_CSV = common.OUTPUT_DIR / "activity_types.csv"
LB = 0.45359237


@pytest.fixture(scope="module")
def fresh() -> pd.DataFrame:
    return build_factors()


@pytest.fixture(scope="module")
def committed() -> pd.DataFrame:
    """The committed factors.csv as text columns (empty string = empty cell)."""
    return pd.read_csv(FACTORS_CSV, dtype=str, keep_default_na=False)


def _one(frame: pd.DataFrame, factor_id: str) -> pd.Series:
    rows = frame[frame["factor_id"] == factor_id]
    assert len(rows) == 1, f"{factor_id}: {len(rows)} rows"
    return rows.iloc[0]


def _f(value: str) -> float:
    return float(value) if value != "" else math.nan


# ---- the committed files cannot drift from the build -------------------------------------------


def test_committed_factors_csv_equals_a_fresh_build(fresh):
    assert FACTORS_CSV.read_text(encoding="utf-8") == to_csv_text(fresh), (
        "data/factors/factors.csv is stale: run `python -m tools.factor_build`"
    )


def test_committed_gwp_and_activity_types_equal_a_fresh_build(fresh):
    assert GWP_CSV.read_text(encoding="utf-8") == to_csv_text(build_gwp())
    assert ACTIVITY_TYPES_CSV.read_text(encoding="utf-8") == to_csv_text(build_activity_types(fresh))


def test_build_is_deterministic(fresh):
    assert to_csv_text(build_factors()) == to_csv_text(fresh)


def test_build_reads_only_from_the_repo_data_folder():
    assert common.DATA_DIR == common.REPO_ROOT / "data"
    for path in (
        common.HUB_2025_DIR,
        *common.HUB_WORKBOOKS.values(),
        common.DESNZ_CSV,
        *common.DESNZ_FLAT_FILES.values(),
        common.SUPPLY_CHAIN_CSV,
        common.OWID_CSV,
        common.HOURLY_CSV,
        common.MAPPINGS_DIR,
    ):
        assert path.is_relative_to(common.DATA_DIR)
        assert path.exists(), path


# ---- the contract ------------------------------------------------------------------------------


def test_columns_order_and_unique_sorted_ids(committed):
    assert list(committed.columns) == FACTOR_COLUMNS
    assert committed["factor_id"].is_unique
    assert committed["factor_id"].tolist() == sorted(committed["factor_id"].tolist())


def test_every_factor_has_co2_or_co2e(committed):
    assert ((committed["co2_kg"] != "") | (committed["co2e_kg"] != "")).all()


def test_numbers_are_finite_and_non_negative(committed):
    for column in ("co2_kg", "ch4_kg", "n2o_kg", "co2e_kg"):
        values = pd.to_numeric(committed[column].replace("", None)).dropna()
        assert values.map(math.isfinite).all(), column
        assert (values >= 0).all(), column


def test_every_unit_is_canonical_and_converts_from_user_units(committed):
    # spellings users send, grouped by physical dimension
    user_units = [
        ["kwh", "MWh", "therms", "GJ", "mmbtu"],
        ["litres", "gallons", "m3", "ccf"],
        ["kg", "tonnes", "lbs", "short_tons"],
        ["tonne-km", "ton_mile", "tkm"],
        ["pkm", "passenger_miles"],
        ["vehicle_km", "vehicle_miles"],
        ["$", "usd"],
        ["room_nights"],
    ]
    for unit in committed["unit"].unique():
        assert normalise_unit(unit) == unit, unit
        assert conversion_factor(unit, unit) == pytest.approx(1.0)
        groups = [g for g in user_units if dimensionality(g[0]) == dimensionality(unit)]
        assert len(groups) == 1, f"{unit}: no user units known for {dimensionality(unit)}"
        for sent in groups[0]:
            assert conversion_factor(sent, unit) > 0


def test_enumerated_columns(committed):
    assert set(committed["region_level"]) <= set(REGION_LEVELS)
    assert set(committed["scope"]) <= {"1", "2", "3"}
    assert set(committed["gwp_set"]) <= {"AR4", "AR5"}
    assert set(committed["source_rank"]) <= {"0", "1"}
    assert set(committed["method"]) <= {"", "location", "market"}
    scope3 = committed["scope"] == "3"
    assert (committed.loc[~scope3, "category"] == "").all()
    assert committed.loc[scope3, "category"].astype(int).between(1, 15).all()
    assert (committed.loc[committed["scope"] == "2", "method"] == "location").all()
    spend = committed["naics_code"] != ""
    assert committed.loc[spend, "naics_code"].str.fullmatch(r"\d{6}").all()
    assert (committed.loc[spend, "unit"] == "USD").all()


def test_validity_intervals_are_iso_and_ordered(committed):
    start = pd.to_datetime(committed["valid_from"], format="ISO8601")
    ends = committed["valid_to"] != ""
    end = pd.to_datetime(committed.loc[ends, "valid_to"], format="ISO8601")
    assert (start[ends] < end).all()
    assert committed["valid_from"].str.fullmatch(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2})?").all()


def test_no_two_factors_compete_for_the_same_lookup(committed):
    key = ["edition_key", "activity_type", "region", "unit", "valid_from", "naics_code"]
    assert not committed.duplicated(key).any()


def test_validity_never_overlaps_within_a_selection_key(committed):
    # factor selection matches on (activity_type, naics_code, unit dimension, region) within a
    # region level and source rank, as of the activity date: two factors valid at the same time for
    # the same key would make the choice arbitrary.
    dims = {unit: dimensionality(unit) for unit in committed["unit"].unique()}
    frame = committed.assign(
        unit_dim=committed["unit"].map(dims),
        start=pd.to_datetime(committed["valid_from"], format="ISO8601"),
        end=pd.to_datetime(committed["valid_to"].replace("", "9999-12-31"), format="ISO8601"),
    )
    key = ["activity_type", "naics_code", "unit_dim", "region", "region_level", "source_rank"]
    frame = frame.sort_values([*key, "start"], kind="mergesort")
    same_key = (frame[key] == frame[key].shift(-1)).all(axis=1)
    next_start = frame["start"].shift(-1)
    overlapping = frame[same_key & (next_start < frame["end"])]
    assert overlapping.empty, overlapping["factor_id"].head().tolist()


def test_counts_per_edition(committed):
    counts = committed["edition_key"].value_counts().to_dict()
    assert counts["NESO-HOURLY"] == 17_544
    assert counts["EPA-SC-1.3"] == 1_016
    assert set(counts) == {
        "EPA-HUB-2025",
        "EPA-HUB-2024",
        "EPA-HUB-2023",
        "EPA-HUB-2021",
        *(f"DESNZ-{year}" for year in range(2019, 2025)),
        "EPA-SC-1.3",
        "OWID-2025",
        "NESO-HOURLY",
    }


# ---- hand-checked values -------------------------------------------------------------------------


def test_epa_2025_natural_gas(committed):
    # data/sources/epa_ghg_hub_2025/table1_stationary_combustion.csv, row "Natural Gas,Natural Gas,0.001026,
    # 53.06,1,0.1,0.05444,0.00103,0.0001,mmBtu per scf,scf"
    row = _one(committed, "epa-hub-2025/t1/natural_gas/mmBtu")
    assert (row["unit"], row["scope"], row["region"], row["gwp_set"]) == ("mmBtu", "1", "US", "AR5")
    assert _f(row["co2_kg"]) == pytest.approx(53.06)
    assert _f(row["ch4_kg"]) == pytest.approx(1.0e-3)
    assert _f(row["n2o_kg"]) == pytest.approx(0.10e-3)
    assert row["co2e_kg"] == ""
    per_scf = _one(committed, "epa-hub-2025/t1/natural_gas/scf")
    assert _f(per_scf["co2_kg"]) == pytest.approx(0.05444)
    assert _f(per_scf["ch4_kg"]) == pytest.approx(0.00103e-3)


def test_epa_2025_camx_electricity(committed):
    # table6_electricity_egrid2023_subregions.csv row "CAMX,WECC California,436.655,0.025,0.003,...":
    # 436.655 lb/MWh x 0.45359237 / 1000 = 0.1980634 kg/kWh (the brief's 0.198066 was a rounding slip)
    row = _one(committed, "epa-hub-2025/t6/electricity/CAMX")
    assert (row["scope"], row["method"], row["region_level"], row["unit"]) == (
        "2",
        "location",
        "subnational",
        "kWh",
    )
    assert _f(row["co2_kg"]) == pytest.approx(436.655 * LB / 1000)
    assert _f(row["co2_kg"]) == pytest.approx(0.198063, abs=5e-7)
    assert _f(row["ch4_kg"]) == pytest.approx(0.025 * LB / 1000)
    assert _f(row["n2o_kg"]) == pytest.approx(0.003 * LB / 1000)
    us = _one(committed, "epa-hub-2025/t6/electricity/US")
    assert (us["region"], us["region_level"]) == ("US", "national")
    assert _f(us["co2_kg"]) == pytest.approx(771.523 * LB / 1000)  # row "US Average,...,771.523,..."


def test_epa_2025_mobile_is_co2_only(committed):
    # table2_mobile_combustion_co2.csv row "Diesel Fuel,10.21,gallon"
    row = _one(committed, "epa-hub-2025/t2/vehicle_diesel/gallon")
    assert _f(row["co2_kg"]) == pytest.approx(10.21)
    assert row["ch4_kg"] == row["n2o_kg"] == ""
    assert "per vehicle-mile" in row["notes"]


def test_epa_2025_waste_is_per_short_ton_ar4(committed):
    # table9 row "Mixed MSW,NA,0.58,0.43,NA,NA,NA" (metric tons CO2e per short ton; EPA: AR4 GWPs)
    row = _one(committed, "epa-hub-2025/t9/waste_mixed_msw_landfilled/short_ton")
    assert _f(row["co2e_kg"]) == pytest.approx(580.0)
    assert (row["unit"], row["category"], row["gwp_set"]) == ("short_ton", "5", "AR4")
    assert not (committed["factor_id"] == "epa-hub-2025/t9/waste_mixed_msw_recycled/short_ton").any()  # NA


def test_epa_2025_travel_and_refrigerant(committed):
    # table10 row "Passenger Car A,0.297,0.0059,0.0053,vehicle-mile"
    car = _one(committed, "epa-hub-2025/t10/car_travel_vehicle_mile/vehicle_mile")
    assert (car["unit"], car["category"]) == ("vehicle * mile", "6")
    assert _f(car["co2_kg"]) == pytest.approx(0.297)
    assert _f(car["ch4_kg"]) == pytest.approx(0.0059e-3)
    # table8 row "Medium- and Heavy-Duty TruckC,0.186,0.0016,0.0054,short ton-mile"
    truck = _one(committed, "epa-hub-2025/t8/freight_truck/short_ton_mile")
    assert (truck["unit"], truck["category"]) == ("short_ton * mile", "4")
    assert _f(truck["co2_kg"]) == pytest.approx(0.186)
    # table12 row "R-410A,1924,..." and table11 row "HFC-134a,CH2FCF3,1300"
    assert _f(_one(committed, "epa-hub-2025/gwp/refrigerant_r_410a/kilogram")["co2e_kg"]) == 1924
    hfc = _one(committed, "epa-hub-2025/gwp/refrigerant_hfc_134a/kilogram")
    assert (_f(hfc["co2e_kg"]), hfc["unit"], hfc["notes"]) == (1300, "kilogram", "fugitive: kg released")


def test_desnz_2024_values(committed):
    # ghg-conversion-factors-2024-flat-v1.1.csv rows 7_400_4000_5_1..4: UK electricity kWh, kg CO2e 0.20705,
    # kg CO2e of CO2 0.20493, of CH4 0.0009, of N2O 0.00122
    elec = _one(committed, "desnz-2024/7_400_4000_5_1")
    assert (elec["activity_type"], elec["region"], elec["scope"], elec["method"]) == (
        "electricity",
        "GB",
        "2",
        "location",
    )
    assert _f(elec["co2e_kg"]) == pytest.approx(0.20705)
    assert _f(elec["co2_kg"]) == pytest.approx(0.20493)
    assert _f(elec["ch4_kg"]) == pytest.approx(0.0009 / 28)
    assert _f(elec["n2o_kg"]) == pytest.approx(0.00122 / 265)
    # rows 1_100_1004_6_1..4: Fuels > Gaseous fuels > Natural gas, kWh (Gross CV): 0.1829 kg CO2e,
    # 0.18253 CO2, 0.00028 CH4 (as CO2e), 0.0009 N2O (as CO2e)
    gas = _one(committed, "desnz-2024/1_100_1004_6_1")
    assert (gas["activity_type"], gas["unit"], gas["table_ref"]) == ("natural_gas", "kWh", "1_100_1004_6_1")
    assert _f(gas["co2e_kg"]) == pytest.approx(0.1829)
    assert _f(gas["co2_kg"]) == pytest.approx(0.18253)
    assert _f(gas["co2_kg"]) + 28 * _f(gas["ch4_kg"]) + 265 * _f(gas["n2o_kg"]) == pytest.approx(
        0.1829, abs=2e-5
    )
    # row 13_402_4000_5_1: T&D losses 0.0183, scope 3 category 3
    td = _one(committed, "desnz-2024/13_402_4000_5_1")
    assert (td["activity_type"], td["scope"], td["category"]) == ("electricity_td_losses", "3", "3")
    # row 21_316_3168_11_1: long-haul average passenger with RF 0.26128 kg CO2e / passenger.km
    lh = _one(committed, "desnz-2024/21_316_3168_11_1")
    assert (lh["activity_type"], lh["unit"]) == ("air_travel_long_haul", "passenger * kilometer")
    assert _f(lh["co2e_kg"]) == pytest.approx(0.26128)
    # row 27_304_3140_14_1: HGV all diesel, all HGVs, average laden 0.09752 kg CO2e / tonne.km
    hgv = _one(committed, "desnz-2024/27_304_3140_14_1")
    assert (hgv["activity_type"], hgv["unit"], hgv["category"]) == (
        "freight_hgv",
        "metric_ton * kilometer",
        "4",
    )


def test_desnz_blank_rows_are_skipped(committed):
    raw = pd.read_csv(common.DESNZ_CSV, dtype=str, keep_default_na=False)
    blank = raw["factor_2024"].str.strip() == ""
    # 29_600_4002_13_1 "Hotel stay > Argentina" has no factor in the source
    assert blank[raw["id"] == "29_600_4002_13_1"].all()
    desnz = committed[committed["edition_key"] == "DESNZ-2024"]
    assert not desnz["table_ref"].isin(raw.loc[blank, "id"]).any()
    waste_rows = raw[(raw["level_1"] == "Waste disposal") & ~blank]
    assert desnz["activity_type"].str.startswith("waste_").sum() == len(waste_rows)
    hotel = desnz[desnz["activity_type"] == "hotel_stay"].set_index("region")
    assert _f(hotel.loc["GB", "co2e_kg"]) == pytest.approx(10.4)  # row 29_600_4000_13_1 "UK" 10.4
    assert _f(hotel.loc["US", "co2e_kg"]) == pytest.approx(16.1)  # row 29_600_4053_13_1 "United States" 16.1


def test_desnz_mapping_entries_each_match_one_row():
    factors = build_desnz_2024()
    mapped = factors[
        ~factors["activity_type"].str.startswith("waste_") & (factors["activity_type"] != "hotel_stay")
    ]
    assert len(mapped) == len(curated_entries())


def test_supply_chain_soybean(committed):
    # SupplyChainGHGEmissionFactors_v1.3.0_NAICS_CO2e_USD2022.csv row "111110,Soybean Farming,All GHGs,
    # kg CO2e/2022 USD, purchaser price,0.488,0.044,0.532,1111A0" (with margins = 0.532)
    row = _one(committed, "epa-sc-1.3/purchased_goods/111110")
    assert (row["naics_code"], row["unit"], row["scope"], row["category"]) == ("111110", "USD", "3", "1")
    assert _f(row["co2e_kg"]) == pytest.approx(0.532)
    assert row["notes"].startswith("kg CO2e per 2022 USD, purchaser price, with margins")


def test_owid_country_and_world(committed):
    # owid_carbon-intensity-electricity_gco2_per_kwh.csv row "United Kingdom,GBR,2024,216.5"
    gb = _one(committed, "owid-2025/electricity/GB/2024")
    assert _f(gb["co2e_kg"]) == pytest.approx(0.2165)
    assert (gb["valid_from"], gb["valid_to"], gb["source_rank"]) == ("2024-01-01", "2025-01-01", "1")
    # row "World,OWID_WRL,2024,471.84"
    world = _one(committed, "owid-2025/electricity/GLOBAL/2024")
    assert world["region_level"] == "global"
    assert _f(world["co2e_kg"]) == pytest.approx(0.47184)
    owid = committed[committed["edition_key"] == "OWID-2025"]
    assert not owid["source_label"].str.contains(r"\(Ember\)|^Africa |^European Union", regex=True).any()


def test_neso_hourly(committed):
    # context_hourly_weather_bedford_and_uk_grid_ci_2019_2020.csv row "2019-01-01 00:00:00,8.2,81.6,0.0,0.096"
    row = _one(committed, "neso-hourly/electricity/GB/2019-01-01T00")
    assert _f(row["co2_kg"]) == pytest.approx(0.096)
    assert row["co2e_kg"] == ""
    assert (row["valid_from"], row["valid_to"]) == ("2019-01-01T00:00:00", "2019-01-01T01:00:00")
    assert (row["region"], row["region_level"], row["notes"]) == (
        "GB",
        "hourly",
        "CO2 only, generation-based",
    )
    hourly = committed[committed["edition_key"] == "NESO-HOURLY"]
    assert (hourly["valid_to"].iloc[:-1].to_numpy() == hourly["valid_from"].iloc[1:].to_numpy()).all()


# ---- EPA Hub 2021: parsed from the workbook by table titles ------------------------------------


def test_epa_2021_parse_matches_cells_read_directly():
    sheet = openpyxl.load_workbook(common.HUB_2021_XLSX, read_only=True, data_only=True)[
        "Emission Factors Hub"
    ]
    cells = {
        ref: sheet[ref].value for ref in ("C38", "E38", "F38", "G38", "C315", "D315", "C339", "D339", "E9")
    }
    # row 38: "Natural Gas", 53.06 kg CO2/mmBtu, 1 g CH4, 0.1 g N2O;
    # row 315: "CAMX (WECC California)" 453.2 lb CO2/MWh
    assert cells["C38"] == "Natural Gas" and cells["C315"] == "CAMX (WECC California)"
    assert cells["C339"] == "US Average"
    factors = build_epa_hub_2021()
    ng = factors[factors["factor_id"] == "epa-hub-2021/t1/natural_gas/mmBtu"].iloc[0]
    assert ng["co2_kg"] == pytest.approx(cells["E38"]) and cells["E38"] == pytest.approx(53.06)
    assert ng["ch4_kg"] == pytest.approx(cells["F38"] / 1000)
    assert ng["n2o_kg"] == pytest.approx(cells["G38"] / 1000)
    camx = factors[factors["factor_id"] == "epa-hub-2021/t6/electricity/CAMX"].iloc[0]
    assert cells["D315"] == pytest.approx(453.2)
    assert camx["co2_kg"] == pytest.approx(453.2 * LB / 1000)
    us = factors[factors["factor_id"] == "epa-hub-2021/t6/electricity/US"].iloc[0]
    assert us["co2_kg"] == pytest.approx(cells["D339"] * LB / 1000)
    assert cells["E9"] == 298  # the 2021 Hub header GWP table: N2O 298 (AR4)


def test_epa_2021_edition_metadata(committed):
    hub21 = committed[committed["edition_key"] == "EPA-HUB-2021"]
    assert set(hub21["valid_from"]) == {"2021-01-01"}
    assert set(hub21["valid_to"]) == {"2023-01-01"}  # the next Hub held is 2023 (2022 is not)
    assert set(hub21["gwp_set"]) == {"AR4"}  # workbook: CH4 25, N2O 298, "IPCC Fourth Assessment Report"
    assert "eGRID2019" in _one(committed, "epa-hub-2021/t6/electricity/CAMX")["table_ref"]
    subregions = hub21[(hub21["activity_type"] == "electricity") & (hub21["region_level"] == "subnational")]
    assert len(subregions) == 27
    # LNG per gallon changed between editions: 2021 row 104 "4.5005492", 2025 "4.5"
    assert _f(_one(committed, "epa-hub-2021/t2/vehicle_lng/gallon")["co2_kg"]) == pytest.approx(4.5005492)


def test_editions_are_comparable(committed):
    def value(factor_id: str) -> float:
        return _f(_one(committed, factor_id)["co2_kg"])

    # same activity types in both Hub editions
    assert value("epa-hub-2021/t1/natural_gas/mmBtu") == value("epa-hub-2025/t1/natural_gas/mmBtu") == 53.06
    camx21, camx25 = value("epa-hub-2021/t6/electricity/CAMX"), value("epa-hub-2025/t6/electricity/CAMX")
    assert camx21 != camx25 and camx21 == pytest.approx(0.205568, abs=1e-6)
    types = committed.groupby("edition_key")["activity_type"].agg(set)
    shared = {
        "natural_gas",
        "electricity",
        "vehicle_diesel",
        "freight_rail",
        "bus_travel",
        "air_travel_short_haul",
        "purchased_steam_heat",
        "coal_industrial",
        "propane",
        "lpg",
    }
    assert shared <= types["EPA-HUB-2021"] & types["EPA-HUB-2025"]
    assert {"natural_gas", "electricity", "vehicle_diesel", "bus_travel", "freight_rail"} <= types[
        "DESNZ-2024"
    ]


# ---- companion files ----------------------------------------------------------------------------


def test_activity_types_cover_the_factors(committed):
    types = pd.read_csv(ACTIVITY_TYPES_CSV, dtype=str, keep_default_na=False)
    assert list(types.columns) == ["activity_type", "scope", "category", "default_unit", "description"]
    assert types["activity_type"].is_unique
    assert set(types["activity_type"]) == set(committed["activity_type"])
    assert (types["description"] != "").all()
    row = types.set_index("activity_type").loc["electricity"]
    assert (row["scope"], row["default_unit"]) == ("2", "kWh")
    for unit in types["default_unit"]:
        normalise_unit(unit)


def test_gwp_sets():
    gwp = pd.read_csv(GWP_CSV, dtype={"gwp_set": str, "gas": str, "gwp": float, "source": str})
    assert list(gwp.columns) == ["gwp_set", "gas", "gwp", "source"]
    values = gwp.set_index(["gwp_set", "gas"])["gwp"]
    assert (values[("AR5", "CH4")], values[("AR5", "N2O")]) == (28, 265)
    assert (values[("AR4", "CH4")], values[("AR4", "N2O")]) == (25, 298)
    assert values[("AR5", "R-410A")] == 1924 and values[("AR4", "HFC-134a")] == 1430


def test_slugify():
    assert common.slugify("Distillate Fuel Oil No. 2") == "distillate_fuel_oil_no_2"
    assert common.slugify("Residual Fuel Oil No. 6") == "residual_fuel_oil_no_6"
    assert common.slugify("HFC-134a") == "hfc_134a"

"""Grid carbon intensity: OWID/Ember annual country series and the hourly GB (NESO) series."""

from __future__ import annotations

import pandas as pd
import pycountry

from tools.factor_build.common import HOURLY_CSV, OWID_CSV, frame


def build_owid() -> pd.DataFrame:
    raw = pd.read_csv(OWID_CSV, dtype={"Entity": str, "Code": str}, keep_default_na=False)
    codes = raw["Code"].str.strip()
    # one pycountry lookup per distinct code; aggregates (continents, "(Ember)", OWID_*) have none
    countries = {code: pycountry.countries.get(alpha_3=code) for code in codes.drop_duplicates() if code}
    alpha2 = {code: country.alpha_2 for code, country in countries.items() if country is not None}
    alpha2["OWID_WRL"] = "GLOBAL"
    region = codes.map(alpha2)
    keep = region.notna()
    raw, region = raw[keep], region[keep]
    year = raw["Year"].astype(int)
    rows = pd.DataFrame(
        {
            "region": region,
            "region_level": region.eq("GLOBAL").map({True: "global", False: "national"}),
            "source_label": raw["Entity"].str.strip() + " " + year.astype(str),
            "table_ref": "carbon-intensity-electricity " + codes[keep] + " " + year.astype(str),
            "co2e_kg": raw["carbon_intensity"].astype(float) / 1000.0,
            "valid_from": year.astype(str) + "-01-01",
            "valid_to": (year + 1).astype(str) + "-01-01",
        }
    )
    rows["factor_id"] = "owid-2025/electricity/" + rows["region"] + "/" + year.astype(str)
    return frame(
        rows,
        edition_key="OWID-2025",
        source="Our World in Data, Carbon intensity of electricity (Ember)",
        edition="OWID grapher download (Ember)",
        activity_type="electricity",
        scope=2,
        unit="kWh",
        gwp_set="AR5",
        method="location",
        source_rank=1,
        notes="g CO2e/kWh of generation from the OWID grapher (Ember, life-cycle basis); "
        "GWP set not stated by OWID",
    )


def build_neso_hourly() -> pd.DataFrame:
    raw = pd.read_csv(HOURLY_CSV, usecols=["datetime_utc", "uk_grid_carbon_intensity_kgco2_per_kwh"])
    start = pd.to_datetime(raw["datetime_utc"], format="%Y-%m-%d %H:%M:%S")
    value = raw["uk_grid_carbon_intensity_kgco2_per_kwh"].astype(float)
    keep = value.notna()
    start, value = start[keep], value[keep]
    rows = pd.DataFrame(
        {
            "factor_id": "neso-hourly/electricity/GB/" + start.dt.strftime("%Y-%m-%dT%H"),
            "table_ref": "uk_grid_carbon_intensity_kgco2_per_kwh " + start.dt.strftime("%Y-%m-%d %H:%M:%S"),
            "co2_kg": value,
            "valid_from": start.dt.strftime("%Y-%m-%dT%H:%M:%S"),
            "valid_to": (start + pd.Timedelta(hours=1)).dt.strftime("%Y-%m-%dT%H:%M:%S"),
        }
    )
    return frame(
        rows,
        edition_key="NESO-HOURLY",
        source="National Grid ESO historic carbon intensity (via EECi Cambridge Estates archive)",
        edition="2019-2020",
        source_label="UK national grid carbon intensity, hourly",
        activity_type="electricity",
        scope=2,
        region="GB",
        region_level="hourly",
        unit="kWh",
        gwp_set="AR5",
        method="location",
        source_rank=0,
        notes="CO2 only, generation-based",
    )

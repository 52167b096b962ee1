"""Paths, unit constants and the small frame helpers every reader of the factor build shares."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from services.data_core.factors.schema import FACTOR_COLUMNS

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT / "data"
SOURCES_DIR = DATA_DIR / "sources"
OUTPUT_DIR = DATA_DIR / "factors"
MAPPINGS_DIR = OUTPUT_DIR / "mappings"

HUB_2025_DIR = SOURCES_DIR / "epa_ghg_hub_2025"
HUB_WORKBOOKS = {  # the Hub editions read from EPA's own workbook (2025 is read from CSV extracts)
    year: SOURCES_DIR / f"epa_ghg_hub_{year}" / f"ghg-emission-factors-hub-{year}.xlsx" for year in (2021, 2023, 2024)
}
HUB_2021_XLSX = HUB_WORKBOOKS[2021]
DESNZ_CSV = SOURCES_DIR / "uk_desnz_2024" / "ghg-conversion-factors-2024-flat-v1.1.csv"
DESNZ_FLAT_FILES = {  # the agency's flat files as published (BEIS 2019-2022, DESNZ 2023); 2024 is DESNZ_CSV
    2019: SOURCES_DIR / "uk_desnz_2019" / "conversion-factors-2019-flat-file-v01-02.xls",
    2020: SOURCES_DIR / "uk_desnz_2020" / "Conversion_Factors_2020_-_Flat_file__for_automatic_processing_only_.xlsx",
    2021: SOURCES_DIR / "uk_desnz_2021" / "conversion-factors-2021-flat-file-automatic-processing.xls",
    2022: SOURCES_DIR / "uk_desnz_2022" / "ghg-conversion-factors-2022-flat-format.xls",
    2023: SOURCES_DIR / "uk_desnz_2023" / "ghg-conversion-factors-2023-flat-file-update.xlsx",
}
SUPPLY_CHAIN_CSV = (
    SOURCES_DIR / "epa_supply_chain_v1_3" / "SupplyChainGHGEmissionFactors_v1.3.0_NAICS_CO2e_USD2022.csv"
)
OWID_CSV = SOURCES_DIR / "grid_carbon_intensity" / "owid_carbon-intensity-electricity_gco2_per_kwh.csv"
HOURLY_CSV = DATA_DIR / "buildings_cambridge" / "context_hourly_weather_bedford_and_uk_grid_ci_2019_2020.csv"

LB_TO_KG = 0.45359237  # exact, by definition of the avoirdupois pound
G_TO_KG = 1e-3


def slugify(text: str) -> str:
    """Snake-case slug: 'Distillate Fuel Oil No. 2' -> 'distillate_fuel_oil_no_2'."""
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")


def slugs(series: pd.Series) -> pd.Series:
    """:func:`slugify` of every value of a series."""
    return series.astype(str).str.lower().str.replace(r"[^a-z0-9]+", "_", regex=True).str.strip("_")


def clean_label(series: pd.Series) -> pd.Series:
    """Collapse whitespace (the 2021 workbook has line breaks inside labels)."""
    return series.astype(str).str.replace(r"\s+", " ", regex=True).str.strip()


def strip_footnote(series: pd.Series) -> pd.Series:
    """'Passenger Car A' / 'Medium- and Heavy-Duty TruckC' -> the vehicle type without its footnote."""
    return clean_label(series).str.replace(r"(?<=[a-z)])\s?[A-E]$", "", regex=True).str.strip()


def frame(rows: pd.DataFrame, **constants: Any) -> pd.DataFrame:
    """Complete a partial factor frame to FACTOR_COLUMNS (constants fill missing columns)."""
    out = rows.copy()
    for column, value in constants.items():
        out[column] = value
    for column in FACTOR_COLUMNS:
        if column not in out:
            out[column] = pd.NA
    return out[FACTOR_COLUMNS]


def require_mapped(series: pd.Series, what: str) -> None:
    """Fail with the first unmapped source labels (the index) when the series has gaps."""
    missing = series.isna()
    if missing.any():
        raise ValueError(f"unmapped {what}: {sorted(series.index[missing].astype(str))[:10]}")

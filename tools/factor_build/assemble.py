"""Join the readers' factors, derive ``gwp.csv`` and ``activity_types.csv``, and write the library."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from services.data_core.factors.schema import FACTOR_COLUMNS
from tools.factor_build.common import OUTPUT_DIR
from tools.factor_build.desnz import build_all_desnz
from tools.factor_build.epa_hub import build_epa_hub_2025, hub_2025_tables
from tools.factor_build.epa_hub_workbook import HUB_WORKBOOK_YEARS, build_epa_hub_workbook, hub_2021_tables
from tools.factor_build.grid import build_neso_hourly, build_owid
from tools.factor_build.mappings import mappings
from tools.factor_build.supply_chain import build_supply_chain
from tools.factor_build.validity import close_superseded

_INT_COLUMNS = ["scope", "category", "source_rank"]
_FLOAT_COLUMNS = ["co2_kg", "ch4_kg", "n2o_kg", "co2e_kg"]


def _finalise(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in _INT_COLUMNS:
        out[column] = pd.to_numeric(out[column]).astype("Int64")
    for column in _FLOAT_COLUMNS:
        out[column] = pd.to_numeric(out[column]).astype("float64")
    text_columns = [c for c in FACTOR_COLUMNS if c not in _INT_COLUMNS + _FLOAT_COLUMNS]
    for column in text_columns:
        out[column] = out[column].fillna("").astype(str)
    out = out.sort_values("factor_id", kind="mergesort").reset_index(drop=True)
    if out["factor_id"].duplicated().any():
        dupes = out.loc[out["factor_id"].duplicated(keep=False), "factor_id"].tolist()
        raise ValueError(f"duplicate factor_id: {dupes[:10]}")
    return out[FACTOR_COLUMNS]


def build_factors() -> pd.DataFrame:
    """All factors of the library, columns FACTOR_COLUMNS, sorted by (unique) factor_id."""
    hubs = [build_epa_hub_workbook(year) for year in HUB_WORKBOOK_YEARS] + [build_epa_hub_2025()]
    frames = [
        close_superseded(pd.concat(hubs, ignore_index=True)),
        close_superseded(build_all_desnz()),
        build_supply_chain(),
        build_owid(),
        build_neso_hourly(),
    ]
    return _finalise(pd.concat(frames, ignore_index=True))


def build_gwp() -> pd.DataFrame:
    """GWP100 sets: AR5 (EPA Hub 2025 Tables 11-12) and AR4 (EPA Hub 2021 Tables 11-12)."""
    frames = []
    t25 = hub_2025_tables()
    t21, gwp_set_2021, _ = hub_2021_tables()
    for tables, gwp_set, source in (
        (t25, "AR5", "US EPA GHG Emission Factors Hub 2025, Tables 11-12 (IPCC AR5)"),
        (t21, gwp_set_2021, f"US EPA GHG Emission Factors Hub 2021, Tables 11-12 (IPCC {gwp_set_2021})"),
    ):
        both = pd.concat([tables["t11"], tables["t12"]], ignore_index=True)
        frames.append(
            pd.DataFrame({"gwp_set": gwp_set, "gas": both["gas"], "gwp": both["gwp"].astype(float), "source": source})
        )
    out = pd.concat(frames, ignore_index=True)
    if out.duplicated(["gwp_set", "gas"]).any():
        raise ValueError("duplicate gas in a GWP set")
    return out.sort_values(["gwp_set", "gas"], kind="mergesort").reset_index(drop=True)


def _mode(series: pd.Series) -> Any:
    """Most common value; ties broken by the smallest value (deterministic)."""
    counts = series.value_counts()
    top = counts[counts == counts.max()].index
    return sorted(top)[0]


def _mode_or_na(series: pd.Series) -> Any:
    """:func:`_mode` of the non-missing values; NA when all are missing."""
    return _mode(series.dropna()) if series.notna().any() else pd.NA


def describe(activity_types: pd.Series, labels: pd.Series) -> pd.Series:
    """activity_descriptions.csv, else a description generated from the family and the source wording."""
    refrigerant = activity_types.str.startswith("refrigerant_")
    waste = activity_types.str.startswith("waste_")
    waste_label = labels.str.removeprefix("Waste disposal > ").str.replace(" > ", ", ", regex=False)
    generated = ("Stationary combustion: " + labels).mask(
        refrigerant, "Fugitive release of " + labels + " (kg of gas released)"
    )
    generated = generated.mask(waste, "Waste treatment: " + waste_label)
    return mappings().map("activity_descriptions", activity_types).fillna(generated)


def build_activity_types(factors: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per activity_type of factors.csv: scope/category/default_unit = most common."""
    factors = build_factors() if factors is None else factors
    grouped = factors.groupby("activity_type", sort=True)
    scope = grouped["scope"].agg(_mode).astype("Int64")
    category = grouped["category"].agg(_mode_or_na).astype("Int64")
    unit = grouped["unit"].agg(_mode)
    first_label = grouped["source_label"].first()
    out = pd.DataFrame(
        {
            "activity_type": scope.index,
            "scope": scope.values,
            "category": category.values,
            "default_unit": unit.values,
        }
    )
    labels = pd.Series(first_label.reindex(out["activity_type"]).to_numpy(), index=out.index)
    out["description"] = describe(out["activity_type"], labels)
    return out


def to_csv_text(frame: pd.DataFrame) -> str:
    """The exact text written for a frame (floats at full repr precision, NA as empty)."""
    return frame.to_csv(index=False, lineterminator="\n")


def write_all(output_dir: Path = OUTPUT_DIR) -> dict[str, int]:
    """Build and write factors.csv, gwp.csv and activity_types.csv; the row count of each."""
    output_dir.mkdir(parents=True, exist_ok=True)
    factors = build_factors()
    outputs = {
        "factors.csv": factors,
        "gwp.csv": build_gwp(),
        "activity_types.csv": build_activity_types(factors),
    }
    for name, frame in outputs.items():
        (output_dir / name).write_text(to_csv_text(frame), encoding="utf-8")
    return {name: len(frame) for name, frame in outputs.items()}

"""A small slice of the real Cambridge buildings for fast model tests."""

from __future__ import annotations

import pandas as pd
import pytest

from services.data_core.settings import REPO_ROOT

DATA = REPO_ROOT / "data" / "buildings_cambridge"
SITES = ["b0", "b2", "b33"]


@pytest.fixture(scope="session")
def slice_2019() -> dict[str, object]:
    from services.ml_engine.features import clean_meter, site_scale, wide_to_long

    wide = pd.read_csv(DATA / "electricity_hourly_kwh_2019.csv", usecols=["datetime_utc", *SITES])
    long = clean_meter(wide_to_long(wide), zero_is_missing=True)
    long = long[long["timestamp"] < pd.Timestamp("2019-05-01", tz="UTC")].reset_index(drop=True)
    ctx = pd.read_csv(DATA / "context_hourly_weather_bedford_and_uk_grid_ci_2019_2020.csv")
    weather = ctx.rename(columns={"datetime_utc": "timestamp"})
    weather["timestamp"] = pd.to_datetime(weather["timestamp"], utc=True)
    meta = pd.read_csv(DATA / "building_metadata.csv").rename(columns={"building_id": "site"})
    train = long[long["timestamp"] < pd.Timestamp("2019-04-15", tz="UTC")]
    return {"long": long, "weather": weather, "meta": meta, "scale": site_scale(train),
            "codes": {s: i for i, s in enumerate(SITES)}}

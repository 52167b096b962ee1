"""Real residuals for hotspot tests: a small production baseline (services/ml_engine/training.py) trained on
three Cambridge buildings of late 2019 predicts a clean stretch of early 2020; faults are injected into the
readings *before* prediction, so the day-ahead lags carry them exactly as in production."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from services.data_core.settings import REPO_ROOT

DATA = REPO_ROOT / "data" / "buildings_cambridge"
SITES = ["b0", "b2", "b33"]
TRAIN_START, HOLDOUT_START, HOLDOUT_END = "2019-08-01", "2020-01-13", "2020-03-02"
Inject = Callable[[dict[str, pd.DataFrame]], None]


def _readings() -> tuple[pd.DataFrame, dict[str, float]]:
    from services.ml_engine.features import wide_to_long

    frames = []
    for carrier, activity_type in (("electricity", "electricity"), ("gas", "natural_gas")):
        for year in (2019, 2020):
            wide = pd.read_csv(DATA / f"{carrier}_hourly_kwh_{year}.csv", usecols=["datetime_utc", *SITES])
            long = wide_to_long(wide).dropna(subset=["value"])
            frames.append(long.rename(columns={"value": "quantity"}).assign(activity_type=activity_type))
    readings = pd.concat(frames, ignore_index=True)
    readings = readings[(readings["timestamp"] >= pd.Timestamp("2019-06-01", tz="UTC"))
                        & (readings["timestamp"] < pd.Timestamp(HOLDOUT_END, tz="UTC"))]
    meta = pd.read_csv(DATA / "building_metadata.csv")
    return readings, dict(zip(meta["building_id"], meta["gross_internal_area_m2"].astype(float), strict=True))


@pytest.fixture(scope="session")
def baseline() -> dict[str, object]:
    """The trained bundle, the cleaned series it was trained on, the weather and the window."""
    from services.ml_engine.training import Window, prepare, train_bundle

    readings, area = _readings()
    ctx = pd.read_csv(DATA / "context_hourly_weather_bedford_and_uk_grid_ci_2019_2020.csv")
    weather = ctx.rename(columns={"datetime_utc": "timestamp"})
    weather["timestamp"] = pd.to_datetime(weather["timestamp"], utc=True)
    window = Window(pd.Timestamp(TRAIN_START, tz="UTC"), pd.Timestamp(HOLDOUT_START, tz="UTC"),
                    pd.Timestamp(HOLDOUT_END, tz="UTC"), calibration_weeks=6)
    series = prepare(readings)
    bundle = train_bundle(series, weather, area, window, params={"max_iter": 80, "max_leaf_nodes": 31})
    return {"bundle": bundle, "series": series, "weather": weather, "window": window}


@pytest.fixture(scope="session")
def make_residuals(baseline: dict[str, object]) -> Callable[..., pd.DataFrame]:
    """``make_residuals(inject=None)`` -> the residual frame of the holdout (detect()'s input), after
    ``inject(series)`` edited the cleaned readings {activity_type: [site, timestamp, value]} in place."""
    from services.ml_engine.bundle import INPUT_COLUMNS
    from services.ml_engine.training import holdout_inputs

    bundle, weather, window = baseline["bundle"], baseline["weather"], baseline["window"]
    grid = pd.read_csv(DATA / "context_hourly_weather_bedford_and_uk_grid_ci_2019_2020.csv",
                       usecols=["datetime_utc", "uk_grid_carbon_intensity_kgco2_per_kwh"])
    intensity = pd.Series(grid.iloc[:, 1].to_numpy(float), index=pd.to_datetime(grid["datetime_utc"], utc=True))
    cache: dict[str, pd.DataFrame] = {}

    def make(inject: Inject | None = None) -> pd.DataFrame:
        if inject is None and "clean" in cache:
            return cache["clean"].copy()
        series = {t: s.copy() for t, s in baseline["series"].items()}  # type: ignore[attr-defined]
        if inject is not None:
            inject(series)
        inputs = holdout_inputs(series, weather, window)  # type: ignore[arg-type]
        pred = bundle.predict(inputs[[c for c in INPUT_COLUMNS if c in inputs.columns]])  # type: ignore[attr-defined]
        out = inputs[["site", "activity_type", "timestamp", "value"]].rename(columns={"value": "actual"})
        out = out.reset_index(drop=True)
        out[["expected", "lower", "upper"]] = pred.to_numpy()
        out.insert(1, "meter", "main-" + out["activity_type"].map({"electricity": "electricity",
                                                                  "natural_gas": "gas"}))
        out["model_version"] = "test-1"
        gas = out["activity_type"].eq("natural_gas").to_numpy()
        out["kg_per_kwh"] = np.where(gas, 0.18290, intensity.reindex(out["timestamp"]).to_numpy())
        if inject is None:
            cache["clean"] = out
        return out.copy()

    return make

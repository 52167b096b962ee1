"""The expected-value model, its intervals and the ASHRAE Guideline 14 metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from services.ml_engine.features import build_features
from services.ml_engine.model import ConformalIntervals, ExpectedConsumptionModel, ashrae_metrics, fit_with_intervals

pytestmark = pytest.mark.unit
SMALL = dict(learning_rate=0.1, max_iter=60, max_leaf_nodes=31, min_samples_leaf=20, early_stopping=False,
             random_state=0)


def test_ashrae_metrics_by_hand() -> None:
    m = ashrae_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
    # RMSE = sqrt(1/3); mean 2 -> CV(RMSE) = 0.2887; NMBE = (0 + 0 - 1) / ((3 - 1) * 2) = -0.25; MAE = 1/3
    assert m["cv_rmse"] == pytest.approx(np.sqrt(1 / 3) / 2)
    assert m["nmbe"] == pytest.approx(-0.25) and m["mae"] == pytest.approx(1 / 3)
    assert ashrae_metrics([1.0, np.nan, 3.0], [1.0, 5.0, 3.0])["n"] == 2  # missing actuals are skipped


def test_model_beats_week_ago_naive_and_intervals_cover(slice_2019) -> None:
    """Two weeks after 15 April 2019 (Easter, with two bank holidays): the model knows the calendar,
    the week-ago naive forecast does not."""
    s = slice_2019
    df = build_features(s["long"], s["weather"], s["meta"], s["scale"], s["codes"])
    test_start, test_end = pd.Timestamp("2019-04-15", tz="UTC"), pd.Timestamp("2019-04-29", tz="UTC")
    fit_rows = df[(df["timestamp"] < test_start) & (df["timestamp"] >= pd.Timestamp("2019-01-15", tz="UTC"))]
    model, intervals = fit_with_intervals(fit_rows, cal_start=pd.Timestamp("2019-03-25", tz="UTC"), params=SMALL)
    test = df[(df["timestamp"] >= test_start) & (df["timestamp"] < test_end) & df["value"].notna()]
    yhat = model.predict(test)
    naive = test["lag_168h"].to_numpy() * test["scale"].to_numpy()
    ours, week_ago = ashrae_metrics(test["value"], yhat), ashrae_metrics(test["value"], naive)
    assert ours["mae"] < week_ago["mae"]
    assert ours["cv_rmse"] < 0.30 and abs(ours["nmbe"]) < 0.10
    lo, hi = intervals.predict(test["site"], yhat)
    covered = ((test["value"].to_numpy() >= lo) & (test["value"].to_numpy() <= hi)).mean()
    assert 0.75 <= covered <= 1.0
    assert (lo <= yhat).all() and (yhat <= hi).all()


def test_conformal_quantiles_per_site() -> None:
    rng = np.random.default_rng(0)
    site = np.repeat(["a", "b"], 1000)
    yhat = np.full(2000, 10.0)
    y = yhat + np.concatenate([rng.normal(0, 1, 1000), rng.normal(0, 5, 1000)])
    ci = ConformalIntervals(alpha=0.1).fit(site, y, yhat)
    lo, hi = ci.predict(np.array(["a", "b"]), np.array([10.0, 10.0]))
    # 90 % of N(0, sd): +-1.645 sd
    assert hi[0] - 10 == pytest.approx(1.645, abs=0.2) and hi[1] - 10 == pytest.approx(5 * 1.645, abs=1.0)
    assert lo[0] < 10 < hi[0]


def test_predictions_are_never_negative(slice_2019) -> None:
    s = slice_2019
    df = build_features(s["long"], s["weather"], s["meta"], s["scale"], s["codes"])
    model = ExpectedConsumptionModel(params=SMALL).fit(df[df["timestamp"] < pd.Timestamp("2019-04-15", tz="UTC")])
    assert (model.predict(df) >= 0).all()


def test_a_feature_without_any_value_is_never_split_on_and_not_fatal() -> None:
    """No site names a weather station: every weather column is NaN. sklearn's binning fails on an all-NaN
    column; the model trains (the column is a constant) and predicts the same whatever the weather says."""
    from services.ml_engine.features import FEATURES, WEATHER_FEATURES

    rng = np.random.default_rng(3)
    n = 2_000
    df = pd.DataFrame({c: rng.random(n) for c in FEATURES})
    df["site_code"] = rng.integers(0, 3, n).astype(float)
    df[WEATHER_FEATURES] = np.nan
    df["target"] = df["hour"] * 2 + rng.normal(0, 0.1, n)
    df["scale"] = 1.0
    model = ExpectedConsumptionModel(params={"max_iter": 20}).fit(df)
    warm = df.head(50).assign(**{c: 25.0 for c in WEATHER_FEATURES})
    assert np.allclose(model.predict(df.head(50)), model.predict(warm))
    assert np.corrcoef(model.predict(df), df["target"])[0, 1] > 0.9

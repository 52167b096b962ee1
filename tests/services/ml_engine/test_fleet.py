"""The hybrid of #17: the site model for the sites it was trained on, the fleet model for any other site (no
retrain, no cap), each site's own station weather, and per-row answers (basis, weather, reason)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from services.ml_engine import training
from services.ml_engine.bundle import INPUT_COLUMNS, BaselineBundle, model_inputs
from services.ml_engine.calibration import calibrate
from services.ml_engine.features import SiteWeather, history_features
from services.ml_engine.fleet import MIN_HISTORY_DAYS, recent_scale
from services.ml_engine.training import Window, train_bundle
from tests.ml_fixtures import DATA, WINDOW

pytestmark = pytest.mark.unit
W = Window(*(pd.Timestamp(WINDOW[k], tz="UTC") for k in ("train_start", "holdout_start", "holdout_end")))


def _area() -> dict[str, float]:
    meta = pd.read_csv(DATA / "building_metadata.csv")
    return dict(zip(meta["building_id"], meta["gross_internal_area_m2"].astype(float), strict=True))


@pytest.fixture(scope="module")
def hybrid(slice_series):  # type: ignore[no-untyped-def]
    """Trained on b2 and b33 only (b0 is a new site to it), 30 trees."""
    series, weather = slice_series
    train = {t: s[s["site"] != "b0"] for t, s in series.items()}
    bundle = train_bundle(train, weather, _area(), W, params={"max_iter": 30, "max_leaf_nodes": 31})
    return bundle, series, weather


def _inputs(series, weather, activity_type="electricity"):  # type: ignore[no-untyped-def]
    long = series[activity_type]
    df = model_inputs(long[long["timestamp"] < W.holdout_end], activity_type, weather)
    return df[(df["timestamp"] >= W.holdout_start) & df["value"].notna()].reset_index(drop=True)


def test_known_sites_take_the_site_model_new_sites_the_fleet_model_in_one_batch(hybrid):
    bundle, series, weather = hybrid
    rows = _inputs(series, weather)
    detail = bundle.predict_detail(rows[INPUT_COLUMNS])
    basis = detail["basis"].groupby(rows["site"]).unique().map(list).to_dict()
    assert basis == {"b0": ["fleet"], "b2": ["site"], "b33": ["site"]}
    assert detail["expected"].notna().all() and (detail["weather"] == "hourly").all()
    assert (detail["lower"] <= detail["expected"]).all() and (detail["expected"] <= detail["upper"]).all()
    # the fleet model on a building it never saw beats the week-ago naive on this holdout
    new = (rows["site"] == "b0").to_numpy()
    err = np.abs(rows["value"][new] - detail["expected"][new]).mean()
    naive = np.abs(rows["value"][new] - rows["lag_168h"][new]).mean()
    assert err < naive, (err, naive)


def test_known_site_predictions_are_the_site_model_s_whether_or_not_a_fleet_model_is_packed(hybrid, slice_series):
    bundle, series, weather = hybrid
    train = {t: s[s["site"] != "b0"] for t, s in series.items()}
    alone = train_bundle(train, weather, _area(), W, params={"max_iter": 30, "max_leaf_nodes": 31}, fleet=False)
    rows = _inputs(series, weather)
    rows = rows[rows["site"] != "b0"][INPUT_COLUMNS]
    np.testing.assert_array_equal(bundle.predict_array(rows), alone.predict_array(rows))
    assert not alone.fleet and set(bundle.fleet) == {"electricity", "natural_gas"}


def test_a_row_without_enough_history_gets_a_reason_not_an_error_for_the_batch(hybrid):
    bundle, _, _ = hybrid
    frame = pd.DataFrame({"site": ["b2", "brand-new", "brand-new"], "timestamp": ["2019-04-10T09:00:00Z"] * 3,
                          "recent_scale": [np.nan, np.nan, 40.0], "history_days": [np.nan, 3, 9]})
    detail = bundle.predict_detail(frame)
    assert detail["basis"].tolist() == ["site", "none", "fleet"]
    assert np.isnan(detail["expected"][1]) and detail["expected"][2] > 0
    assert detail["reason"][1] == f"needs {MIN_HISTORY_DAYS} days with readings in the 28 days before the hour's " \
                                  "day, has 3"
    assert detail["reason"][0] == detail["reason"][2] == ""


def test_beyond_the_category_cap_the_largest_sites_keep_the_site_model_and_the_rest_the_fleet(
        slice_series, monkeypatch):  # type: ignore[no-untyped-def]
    series, weather = slice_series
    monkeypatch.setattr(training, "MAX_SITE_CODES", 2)
    elec = {"electricity": series["electricity"]}
    bundle = train_bundle(elec, weather, _area(), W, params={"max_iter": 10})
    train = elec["electricity"]
    means = train[(train["timestamp"] >= W.train_start) & (train["timestamp"] < W.holdout_start)].groupby("site")[
        "value"].mean()
    assert bundle.sites()["electricity"] == sorted(means.nlargest(2).index)
    assert bundle.fleet["electricity"].sites == 3  # the fleet model is trained on every site
    rows = _inputs(series, weather)
    detail = bundle.predict_detail(rows[INPUT_COLUMNS])
    smallest = means.idxmin()
    assert set(detail["basis"][rows["site"] == smallest]) == {"fleet"}
    assert detail["expected"].notna().all()
    sampled = train_bundle(elec, weather, _area(), W, params={"max_iter": 10}, fleet_max_sites=2)
    assert sampled.fleet["electricity"].sites == 2 and sampled.sites() == bundle.sites()
    assert sampled.predict_detail(rows[INPUT_COLUMNS])["expected"].notna().all()


def test_each_site_trains_and_predicts_on_its_own_station_and_without_one_says_none(slice_series):
    series, weather = slice_series
    cold = weather.assign(air_temperature_degC=weather["air_temperature_degC"] - 15.0)
    sw = SiteWeather({"bedford": weather, "cold": cold}, {"b0": "bedford", "b2": "cold"}, None)
    bundle = train_bundle({"natural_gas": series["natural_gas"]}, sw, _area(), W, params={"max_iter": 20})
    assert set(bundle.weather) == {"bedford", "cold"} and bundle.site_station == {"b0": "bedford", "b2": "cold"}
    rows = model_inputs(series["natural_gas"], "natural_gas", sw)
    at = rows.set_index(["site", "timestamp"])
    ts = pd.Timestamp("2019-03-01T12:00:00Z")
    assert at.loc[("b2", ts), "temp_c"] == pytest.approx(at.loc[("b0", ts), "temp_c"] - 15.0)
    assert np.isnan(at.loc[("b33", ts), "temp_c"])  # b33 names no station
    hours = pd.date_range(ts, periods=48, freq="h")
    frame = pd.DataFrame({"site": np.repeat(["b0", "b2", "b33"], 48), "activity_type": "natural_gas",
                          "timestamp": np.tile(hours, 3)})
    detail = bundle.predict_detail(frame)
    assert detail["weather"].tolist() == ["hourly"] * 96 + ["none"] * 48
    assert detail["expected"].notna().all()
    # a station named in the request wins over the one packed for the site
    named = bundle.predict_detail(frame.assign(weather_station="cold"))
    assert (named["weather"] == "hourly").all()
    assert not np.allclose(named["expected"][:48], detail["expected"][:48])
    np.testing.assert_array_equal(named["expected"][48:96], detail["expected"][48:96])


def test_recent_scale_needs_seven_days_and_floors_gas(slice_series):
    series, _ = slice_series
    long = series["natural_gas"]
    long = long[(long["site"] == "b0") & (long["timestamp"] >= "2019-02-01") & (long["timestamp"] < "2019-03-15")]
    sc = recent_scale(long, "natural_gas").set_index("timestamp")
    assert np.isnan(sc.loc[pd.Timestamp("2019-02-07T23:00:00Z"), "recent_scale"])  # 6 days
    assert sc.loc[pd.Timestamp("2019-02-08T00:00:00Z"), "recent_scale"] > 0  # 7 days
    day = pd.Timestamp("2019-03-10", tz="UTC")
    got = sc.loc[day + pd.Timedelta("5h")]
    window = long[(long["timestamp"] >= day - pd.Timedelta(days=28)) & (long["timestamp"] < day)]
    daily = window.groupby(window["timestamp"].dt.floor("D"))["value"].mean()
    assert got["history_days"] == len(daily)
    assert got["recent_scale"] == pytest.approx(max(daily.mean(), 0.25 * daily.max()))
    assert sc.loc[day + pd.Timedelta("5h"), "recent_scale"] == got["recent_scale"]


def test_hours_after_the_last_reading_get_history_features():
    ts = pd.date_range("2019-03-01", periods=24 * 10, freq="h", tz="UTC")
    long = pd.DataFrame({"site": "x", "timestamp": ts, "value": np.arange(len(ts), dtype=float)})
    ahead = pd.DataFrame({"site": "x", "timestamp": [ts[-1] + pd.Timedelta("25h")], "value": [np.nan]})
    hist = history_features(pd.concat([long, ahead]), pd.Series({"x": 1.0})).set_index("timestamp")
    assert hist.loc[ahead["timestamp"][0], "lag_48h"] == long["value"].iloc[-24]


def test_a_new_site_is_calibrated_from_its_recent_residuals_without_retraining(hybrid):
    bundle, series, weather = hybrid
    long = series["electricity"]
    b0 = long[(long["site"] == "b0") & (long["timestamp"] >= "2019-02-20") & (long["timestamp"] < W.holdout_end)]
    rows = model_inputs(b0, "electricity", weather)
    cal = calibrate(bundle, "electricity", "b0", rows, W.holdout_start)
    assert cal is not None and cal.source == "recent" and cal.hours >= 168
    assert 0.5 <= cal.factor <= 2.0 and cal.lo < 0 < cal.hi
    # doubled readings: the level factor follows the site without a retrain
    doubled = calibrate(bundle, "electricity", "b0", rows.assign(value=rows["value"] * 1.3), W.holdout_start)
    assert doubled is not None and doubled.factor > cal.factor
    target = rows[rows["timestamp"] >= W.holdout_start].head(48)
    plain = bundle.predict_rows(target[INPUT_COLUMNS], blend=False)
    calibrated = bundle.predict_rows(target[INPUT_COLUMNS], {("electricity", "b0"): doubled}, blend=False)
    np.testing.assert_allclose(calibrated.values[:, 0], plain.values[:, 0] * doubled.factor)
    # served: the calibrated fleet blended with week-ago naive as fleet.BLEND says (0.75 from 14 days on)
    served = bundle.predict_rows(target[INPUT_COLUMNS], {("electricity", "b0"): doubled}).values[:, 0]
    naive = target["lag_168h"].to_numpy()
    np.testing.assert_allclose(served, 0.75 * calibrated.values[:, 0] + 0.25 * naive)


def test_a_bundle_of_format_1_loads_as_a_hybrid_without_a_fleet(hybrid):
    """A champion registered before #17 (one weather table, no fleet model) still predicts its sites, and
    answers a new site's rows with a reason (the promotion gate loads it next to a new model)."""
    import pickle

    bundle, series, weather = hybrid
    state = {k: v for k, v in bundle.__getstate__().items()
             if k not in ("fleet", "site_station", "default_station", "floor_area")}
    state["weather"] = bundle.weather["default"]
    old = BaselineBundle.__new__(BaselineBundle)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    rows = _inputs(series, weather)
    detail = old.predict_detail(rows[INPUT_COLUMNS])
    known = (rows["site"] != "b0").to_numpy()
    np.testing.assert_array_equal(detail["expected"][known], bundle.predict_detail(rows[INPUT_COLUMNS])["expected"][known])
    assert set(detail["basis"][~known]) == {"none"} and detail["reason"][~known].str.contains("no fleet model").all()

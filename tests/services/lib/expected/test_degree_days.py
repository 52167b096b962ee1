"""The degree-day model of monthly bills (services/lib/expected/degree_days.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from services.lib.expected.degree_days import MIN_BILLS, NotEnoughBills, fit, period_degree_days

pytestmark = pytest.mark.unit

HOURS = pd.date_range("2019-01-01", "2021-01-01", freq="h", inclusive="left")


def temperature(seed: int = 0) -> pd.Series:
    """A UK-like year: 10 C mean, +-8 C seasonal swing, +-3 C daily swing, noise."""
    rng = np.random.default_rng(seed)
    doy = HOURS.day_of_year.to_numpy()
    hour = HOURS.hour.to_numpy()
    t = 10 - 8 * np.cos(2 * np.pi * (doy - 15) / 365) + 3 * np.sin(2 * np.pi * (hour - 9) / 24)
    return pd.Series(t + rng.normal(0, 1.5, len(HOURS)), index=HOURS)


def bills(temp: pd.Series, per_day, start="2019-01-03", n=14, noise=0.01, seed=1) -> pd.DataFrame:
    """Bills of ~30 days whose true use per day is ``per_day(hdd_per_day(15.5), cdd_per_day(18))``."""
    rng = np.random.default_rng(seed)
    reads = pd.Timestamp(start) + pd.to_timedelta(np.concatenate([[0], np.cumsum(rng.integers(27, 35, n))]), "D")
    starts, ends = pd.Series(reads[:-1]), pd.Series(reads[1:])
    days = ((ends - starts) / pd.Timedelta(days=1)).to_numpy()
    hdd, _ = period_degree_days(temp, starts, ends, np.array([15.5]), heating=True)
    cdd, _ = period_degree_days(temp, starts, ends, np.array([18.0]), heating=False)
    true = per_day(hdd[:, 0] / days, cdd[:, 0] / days)
    # independent daily noise of ``noise`` x the mean daily use (the model's assumption)
    kwh = true * days + rng.normal(0, 1, len(days)) * noise * true.mean() * np.sqrt(days)
    return pd.DataFrame({"period_start": starts, "period_end": ends, "kwh": kwh})


def test_degree_days_of_a_period_are_exact() -> None:
    temp = pd.Series(10.0, index=HOURS)
    starts = pd.Series([pd.Timestamp("2019-03-01"), pd.Timestamp("2019-03-01 12:00")])
    ends = pd.Series([pd.Timestamp("2019-03-31"), pd.Timestamp("2019-03-02")])
    dd, coverage = period_degree_days(temp, starts, ends, np.array([15.5, 8.0]), heating=True)
    assert dd[0, 0] == pytest.approx(5.5 * 30)
    assert dd[1, 0] == pytest.approx(5.5 * 0.5)  # half a day
    assert dd[:, 1] == pytest.approx([0.0, 0.0])  # above the base: no heating
    assert coverage == pytest.approx([1.0, 1.0])


def test_missing_weather_hours_are_scaled_up_and_reported() -> None:
    temp = pd.Series(10.0, index=HOURS).drop(HOURS[(HOURS >= "2019-03-10") & (HOURS < "2019-03-13")])
    dd, coverage = period_degree_days(temp, pd.Series([pd.Timestamp("2019-03-01")]),
                                      pd.Series([pd.Timestamp("2019-03-31")]), np.array([15.5]), heating=True)
    assert coverage[0] == pytest.approx(27 / 30)
    assert dd[0, 0] == pytest.approx(5.5 * 30)


def test_heating_meter_gets_a_three_parameter_heating_model() -> None:
    temp = temperature()
    b = bills(temp, lambda h, c: 200 + 40 * h)
    model = fit(b, temp)
    assert model.kind == "3PH"
    assert model.heating_base == pytest.approx(15.5, abs=1.0)
    assert model.coef[0] == pytest.approx(200, rel=0.15)
    assert model.coef[1] == pytest.approx(40, rel=0.1)
    assert model.meets_g14 and model.cvrmse < 0.03


def test_flat_meter_gets_the_mean_and_cooling_meter_a_cooling_model() -> None:
    temp = temperature()
    assert fit(bills(temp, lambda h, c: 500 + 0 * h, noise=0.03), temp).kind == "2P"
    cooling = fit(bills(temp + 6, lambda h, c: 100 + 30 * c), temp + 6)
    assert cooling.kind in ("3PC", "5P") and cooling.cooling_base is not None


def test_prediction_interval_holds_new_bills_and_scales_with_days() -> None:
    temp = temperature()
    history = bills(temp, lambda h, c: 200 + 40 * h, n=16, noise=0.03)
    base, later = history.iloc[:12], history.iloc[12:]
    model = fit(base, temp)
    pred = model.predict(later, temp, level=0.99)
    assert ((later["kwh"] >= pred["lower"]) & (later["kwh"] <= pred["upper"])).all()
    assert (pred["weather"] == 1.0).all()
    one_day = pd.DataFrame({"period_start": [pd.Timestamp("2020-02-01")], "period_end": [pd.Timestamp("2020-02-02")]})
    two_days = pd.DataFrame({"period_start": [pd.Timestamp("2020-02-01")], "period_end": [pd.Timestamp("2020-02-03")]})
    assert model.predict(two_days, temp)["expected"].iloc[0] > 1.5 * model.predict(one_day, temp)["expected"].iloc[0]


def test_a_bill_without_weather_is_predicted_from_the_baseline_mean_and_says_so() -> None:
    temp = temperature()
    model = fit(bills(temp, lambda h, c: 200 + 40 * h), temp)
    beyond = pd.DataFrame({"period_start": [pd.Timestamp("2022-01-01")], "period_end": [pd.Timestamp("2022-02-01")]})
    pred = model.predict(beyond, temp)
    assert pred["weather"].iloc[0] == 0.0
    assert np.isfinite(pred["expected"].iloc[0]) and pred["expected"].iloc[0] > 0


def test_too_few_bills_are_refused_with_a_reason() -> None:
    temp = temperature()
    with pytest.raises(NotEnoughBills, match=f"at least {MIN_BILLS}"):
        fit(bills(temp, lambda h, c: 200 + 40 * h, n=MIN_BILLS - 1), temp)
    broken = bills(temp, lambda h, c: 200 + 40 * h)
    broken.loc[:8, "kwh"] = np.nan
    with pytest.raises(NotEnoughBills):
        fit(broken, temp)


def test_rolling_expected_judges_each_bill_by_the_year_before_it() -> None:
    from services.lib.expected.degree_days import rolling_expected

    temp = temperature()
    history = bills(temp, lambda h, c: 200 + 40 * h, n=20, noise=0.005)
    history.loc[17, "kwh"] *= 1.5  # a fault: judged by the bills before it, never part of its own baseline
    out = rolling_expected(history, temp, level=0.99)
    assert out.loc[:5, "expected"].isna().all()  # fewer than 6 earlier bills
    assert out.loc[:5, "reason"].str.contains("no baseline").all()
    judged = out.loc[6:]
    assert judged["expected"].notna().all() and judged["model"].isin(["3PH", "5P"]).all()
    above = history["kwh"] > out["upper"]
    assert above.tolist() == [i == 17 for i in history.index]
    # the bill after the fault has the fault in its baseline and is still judged within its interval
    assert not above.loc[18]

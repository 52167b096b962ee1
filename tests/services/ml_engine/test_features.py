"""Features of the baseline: calendar, weather terms, and no same-day leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from services.ml_engine.features import FEATURES, build_features, calendar_features, check_no_same_day_leakage

pytestmark = pytest.mark.unit


def test_calendar_knows_english_bank_holidays_and_local_time() -> None:
    ts = pd.Series(pd.to_datetime(["2019-12-25T12:00:00Z", "2019-05-27T12:00:00Z", "2019-05-28T12:00:00Z",
                                   "2019-06-01T23:30:00Z"], utc=True))
    cal = calendar_features(ts)
    assert cal["is_bank_holiday"].tolist() == [1, 1, 0, 0]  # Christmas, spring bank holiday, a Tuesday
    assert cal["day_type"].tolist()[:3] == [3, 3, 0]
    # 23:30 UTC on 1 June is 00:30 BST on Sunday 2 June
    assert cal["hour"].iloc[3] == 0 and cal["dow"].iloc[3] == 6


def test_features_of_a_day_never_see_that_days_readings(slice_2019) -> None:
    s = slice_2019
    # perturbing every reading of 12 March changes the next day's history features, never its own
    check_no_same_day_leakage(s["long"], s["weather"], s["meta"], s["scale"], s["codes"], day="2019-03-12")


def test_feature_rows_cover_every_reading_with_the_target_normalised(slice_2019) -> None:
    s = slice_2019
    df = build_features(s["long"], s["weather"], s["meta"], s["scale"], s["codes"])
    assert len(df) == len(s["long"]) and set(FEATURES) <= set(df.columns)
    ok = df["value"].notna()
    assert np.allclose(df.loc[ok, "target"] * df.loc[ok, "scale"], df.loc[ok, "value"])
    # one week in, the week-ago lag is the reading 168 hours earlier divided by the scale
    row = df[(df["site"] == "b0") & (df["timestamp"] == pd.Timestamp("2019-02-10T12:00:00Z"))].iloc[0]
    before = df[(df["site"] == "b0") & (df["timestamp"] == pd.Timestamp("2019-02-03T12:00:00Z"))].iloc[0]
    assert row["lag_168h"] == pytest.approx(before["value"] / s["scale"]["b0"])
    assert row["hdd"] == pytest.approx(max(15.5 - row["temp_c"], 0.0))

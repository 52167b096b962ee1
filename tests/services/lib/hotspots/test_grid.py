"""The hourly grid of the detectors (issue #17): sub-hourly meters are summed into their hour and found like
hourly ones; a replayed reading leaves its series out with a warning instead of failing the whole scan."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from services.lib.hotspots import detect

pytestmark = pytest.mark.unit


def metered(parts: int, hours: int = 24 * 10, expected: float = 100.0, width: float = 5.0, meter: str = "m1",
            fault: tuple[int, int, float] | None = None) -> pd.DataFrame:
    """A meter reading ``parts`` times an hour (2: half-hourly, 4: every 15 minutes), each part with its share
    of the hour's expected value and interval; ``fault`` = (first hour, end hour, factor) on the actuals."""
    n = hours * parts
    t = pd.date_range("2020-01-01", periods=n, freq=pd.Timedelta(minutes=60 // parts), tz="UTC")
    hour = np.arange(n) // parts
    actual = (expected + 0.01 * expected * np.sin(hour)) / parts
    if fault:
        actual = np.where((hour >= fault[0]) & (hour < fault[1]), actual * fault[2], actual)
    return pd.DataFrame({"site": "s1", "meter": meter, "activity_type": "electricity", "timestamp": t,
                         "actual": actual, "expected": expected / parts, "lower": (expected - width) / parts,
                         "upper": (expected + width) / parts, "model_version": "v1"})


@pytest.mark.parametrize("parts", [2, 4])
def test_a_sub_hourly_meter_is_judged_per_hour(parts):
    assert detect(metered(parts)) == []
    frame = metered(parts, fault=(96, 126, 1.5))
    (h,) = detect(frame)
    assert h.kind == "above_expected" and h.meter == "m1"
    assert h.period_start == pd.Timestamp("2020-01-05", tz="UTC")  # hour 96
    assert h.period_end == pd.Timestamp("2020-01-06T06:00", tz="UTC")  # hour 126
    assert h.evidence["hours"] == 30
    inside = frame[(frame["timestamp"] >= h.period_start) & (frame["timestamp"] < h.period_end)]
    assert h.excess_kwh == pytest.approx((inside["actual"] - inside["expected"]).sum(), abs=0.01)
    # the same meter read hourly gives the same answer
    hourly = metered(1, fault=(96, 126, 1.5))
    assert detect(hourly)[0].excess_kwh == pytest.approx(h.excess_kwh, abs=0.01)


def test_an_hour_with_a_part_lacking_its_expected_value_has_none():
    frame = metered(2, fault=(96, 126, 1.5))
    frame.loc[frame["timestamp"] < pd.Timestamp("2020-01-05T12:00", tz="UTC"), "expected"] = np.nan
    frame.loc[frame.index[::2], "expected"] = np.nan  # every hour lacks one half's expected value
    assert detect(frame) == []


def test_a_replayed_reading_leaves_only_its_series_out(caplog):
    good = metered(2, meter="faulty", fault=(96, 126, 1.5))
    replayed = metered(2, meter="replayed", fault=(96, 126, 1.5))
    replayed = pd.concat([replayed, replayed.iloc[[10]]], ignore_index=True)
    with caplog.at_level(logging.WARNING, logger="services.lib.hotspots.grid"):
        found = detect(pd.concat([good, replayed], ignore_index=True))
    assert [(h.kind, h.meter) for h in found] == [("above_expected", "faulty")]
    assert "(s1, replayed, electricity) left out of the scan: two readings at 2020-01-01T05:00:00+00:00" in caplog.text

"""Issue #18, round 3: per-meter calibration of the reference rules and the reference's spike rule, on
synthetic meters (not the bench's windows or faults): the reference period's longest repeated-reading and
zero runs and its 4-week segment wander are stored with the model and raise that meter's thresholds; a spike
is judged against a robust local level with a per-meter tail; for a series with a reference, day-ahead
spikes are left to it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from services.lib.hotspots.config import Hotspot
from services.lib.hotspots.reference_model import ReferenceModel, _calendar, fit, longest_runs, predict
from services.lib.hotspots.reference_rules import ReferenceConfig, detect_reference, segment_calibration
from services.lib.hotspots.reference_scan import combine

pytestmark = pytest.mark.unit
OFF = {"all": 1e9, "off_hours": 1e9, "warm": 1e9}
ONLY_STUCK_ZERO = replace(ReferenceConfig(), z=OFF, spike_k=float("inf"), cusum_h=float("inf"))


def _profile(ts: pd.DatetimeIndex) -> np.ndarray:
    return np.where(_calendar(ts, "GB")[1], 40.0, 15.0)  # occupied weekday hours (bank holidays are Sundays)


def _meter(start: str, days: int, seed: int, noise: float = 0.05) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ts = pd.date_range(start, periods=days * 24, freq="h", tz="UTC")
    temp = 10 + 5 * np.sin(np.arange(len(ts)) * 2 * np.pi / 24)
    return ts, np.round(_profile(ts) * (1 + rng.normal(0, noise, len(ts))), 1), temp


def _frame(model: ReferenceModel, ts: pd.DatetimeIndex, actual: np.ndarray, temp: np.ndarray,
           calibrated: bool = True) -> pd.DataFrame:
    ref, spread = predict(model, ts, temp)
    frame = pd.DataFrame({"site": "m1", "activity_type": "electricity", "timestamp": ts, "actual": actual,
                          "reference": ref, "spread": spread, "temperature": temp})
    if calibrated:
        frame = frame.assign(ref_repeat_hours=model.repeat_hours, ref_zero_hours=model.zero_hours,
                             **{f"ref_z_{k}": v for k, v in model.segment_z.items()})
    return frame


def test_the_longest_runs_are_counted_on_the_hourly_grid() -> None:
    ts = pd.date_range("2021-01-04", periods=10, freq="h", tz="UTC")
    a = np.array([5, 5, 5, 1, 0, 0, np.nan, 0, 7, 7], float)
    assert longest_runs(ts, a, 4.0) == (3.0, 2.0)  # the missing hour breaks the zero run
    keep = np.r_[0:3, 4:10]  # hour 3 has no row: the repeat run ends there too
    assert longest_runs(ts[keep], a[keep], 4.0) == (3.0, 2.0)


def test_a_meter_that_repeats_its_reading_in_the_reference_period_is_held_to_its_own_normal() -> None:
    ts, a, temp = _meter("2021-01-04", 70, seed=1)
    coarse = a.copy()
    coarse[24 * 20:24 * 20 + 60] = 15.0  # this meter normally repeats a reading for 60 h (coarse register)
    steady = fit(ts, a, temp)
    noisy = fit(ts, coarse, temp)
    assert steady is not None and noisy is not None
    assert steady.repeat_hours < 10 and noisy.repeat_hours == 60
    again = ReferenceModel.from_dict(noisy.to_dict())
    assert again.repeat_hours == 60 and again.segment_z == noisy.segment_z
    sts, sa, stemp = _meter("2021-05-03", 21, seed=2)
    sa[24 * 9:24 * 9 + 72] = sa[24 * 9]  # stuck for 72 h
    cfg = replace(ONLY_STUCK_ZERO, stuck_hours=24, stuck_calib=1.5)
    assert [h.evidence["fault"] for h in detect_reference(_frame(steady, sts, sa, stemp), config=cfg)] == ["stuck"]
    assert detect_reference(_frame(noisy, sts, sa, stemp), config=cfg) == []  # 72 h < 1.5 x its 60 h
    found = detect_reference(_frame(noisy, sts, sa, stemp), config=replace(cfg, stuck_calib=0.0))
    assert [h.evidence["fault"] for h in found] == ["stuck"]  # without the calibration it alarms


def test_zero_readings_count_only_beyond_the_meters_own_zero_runs() -> None:
    ts, a, temp = _meter("2021-01-04", 70, seed=3)
    with_zeros = a.copy()
    with_zeros[24 * 30:24 * 30 + 40] = 0.0  # e.g. a plant switched off for 40 h in the reference period
    model = fit(ts, with_zeros, temp)
    assert model is not None and model.zero_hours == 40
    sts, sa, stemp = _meter("2021-05-03", 21, seed=4)
    sa[24 * 8:24 * 8 + 30] = 0.0
    cfg = replace(ONLY_STUCK_ZERO, zero_calib=1.5)
    assert detect_reference(_frame(model, sts, sa, stemp), config=cfg) == []
    found = detect_reference(_frame(model, sts, sa, stemp), config=replace(cfg, zero_calib=0.0))
    assert [h.evidence["fault"] for h in found] == ["zero_missing"]
    gap = _frame(model, sts, sa, stemp)
    gap = gap[(gap["timestamp"] < sts[24 * 8]) | (gap["timestamp"] >= sts[24 * 8 + 30])]  # rows missing
    assert [h.evidence["fault"] for h in detect_reference(gap, config=cfg)] == ["zero_missing"]  # always counts


def test_the_segment_rule_is_held_to_the_meters_own_wander() -> None:
    ts, a, temp = _meter("2021-01-04", 126, seed=5)
    rng = np.random.default_rng(6)
    weekly = np.repeat(1 + rng.normal(0, 0.12, 18), 7 * 24)  # this meter's level wanders week to week
    steady, wander = fit(ts, a, temp), fit(ts, a * weekly, temp)
    assert steady is not None and wander is not None
    assert wander.segment_z["all"] > 1.5 * steady.segment_z["all"]
    ref, _ = predict(steady, ts, temp)
    cal = segment_calibration(a, ref, temp, ts, False)
    assert set(cal) == {"all", "off_hours"} and cal["all"] == pytest.approx(steady.segment_z["all"])
    sts, sa, stemp = _meter("2021-06-07", 28, seed=7)
    sa[24 * 12:24 * 17] *= 1.25  # a five-day 25 % excess
    cfg = replace(ReferenceConfig(), z={"all": 5.0, "off_hours": 1e9, "warm": 1e9}, min_effect={
        "all": 0.15, "off_hours": 0.1, "warm": 0.1}, z_calib={"all": 1.0}, spike_k=float("inf"))
    hs = detect_reference(_frame(steady, sts, sa, stemp), config=cfg)
    assert [h.evidence["fault"] for h in hs] == ["above_expected"]  # found on the steady meter
    assert hs[0].evidence["threshold_z"] == pytest.approx(max(5.0, steady.segment_z["all"]), abs=0.01)
    big = replace(cfg, z_calib={"all": 1e6})
    assert detect_reference(_frame(wander, sts, sa, stemp), config=big) == []  # the calibration binds
    assert detect_reference(_frame(wander, sts, sa, stemp), config=replace(cfg, z_calib={})) != []


def test_a_spike_is_found_against_the_local_level_and_heavy_tails_raise_the_bar() -> None:
    ts, a, temp = _meter("2021-01-04", 70, seed=8)
    model = fit(ts, a, temp)
    assert model is not None
    sts, sa, stemp = _meter("2021-05-03", 21, seed=9)
    sa = sa * 1.3  # the whole window 30 % above the reference: the local level follows, no spike
    at = 24 * 10 + 11
    sa[at:at + 2] *= 1.8
    cfg = replace(ReferenceConfig(), z=OFF, spike_k=8.0, spike_tail_q=0.995, spike_tail_factor=2.0)
    hs = detect_reference(_frame(model, sts, sa, stemp), config=cfg)
    assert [(h.kind, h.period_start) for h in hs] == [("spike", sts[at].to_pydatetime())]
    assert hs[0].period_end == sts[at + 2].to_pydatetime() and hs[0].evidence["peak_z"] >= 8
    assert detect_reference(_frame(model, sts, sa, stemp), config=replace(cfg, spike_k=float("inf"))) == []
    rng = np.random.default_rng(10)
    tails = sa.copy()
    hit = rng.choice(len(sa), 40, replace=False)
    tails[hit] *= 1.8  # a meter with many ordinary 80 % excursions: its own tail lifts the threshold
    assert detect_reference(_frame(model, sts, tails, stemp), config=cfg) == []
    loose = replace(cfg, spike_tail_factor=0.0)
    assert len(detect_reference(_frame(model, sts, tails, stemp), config=loose)) >= 10


def test_day_ahead_spikes_of_a_series_with_a_reference_are_left_to_it() -> None:
    t = datetime(2021, 5, 3, 10, tzinfo=UTC)
    spike = Hotspot("spike", "s1", "", "electricity", t, t.replace(hour=11), False, "high", 9.0, None, "v1", {})
    other = Hotspot("spike", "s2", "", "electricity", t, t.replace(hour=11), False, "high", 9.0, None, "v1", {})
    out = combine([spike, other], [], {("s1", "", "electricity")})
    assert [h.site for h in out] == ["s2"]  # s1 has a reference: its spikes are the reference's rule's

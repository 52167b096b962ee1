"""Hotspot detection on real residuals (three Cambridge buildings, a small production baseline) with faults
injected into the readings before prediction, plus hand-made frames for pareto, severity and validation."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from services.lib.hotspots import DetectionConfig, Hotspot, detect, pareto
from tests.services.lib.hotspots.conftest import HOLDOUT_END

pytestmark = pytest.mark.unit
AS_OF = pd.Timestamp(HOLDOUT_END, tz="UTC")


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def where(series: dict[str, pd.DataFrame], activity_type: str, site: str, start: str, end: str | None = None) -> pd.Index:
    long = series[activity_type]
    m = (long["site"] == site) & (long["timestamp"] >= ts(start))
    if end is not None:
        m &= long["timestamp"] < ts(end)
    return long.index[m]


def scale(activity_type: str, site: str, start: str, end: str | None, factor: float):  # type: ignore[no-untyped-def]
    def inject(series: dict[str, pd.DataFrame]) -> None:
        series[activity_type].loc[where(series, activity_type, site, start, end), "value"] *= factor
    return inject


def spike(activity_type: str, site: str, at: str, times_mean: float = 3.0):  # type: ignore[no-untyped-def]
    def inject(series: dict[str, pd.DataFrame]) -> None:
        long = series[activity_type]
        mean = long.loc[long["site"] == site, "value"].mean()
        long.loc[where(series, activity_type, site, at, str(ts(at) + pd.Timedelta("1h"))), "value"] += times_mean * mean
    return inject


def both(*injects):  # type: ignore[no-untyped-def]
    def inject(series: dict[str, pd.DataFrame]) -> None:
        for f in injects:
            f(series)
    return inject


def of(found: list[Hotspot], kind: str, site: str | None = None, activity_type: str | None = None) -> list[Hotspot]:
    return [h for h in found if h.kind == kind and site in (None, h.site) and activity_type in (None, h.activity_type)]


# --------------------------------------------------------------------------- real residuals
def test_clean_stretch_has_no_hotspots(make_residuals) -> None:  # type: ignore[no-untyped-def]
    clean = make_residuals()
    assert clean["site"].nunique() == 3 and set(clean["activity_type"]) == {"electricity", "natural_gas"}
    assert len(clean) > 7000
    assert detect(clean, as_of=AS_OF) == []


def test_sustained_excess_in_the_middle(make_residuals) -> None:  # type: ignore[no-untyped-def]
    found = detect(make_residuals(scale("electricity", "b0", "2020-02-10", "2020-02-12", 1.5)), as_of=AS_OF)
    assert {(h.kind, h.site, h.activity_type) for h in found} == {("above_expected", "b0", "electricity")}
    (h,) = found
    assert abs(h.period_start - ts("2020-02-10")) <= pd.Timedelta("12h")
    assert ts("2020-02-11T12:00") <= h.period_end <= ts("2020-02-12T06:00")
    assert not h.ongoing
    assert h.meter == "main-electricity" and h.model_version == "test-1"
    assert h.excess_kwh > 0 and h.excess_kg is not None and h.excess_kg > 0
    ev = h.evidence
    assert ev["actual_kwh"] - ev["expected_kwh"] == pytest.approx(h.excess_kwh, abs=0.01)
    assert ev["excess_ratio"] >= DetectionConfig().value("excess_ratio", "electricity")
    assert ev["hours_above_upper"] >= 8 and ev["hours"] == (h.period_end - h.period_start) / pd.Timedelta("1h")


def test_sustained_excess_at_the_end_is_ongoing(make_residuals) -> None:  # type: ignore[no-untyped-def]
    # the last day: the day-ahead model has not seen it yet (a longer step is caught up by the lags)
    found = detect(make_residuals(scale("electricity", "b33", "2020-03-01", None, 1.5)), as_of=AS_OF)
    episodes = of(found, "above_expected", "b33", "electricity")
    assert len(episodes) == 1
    assert episodes[0].ongoing and episodes[0].period_end == AS_OF
    assert abs(episodes[0].period_start - ts("2020-03-01")) <= pd.Timedelta("12h")
    # the same scan judged before the fault finds nothing
    early = make_residuals(scale("electricity", "b33", "2020-03-01", None, 1.5))
    assert detect(early[early["timestamp"] < ts("2020-03-01")], as_of=ts("2020-03-01")) == []


def test_gas_excess_found_with_its_own_threshold(make_residuals) -> None:  # type: ignore[no-untyped-def]
    found = detect(make_residuals(scale("natural_gas", "b2", "2020-02-17", "2020-02-20", 2.0)), as_of=AS_OF)
    episodes = of(found, "above_expected", "b2", "natural_gas")
    assert len(episodes) == 1 and not episodes[0].ongoing
    assert episodes[0].period_start < ts("2020-02-20") and episodes[0].period_end > ts("2020-02-17")
    assert episodes[0].excess_kg is not None and episodes[0].excess_kg > 0


def test_spike(make_residuals) -> None:  # type: ignore[no-untyped-def]
    found = detect(make_residuals(spike("electricity", "b2", "2020-02-05T13:00")), as_of=AS_OF)
    assert [(h.kind, h.site, h.activity_type) for h in found] == [("spike", "b2", "electricity")]
    (h,) = found
    assert h.period_start == ts("2020-02-05T13:00") and h.period_end == ts("2020-02-05T14:00")
    assert not h.ongoing and h.excess_kwh > 0 and h.evidence["peak_interval_multiple"] >= 4


def test_spike_inside_an_episode_is_reported_once(make_residuals) -> None:  # type: ignore[no-untyped-def]
    inject = both(scale("electricity", "b0", "2020-02-10", "2020-02-12", 1.5),
                  spike("electricity", "b0", "2020-02-11T12:00", times_mean=6.0))
    found = detect(make_residuals(inject), as_of=AS_OF)
    assert [h.kind for h in found] == ["above_expected"]
    # the same spike alone is reported as a spike: the episode is what hides it
    alone = detect(make_residuals(spike("electricity", "b0", "2020-02-11T12:00", times_mean=6.0)), as_of=AS_OF)
    assert [h.kind for h in alone] == ["spike"]


def test_stuck_meter(make_residuals) -> None:  # type: ignore[no-untyped-def]
    def stuck(series: dict[str, pd.DataFrame]) -> None:
        idx = where(series, "electricity", "b2", "2020-02-18T06:00", "2020-02-19T06:00")
        series["electricity"].loc[idx, "value"] = series["electricity"].loc[idx[0], "value"]

    found = detect(make_residuals(stuck), as_of=AS_OF)
    stuck_found = of(found, "stuck_meter")
    assert [(h.site, h.activity_type) for h in stuck_found] == [("b2", "electricity")]
    (h,) = stuck_found
    assert h.period_start == ts("2020-02-18T06:00") and h.period_end == ts("2020-02-19T06:00")
    assert h.evidence["run_length"] == 24 and h.evidence["stuck_value_kwh"] > 2 and not h.ongoing


def test_gas_off_is_not_stuck(make_residuals) -> None:  # type: ignore[no-untyped-def]
    def off(series: dict[str, pd.DataFrame]) -> None:
        series["natural_gas"].loc[where(series, "natural_gas", "b33", "2020-02-22", "2020-02-24"), "value"] = 0.0

    assert of(detect(make_residuals(off), as_of=AS_OF), "stuck_meter") == []


def test_silent_meter_in_the_middle_and_ongoing(make_residuals) -> None:  # type: ignore[no-untyped-def]
    def silence(series: dict[str, pd.DataFrame]) -> None:
        series["natural_gas"].loc[where(series, "natural_gas", "b33", "2020-02-03T08:00", "2020-02-03T20:00"),
                                  "value"] = np.nan
        series["electricity"].loc[where(series, "electricity", "b0", "2020-03-01T14:00"), "value"] = np.nan

    found = of(detect(make_residuals(silence), as_of=AS_OF), "silent_meter")
    got = {(h.site, h.activity_type): h for h in found}
    assert set(got) == {("b33", "natural_gas"), ("b0", "electricity")}
    mid, end = got["b33", "natural_gas"], got["b0", "electricity"]
    assert (mid.period_start, mid.period_end, mid.ongoing) == (ts("2020-02-03T08:00"), ts("2020-02-03T20:00"), False)
    assert mid.evidence["hours"] == 12 and mid.excess_kwh == 0
    assert (end.period_start, end.period_end, end.ongoing) == (ts("2020-03-01T14:00"), AS_OF, True)
    assert end.evidence["next_reading_at"] is None
    # a stricter silence threshold is honoured
    cfg = replace(DetectionConfig(), silent_hours={"*": 13})
    assert of(detect(make_residuals(silence), as_of=AS_OF, config=cfg), "silent_meter") == []


def test_level_shift(make_residuals) -> None:  # type: ignore[no-untyped-def]
    found = detect(make_residuals(scale("electricity", "b0", "2020-02-03", None, 1.3)), as_of=AS_OF)
    shifts = of(found, "level_shift")
    assert [(h.site, h.activity_type) for h in shifts] == [("b0", "electricity")]
    (h,) = shifts
    assert abs(h.period_start - ts("2020-02-03")) <= pd.Timedelta(days=2)
    assert h.period_end == AS_OF and h.ongoing and h.excess_kwh > 0
    assert h.evidence["actual_step_ratio"] == pytest.approx(0.3, abs=0.1)
    assert h.evidence["t_stat"] >= DetectionConfig().shift_min_t


# --------------------------------------------------------------------------- hand-made frames
def flat(hours: int = 24 * 10, expected: float = 100.0, width: float = 5.0, start: str = "2020-01-01") -> pd.DataFrame:
    t = pd.date_range(start, periods=hours, freq="h", tz="UTC")
    wiggle = 0.01 * expected * np.sin(np.arange(hours))  # a live meter never repeats itself exactly
    return pd.DataFrame({"site": "s1", "meter": "m1", "activity_type": "electricity", "timestamp": t,
                         "actual": expected + wiggle, "expected": expected, "lower": expected - width,
                         "upper": expected + width, "model_version": "v1"})


@pytest.mark.parametrize(("factor", "severity"), [(1.22, "low"), (1.3, "medium"), (1.6, "high"), (2.2, "critical")])
def test_severity_bands(factor: float, severity: str) -> None:
    frame = flat()
    frame.loc[96:125, "actual"] *= factor  # 30 hours in the middle
    found = detect(frame)
    assert [(h.kind, h.severity) for h in found] == [("above_expected", severity)]
    assert found[0].period_start == frame.loc[96, "timestamp"] and found[0].period_end == frame.loc[126, "timestamp"]
    expected_excess = (frame["actual"] - frame["expected"]).iloc[96:126].sum()
    assert found[0].excess_kwh == pytest.approx(expected_excess, abs=0.01)
    assert expected_excess == pytest.approx(30 * 100 * (factor - 1), rel=0.02)
    assert found[0].excess_kg is None  # no kg_per_kwh column


def test_as_of_default_and_ongoing() -> None:
    frame = flat()
    frame.loc[len(frame) - 30:, "actual"] *= 1.5
    (h,) = detect(frame)
    assert h.ongoing and h.period_end == frame["timestamp"].max() + pd.Timedelta("1h")
    # judged 12 hours later with no new reading: the episode has ended, the meter is silent
    episode, silence = detect(frame, as_of=frame["timestamp"].max() + pd.Timedelta("12h"))
    assert episode.kind == "above_expected" and not episode.ongoing and episode.period_start == h.period_start
    assert episode.period_end == h.period_end
    assert silence.kind == "silent_meter" and silence.ongoing and silence.evidence["hours"] == 11


def test_key_and_to_dict_are_stable_and_json() -> None:
    frame = flat()
    frame.loc[96:125, "actual"] *= 1.5
    frame["kg_per_kwh"] = 0.2
    (a,), (b,) = detect(frame), detect(frame.sample(frac=1.0, random_state=1))  # row order does not matter
    assert a == b and a.key() == b.key() == ("above_expected", "s1", "m1", "electricity", a.period_start)
    assert a.excess_kg == pytest.approx(0.2 * a.excess_kwh, abs=0.01)
    d = json.loads(json.dumps(a.to_dict()))
    assert d["period_start"] == "2020-01-05T00:00:00+00:00" and d["kind"] == "above_expected"
    assert d["evidence"]["hours"] == 30


def test_input_validation() -> None:
    frame = flat()
    with pytest.raises(ValueError, match="expected"):
        detect(frame.drop(columns=["expected"]))
    with pytest.raises(ValueError, match="timezone"):
        detect(frame.assign(timestamp=frame["timestamp"].dt.tz_localize(None)))
    # a replayed reading leaves its series out (tests/services/lib/hotspots/test_grid.py), never a ValueError
    assert detect(pd.concat([frame.assign(actual=frame["actual"] * 2), frame.head(1)])) == []
    assert detect(frame.iloc[:0]) == []
    assert detect(frame) == []
    # meter and model_version are optional
    assert detect(frame.drop(columns=["meter", "model_version"])) == []


def test_pareto_and_growth_hand_checked() -> None:
    current = pd.DataFrame({"site": ["a", "a", "b", "c", "d", "b"],
                            "category": ["scope2", "scope1", "scope2", "scope2", "scope1", "scope2"],
                            "kg": [500.0, 100.0, 150.0, 120.0, 80.0, 50.0]})  # b/scope2 = 200; total 1000
    previous = pd.DataFrame({"site": ["a", "a", "b", "c"], "category": ["scope2", "scope1", "scope2", "scope2"],
                             "kg": [450.0, 120.0, 100.0, 120.0]})
    start, end = ts("2020-02-01"), ts("2020-03-01")
    found = pareto(current, previous, period_start=start, period_end=end, top_growth=2)
    top = [(h.site, h.activity_type, h.evidence["share"]) for h in found if h.kind == "pareto"]
    # 500 (50 %) + 200 (70 %) + 120 (82 %) >= 80 %
    assert top == [("a", "scope2", 0.5), ("b", "scope2", 0.2), ("c", "scope2", 0.12)]
    assert all(h.severity == "low" for h in found if h.kind == "pareto")
    assert all(h.period_start == start and h.period_end == end and not h.ongoing for h in found)
    growth = [(h.site, h.activity_type, h.excess_kg, h.evidence["previous_kg"]) for h in found if h.kind == "growth"]
    # b/scope2 +100, d/scope1 +80 (absent before), a/scope2 +50; a/scope1 shrank, c unchanged
    assert growth == [("b", "scope2", 100.0, 100.0), ("d", "scope1", 80.0, 0.0)]
    assert pareto(current, None, period_start=start, period_end=end, share=0.5)[0].evidence["cumulative_share"] == 0.5
    assert len([h for h in pareto(current, None, period_start=start, period_end=end, share=0.5)]) == 1
    with pytest.raises(ValueError, match="kg"):
        pareto(current.drop(columns=["kg"]), None, period_start=start, period_end=end)

"""Judging one meter's bills for storage (services/lib/expected/bills.py) and turning stored judgements into
hotspots (services/lib/hotspots/monthly.py ``bill_hotspots``), without services: the data-core round trip is in
tests/flows/test_monthly_bills.py and tests/services/orchestration/test_event_scan_bills.py."""

from __future__ import annotations

import pandas as pd
import pytest

from services.lib.expected.bills import judge_meter, temperature
from services.lib.hotspots.monthly import bill_hotspots
from tests.services.lib.expected.test_degree_days import bills
from tests.services.lib.expected.test_degree_days import temperature as synthetic_temperature

pytestmark = pytest.mark.unit


def _utc(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(period_start=frame["period_start"].dt.tz_localize("UTC"),
                        period_end=frame["period_end"].dt.tz_localize("UTC"))


def test_a_heating_meter_is_judged_with_its_model_stored_as_json_and_the_fault_becomes_a_hotspot() -> None:
    temp = synthetic_temperature()
    history = _utc(bills(temp, lambda h, c: 200 + 40 * h, n=20, noise=0.005))
    history.loc[17, "kwh"] *= 1.5
    utc_temp = temp.tz_localize("UTC")
    out = judge_meter(history, utc_temp, level=0.99)
    assert out.loc[:5, "expected"].isna().all() and out.loc[:5, "model"].isna().all()
    model = out.loc[17, "model"]
    assert model["kind"] in ("3PH", "5P") and model["weather"] == "hourly" and model["baseline_bills"] >= 6
    assert model["version"] == out.loc[17, "model_version"] and model["version"].startswith(model["kind"] + "-n")
    assert abs(model["coef"][0] - 200) < 20 and out.loc[17, "weather"] == 1.0
    rows = out.assign(site="s1", meter="m", activity_type="natural_gas", kg_co2e=out["kwh"] * 0.2).astype(object)
    rows = rows.where(rows.notna(), None).to_dict("records")
    [hotspot] = bill_hotspots(rows, level=0.99)
    assert hotspot.period_start == history.loc[17, "period_start"].tz_localize(None).to_pydatetime()
    assert hotspot.excess_kg == pytest.approx(hotspot.excess_kwh * 0.2, rel=1e-6)
    assert hotspot.model_version == model["version"] and hotspot.evidence["model"] == model["kind"]
    assert hotspot.evidence["granularity"] == "bill" and not hotspot.ongoing


def test_without_weather_every_bill_gets_the_2p_model_and_says_so() -> None:
    temp = synthetic_temperature()
    history = _utc(bills(temp, lambda h, c: 200 + 40 * h, n=12))
    none = temperature(pd.DataFrame(columns=["timestamp", "air_temperature_degC"]))
    out = judge_meter(history, none)
    judged = out.dropna(subset=["expected"])
    assert len(judged) == 6 and {m["kind"] for m in judged["model"]} == {"2P"}
    assert {m["weather"] for m in judged["model"]} == {"none"} and out["weather"].isna().all()
    rows = judged.assign(site="s1", meter="m", activity_type="natural_gas", kg_co2e=None,
                         kwh=judged["upper"] * 2).astype(object).to_dict("records")
    [found] = bill_hotspots(rows, level=0.99)  # six bills in a row above their interval: one episode
    assert len(found.evidence["bills"]) == 6 and found.evidence["weather"] == "none" and found.excess_kg is None


def test_bills_the_model_cannot_take_are_refused() -> None:
    temp = synthetic_temperature()
    history = _utc(bills(temp, lambda h, c: 200 + 40 * h, n=8))
    history.loc[3, "kwh"] = -1.0
    with pytest.raises(ValueError, match="finite, non-negative"):
        judge_meter(history, temp.tz_localize("UTC"))
    history.loc[3, "kwh"] = float("inf")
    with pytest.raises(ValueError, match="finite, non-negative"):
        judge_meter(history, temp.tz_localize("UTC"))
    assert bill_hotspots([{"expected": None, "upper": None, "model": None}], level=0.99) == []


def test_consecutive_flagged_bills_of_a_meter_are_one_episode_and_judged_again_give_the_same() -> None:
    model = {"kind": "3PH", "heating_base_c": 15.5, "cooling_base_c": None, "baseline_bills": 12, "cvrmse": 0.08,
             "nmbe": 0.0, "meets_ashrae14": True, "weather": "hourly", "version": "3PH-n12-20200101"}
    months = [("2020-01-01", "2020-02-01", 200.0), ("2020-02-01", "2020-03-01", 300.0),
              ("2020-03-01", "2020-04-01", 110.0), ("2020-04-01", "2020-05-01", 150.0)]
    rows = [{"site": "s1", "meter": "m", "activity_type": "natural_gas", "period_start": pd.Timestamp(a, tz="UTC"),
             "period_end": pd.Timestamp(b, tz="UTC"), "kwh": kwh, "kg_co2e": kwh * 0.2, "expected": 100.0,
             "lower": 80.0, "upper": 120.0, "weather": 1.0, "model": model} for a, b, kwh in months]
    found = bill_hotspots(rows, level=0.99)
    assert [(h.period_start.isoformat(), h.period_end.isoformat(), h.excess_kwh, h.severity) for h in found] == [
        ("2020-01-01T00:00:00", "2020-03-01T00:00:00", 300.0, "critical"),  # January and February: one episode
        ("2020-04-01T00:00:00", "2020-05-01T00:00:00", 50.0, "critical")]   # March was within its interval
    run = found[0]
    assert [b["actual_kwh"] for b in run.evidence["bills"]] == [200.0, 300.0]
    assert (run.evidence["actual_kwh"], run.evidence["expected_kwh"], run.evidence["excess_share"]) == (500.0, 200.0, 1.5)
    assert run.excess_kg == pytest.approx(60.0) and run.model_version == "3PH-n12-20200101"
    assert bill_hotspots(rows, level=0.99) == found  # deterministic: a re-run sends the same episodes

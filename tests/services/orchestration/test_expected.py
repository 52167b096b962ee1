"""Actual against expected (``GET /expected``, ``expected.py``): the data core's hourly residuals summed per
hour, day, week (from Monday) or month, with hours above and below the interval."""

from __future__ import annotations

import pytest

from services.orchestration.expected import aggregate_residuals
from tests.services.orchestration.conftest import GOOD, dc_client, hour, make_site, problem

# hour, actual, expected, lower, upper: Saturday 1 June and Sunday 2 June 2019
HOURS = [((1, 22), 8.0, 11.0, 9.5, 12.5),   # below the lower bound
         ((1, 23), 13.0, 11.0, 9.5, 12.5),  # above the upper bound
         ((2, 0), 10.0, 10.5, 9.0, 12.0),
         ((2, 1), 11.5, 10.5, 9.0, 12.0),
         ((2, 2), 20.0, 10.5, 9.0, 12.0),   # above
         ((2, 3), 9.0, 10.5, 9.0, 12.0)]    # on the lower bound: not below


@pytest.mark.integration
def test_expected_sums_actual_and_expected_per_interval(make_stack) -> None:
    stack = make_stack()
    with dc_client(stack) as dc:
        make_site(dc)
        readings = [{**GOOD, "timestamp": hour(*h), "quantity": a} for h, a, *_ in HOURS]
        readings.append({**GOOD, "timestamp": hour(2, 4), "quantity": 30})  # no prediction: not counted
        assert dc.post("/api/v1/ingest", json={"records": readings}).json()["accepted"] == 7
        stored = dc.put("/api/v1/predictions", json={"model_name": "carbon-baseline", "model_version": "3",
                                                     "unit": "kWh", "predictions": [
            {"site": "s1", "meter": "main", "activity_type": "electricity", "period_start": hour(*h),
             "expected": e, "lower": lo, "upper": hi} for h, _, e, lo, hi in HOURS]})
        assert stored.status_code == 200, stored.text

    daily = stack.http.get("/api/v1/expected")
    assert daily.status_code == 200, daily.text
    body = daily.json()
    assert body["interval"] == "day" and body["sites"] == ["s1"] and body["model_versions"] == ["3"]
    common = {"activity_type": "electricity", "unit": "kWh"}
    assert body["rows"] == [
        {"period_start": "2019-06-01T00:00:00Z", **common, "actual": 21.0, "expected": 22.0, "lower": 19.0,
         "upper": 25.0, "hours": 2, "hours_above": 1, "hours_below": 1},
        {"period_start": "2019-06-02T00:00:00Z", **common, "actual": 50.5, "expected": 42.0, "lower": 36.0,
         "upper": 48.0, "hours": 4, "hours_above": 1, "hours_below": 0}]

    hourly = stack.http.get("/api/v1/expected", params={"interval": "hour", "start": "2019-06-01T23:00:00Z",
                                                        "end": "2019-06-02T02:00:00+00:00"}).json()["rows"]
    assert [(r["period_start"], r["actual"], r["hours_above"]) for r in hourly] == [
        ("2019-06-01T23:00:00Z", 13.0, 1), ("2019-06-02T00:00:00Z", 10.0, 0), ("2019-06-02T01:00:00Z", 11.5, 0)]
    weekly = stack.http.get("/api/v1/expected", params={"interval": "week"}).json()["rows"]
    assert [(r["period_start"], r["actual"], r["hours"]) for r in weekly] == [("2019-05-27T00:00:00Z", 71.5, 6)]
    monthly = stack.http.get("/api/v1/expected", params=[("interval", "month"), ("site", "s1"), ("site", "s9"),
                                                         ("activity_type", "electricity")]).json()["rows"]
    assert [(r["period_start"], r["expected"], r["hours_below"]) for r in monthly] == [("2019-06-01T00:00:00Z",
                                                                                         64.0, 1)]
    empty = stack.http.get("/api/v1/expected", params={"activity_type": "natural_gas"}).json()
    assert empty == {"interval": "day", "rows": [], "sites": [], "model_versions": []}
    assert problem(stack.http.get("/api/v1/expected", params={"start": "2019-06-02T00:00:00Z",
                                                              "end": "2019-06-01T00:00:00Z"}), 422)["field"] == "end"
    problem(stack.http.get("/api/v1/expected", params={"interval": "year"}), 422)


def test_week_buckets_start_on_monday_and_missing_bounds_stay_null() -> None:
    csv = (b"site,meter,activity_type,period_start,actual,unit,expected,lower,upper,model_name,model_version\n"
           b"a,,electricity,2024-01-07T23:00:00,1.5,kWh,1.0,,,m,7\n"  # Sunday
           b"b,,electricity,2024-01-08T00:00:00,2.0,kWh,1.0,,,m,7\n"  # Monday
           b"b,,natural_gas,2024-01-08T01:00:00,4.0,kWh,5.0,4.5,6.0,m,8\n")
    out = aggregate_residuals(csv, "week")
    assert out["sites"] == ["a", "b"] and out["model_versions"] == ["7", "8"]
    assert [(r["period_start"], r["activity_type"], r["actual"], r["lower"], r["hours_below"]) for r in out["rows"]] \
        == [("2024-01-01T00:00:00Z", "electricity", 1.5, None, 0), ("2024-01-08T00:00:00Z", "electricity", 2.0,
                                                                    None, 0),
            ("2024-01-08T00:00:00Z", "natural_gas", 4.0, 4.5, 1)]
    header_only = csv.split(b"\n")[0] + b"\n"
    assert aggregate_residuals(header_only, "day")["rows"] == []



"""What the dashboard reads for meters that are not hourly (issue #17), through the engine in front of a real
data core: a half-hourly meter's chart shows hourly sums (an hour half metered is left out, not shown as a
drop), a monthly bill never reaches the hourly chart, and the bills come with their degree-day expected values
from ``GET /bills``."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.services.orchestration.conftest import GOOD, dc_client, make_site, problem

pytestmark = pytest.mark.integration


def test_half_hourly_readings_chart_as_hourly_sums_and_bills_as_bills(make_stack) -> None:
    stack = make_stack()
    half = pd.Timedelta(minutes=30)
    first = pd.Timestamp("2019-06-01T00:00:00Z")
    halves = [(first + k * half, q) for k, q in enumerate([1.0, 2.0, 3.0, 4.0, 5.0])]  # 02:30-03:00 never came
    with dc_client(stack) as dc:
        make_site(dc)
        readings = [{**GOOD, "meter": "hh", "period_start": t.isoformat(), "period_end": (t + half).isoformat(),
                     "quantity": q} for t, q in halves]
        bill = {**GOOD, "meter": "bill", "activity_type": "natural_gas", "period": "2019-06", "quantity": 900}
        report = dc.post("/api/v1/ingest", json={"records": [*readings, bill]}).json()
        assert report["accepted"] == 6, report
        body = {"model_name": "carbon-baseline", "model_version": "1", "unit": "kWh", "predictions": [
            {"site": "s1", "meter": "hh", "activity_type": "electricity", "period_start": f"2019-06-01T0{h}:00:00Z",
             "expected": 4.0, "lower": 2.0, "upper": 6.0} for h in range(3)]}
        assert dc.put("/api/v1/predictions", json=body).status_code == 200
    hourly = stack.http.get("/api/v1/expected", params={"interval": "hour", "site": "s1"}).json()
    assert [(r["period_start"], r["actual"], r["expected"], r["hours_above"]) for r in hourly["rows"]] == [
        ("2019-06-01T00:00:00Z", 3.0, 4.0, 0), ("2019-06-01T01:00:00Z", 7.0, 4.0, 1)]  # 02:00 is half an hour
    daily = stack.http.get("/api/v1/expected", params={"site": "s1"}).json()["rows"]
    assert [(r["activity_type"], r["actual"], r["hours"]) for r in daily] == [("electricity", 10.0, 2)]  # no bill
    bills = stack.http.get("/api/v1/bills", params={"site": "s1"}).json()
    assert [(b["meter"], b["kwh"], b["days"], b["expected"]) for b in bills["bills"]] == [("bill", 900.0, 30.0, None)]
    assert problem(stack.http.get("/api/v1/bills", params={"min_days": 0}), 422)["status"] == 422

"""GET /api/v1/consumption (issue #19): energy and demand from the readings, summed in the database."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.services.data_core.helpers import ingest, make_site

pytestmark = pytest.mark.integration


def _hours(site: str, activity: str, start: str, values: list[float], unit: str = "kWh") -> list[dict]:
    t0 = pd.Timestamp(start)
    return [{"site": site, "meter": "m", "activity_type": activity, "unit": unit,
             "period_start": (t0 + pd.Timedelta(hours=i)).isoformat() + "Z",
             "period_end": (t0 + pd.Timedelta(hours=i + 1)).isoformat() + "Z", "quantity": v}
            for i, v in enumerate(values)]


@pytest.fixture
def two(client):
    make_site(client, "s1", country="GB")
    make_site(client, "s2", country="GB")
    ingest(client, _hours("s1", "electricity", "2019-01-31T22:00:00", [1.0, 3.0, 5.0, 7.0]))  # 2 in Jan, 2 in Feb
    ingest(client, _hours("s2", "electricity", "2019-02-01T00:00:00", [0.01, 0.02], unit="MWh"))  # 10, 20 kWh
    ingest(client, _hours("s1", "natural_gas", "2019-02-01T00:00:00", [100.0]))
    return client


def test_totals_average_and_peak_of_the_summed_hours(two):
    body = two.get("/api/v1/consumption", params={"activity_type": "electricity"}).json()
    assert body["total_kwh"] == pytest.approx(46.0)
    # hours: 1, 3, 5+10, 7+20 -> mean 11.5, peak 27 (two sites' hours summed)
    assert body["avg_kw"] == pytest.approx(11.5) and body["peak_kw"] == pytest.approx(27.0) and body["hours"] == 4
    one = two.get("/api/v1/consumption", params={"activity_type": "electricity", "site": "s1",
                                                 "start": "2019-02-01T00:00:00Z", "end": "2019-03-01T00:00:00Z"}).json()
    assert one["total_kwh"] == pytest.approx(12.0) and one["peak_kw"] == pytest.approx(7.0)


def test_grouped_by_site_month_and_quarter(two):
    by_site = two.get("/api/v1/consumption", params={"activity_type": "electricity", "group_by": "site"}).json()
    assert {r["site"]: r["kwh"] for r in by_site["rows"]} == pytest.approx({"s1": 16.0, "s2": 30.0})
    by_month = two.get("/api/v1/consumption", params={"site": "s1", "group_by": "month",
                                                      "activity_type": "electricity"}).json()
    assert [(r["month"], r["kwh"], r["peak_kw"]) for r in by_month["rows"]] == [("2019-01", 4.0, 3.0), ("2019-02", 12.0, 7.0)]
    by_q = two.get("/api/v1/consumption", params={"site": "s1", "group_by": "quarter"}).json()
    (q1,) = by_q["rows"]
    assert q1["quarter"] == "2019-Q1" and q1["kwh"] == pytest.approx(116.0) and q1["avg_kw"] == pytest.approx(116.0 / 4)  # gas joins an electricity hour


def test_a_bill_is_prorated_into_energy_but_not_demand(two):
    ingest(two, [{"site": "s2", "meter": "bill", "activity_type": "electricity", "unit": "kWh",
                  "period": "2019-04", "quantity": 720.0}])
    body = two.get("/api/v1/consumption", params={"site": "s2", "start": "2019-04-10T00:00:00Z",
                                                  "end": "2019-04-11T00:00:00Z"}).json()
    assert body["total_kwh"] == pytest.approx(24.0) and body["prorated_kwh"] == pytest.approx(24.0)
    assert body["hours"] == 0 and body["peak_kw"] is None


@pytest.mark.parametrize("params", [{"group_by": "colour"}, {"start": "2019-02-01T00:00:00Z",
                                                            "end": "2019-01-01T00:00:00Z"}])
def test_bad_input_is_a_problem(two, params):
    r = two.get("/api/v1/consumption", params=params)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")


def test_energy_only_in_one_pass_gives_the_same_kwh(two):
    for group in ("", "site", "month", "quarter", "activity_type"):
        params = {"group_by": group}
        full = two.get("/api/v1/consumption", params=params).json()
        flat = two.get("/api/v1/consumption", params={**params, "demand": "false"}).json()
        assert flat["total_kwh"] == pytest.approx(full["total_kwh"]) and flat["peak_kw"] is None
        assert [r["kwh"] for r in flat["rows"]] == pytest.approx([r["kwh"] for r in full["rows"]])


@pytest.mark.parametrize("demand", ["true", "false"])
def test_no_readings_is_an_empty_answer_not_an_error(client, demand):
    for group in ("", "site", "month", "quarter", "site,quarter"):
        r = client.get("/api/v1/consumption", params={"group_by": group, "demand": demand, "site": "nowhere"})
        assert r.status_code == 200, (group, r.text)
        assert r.json()["total_kwh"] == 0.0 and r.json()["rows"] == []

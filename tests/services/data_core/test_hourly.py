"""Any meter interval on the per-meter hourly grid (issue #17): readings stored as given, served per hour."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import AUTH
from tests.services.data_core.helpers import audit, ingest, make_site

pytestmark = pytest.mark.integration

DAY = pd.Timestamp("2019-06-01")


def _series(meter: str, minutes: int, count: int, quantity: float = 1.0, start: pd.Timestamp = DAY) -> list[dict]:
    step = pd.Timedelta(minutes=minutes)
    return [{"site": "s1", "meter": meter, "activity_type": "electricity", "unit": "kWh",
             "period_start": (start + i * step).isoformat() + "Z", "period_end": (start + (i + 1) * step).isoformat() + "Z",
             "quantity": quantity + i % 3} for i in range(count)]


@pytest.fixture
def gb(client):
    make_site(client, "s1", country="GB")
    return client


@pytest.mark.parametrize("minutes", [1, 5, 15, 30, 60, 24 * 60])
def test_readings_of_any_interval_are_stored_as_given(gb, minutes):
    rows = _series("m", minutes, 3)
    assert ingest(gb, rows)["accepted"] == 3
    stored = audit(gb, limit=10)["rows"]
    lengths = {pd.Timestamp(r["period_end"]) - pd.Timestamp(r["period_start"]) for r in stored}
    assert lengths == {pd.Timedelta(minutes=minutes)}


def test_a_monthly_bill_is_stored_and_prorated_only_on_request(gb):
    assert ingest(gb, [{"site": "s1", "meter": "bill", "activity_type": "electricity", "unit": "kWh",
                        "period": "2019-06", "quantity": 720.0}])["accepted"] == 1
    row = audit(gb)["rows"][0]
    assert (row["period_start"], row["period_end"]) == ("2019-06-01T00:00:00", "2019-07-01T00:00:00")
    assert gb.get("/api/v1/predictions/pending").json()["count"] == 0  # not an hourly slot
    assert gb.get("/api/v1/readings", params={"site": "s1"}).json()["count"] == 0
    window = {"site": "s1", "prorate": "true", "start": "2019-06-10T00:00:00Z", "end": "2019-06-11T00:00:00Z"}
    body = gb.get("/api/v1/readings", params=window).json()
    assert body["count"] == 24
    assert all(r["quantity"] == pytest.approx(1.0) and r["prorated_kwh"] == pytest.approx(1.0) for r in body["readings"])
    whole = gb.get("/api/v1/readings", params={"site": "s1", "prorate": "true", "format": "csv"})
    frame = pd.read_csv(pd.io.common.StringIO(whole.text))
    assert len(frame) == 720 and frame["quantity"].sum() == pytest.approx(720.0)  # energy kept


def test_a_prorated_day_joins_the_metered_hours_and_pages(gb):
    ingest(gb, _series("hh", 30, 4))  # 00:00-02:00 half-hourly: 1, 2, 3, 1 kWh
    ingest(gb, [{"site": "s1", "meter": "daily", "activity_type": "electricity", "unit": "MWh",
                 "timestamp": "2019-06-01", "quantity": 0.048}])  # a day: 2 kWh per hour
    params = {"site": "s1", "prorate": "true", "by_meter": "true", "limit": 5}
    first = gb.get("/api/v1/readings", params=params)
    rows = first.json()["readings"]
    assert [(r["meter"], r["timestamp"][11:16], r["quantity"]) for r in rows[:4]] == [
        ("daily", "00:00", pytest.approx(2.0)), ("hh", "00:00", 3.0), ("daily", "01:00", pytest.approx(2.0)),
        ("hh", "01:00", 4.0)]
    assert rows[1]["readings"] == 2 and rows[1]["prorated_kwh"] == 0.0 and rows[0]["readings"] == 0
    assert first.headers.get("link")
    site_total = gb.get("/api/v1/readings", params={"site": "s1", "prorate": "true"}).json()["readings"]
    assert len(site_total) == 24 and site_total[0]["quantity"] == pytest.approx(5.0)


def _predict(client, meter: str, hours: list[pd.Timestamp], expected: float) -> None:
    body = {"model_name": "m", "model_version": "1", "unit": "kWh", "predictions": [
        {"site": "s1", "meter": meter, "activity_type": "electricity", "period_start": h.isoformat() + "Z",
         "expected": expected, "lower": expected - 1, "upper": expected + 1} for h in hours]}
    r = client.put("/api/v1/predictions", json=body, headers=AUTH)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(("minutes", "per_hour"), [(30, 2), (15, 4)])
def test_sub_hourly_meters_get_pending_slots_and_residuals_per_hour(gb, minutes, per_hour):
    rows = _series("sub", minutes, per_hour * 3 + 1)  # three whole hours and the first part of a fourth
    ingest(gb, rows)
    pending = gb.get("/api/v1/predictions/pending", params={"site": "s1"}).json()["readings"]
    assert [p["period_start"] for p in pending] == [f"2019-06-01T0{h}:00:00" for h in range(4)]
    assert [p["readings"] for p in pending] == [per_hour] * 3 + [1]
    assert [p["complete"] for p in pending] == [True, True, True, False]
    sums = pd.DataFrame(rows).assign(hour=lambda f: pd.to_datetime(f["period_start"]).dt.floor("h"))
    sums = sums.groupby("hour")["quantity"].sum()
    assert [p["quantity"] for p in pending] == pytest.approx(sums.tolist())
    _predict(gb, "sub", [DAY + pd.Timedelta(hours=h) for h in range(4)], 5.0)
    assert gb.get("/api/v1/predictions/pending", params={"site": "s1"}).json()["count"] == 0
    res = gb.get("/api/v1/residuals", params={"site": "s1"}).json()["rows"]
    # the incomplete fourth hour is left out: half an hour against a whole hour's expectation is no drop
    assert [r["period_start"] for r in res] == [f"2019-06-01T0{h}:00:00" for h in range(3)]
    assert [r["residual"] for r in res] == pytest.approx([s - 5.0 for s in sums.tolist()[:3]])

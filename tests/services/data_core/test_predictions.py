"""Expected values stored next to actuals: pending readings, idempotent upserts, residuals."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from tests.conftest import AUTH, NO_AUTH
from tests.services.data_core.helpers import ingest, make_site, problem, record

pytestmark = pytest.mark.integration


def _readings(client) -> None:
    make_site(client, "s1", country="GB")
    rows = [record("s1", "electricity", 10 + h, "kWh", timestamp=f"2019-06-01T{h:02d}:00:00Z") for h in range(4)]
    ingest(client, [dict(r, meter="main") for r in rows])
    # monthly, on its own meter (over the hours of "main" it would be refused): not an hourly reading
    ingest(client, [dict(record("s1", "electricity", 300, "kWh", period="2019-06"), meter="bill")])


def _put(client, hours, version="1", bump=0.0):
    body = {"model_name": "carbon-baseline", "model_version": version, "unit": "kWh", "predictions": [
        {"site": "s1", "meter": "main", "activity_type": "electricity",
         "period_start": f"2019-06-01T{h:02d}:00:00Z", "expected": 11.0 + bump, "lower": 9.0, "upper": 12.0 + bump}
        for h in hours]}
    return client.put("/api/v1/predictions", json=body, headers=AUTH)


def test_pending_then_stored_then_residuals(client) -> None:
    _readings(client)
    pending = client.get("/api/v1/predictions/pending").json()
    assert pending["count"] == 4  # the four hours, not the monthly total
    assert _put(client, [0, 1]).json()["stored"] == 2
    assert client.get("/api/v1/predictions/pending").json()["count"] == 2
    rows = client.get("/api/v1/residuals", params={"site": "s1"}).json()["rows"]
    assert [r["residual"] for r in rows] == [10 - 11.0, 11 - 11.0]
    assert [r["above_upper"] for r in rows] == [False, False] and rows[0]["model_version"] == "1"
    # re-predicting replaces (idempotent per hour), with the new model version
    assert _put(client, [0, 1], version="2", bump=-2.0).status_code == 200
    rows = client.get("/api/v1/residuals", params={"site": "s1"}).json()["rows"]
    assert len(rows) == 2 and {r["model_version"] for r in rows} == {"2"}
    assert [r["above_upper"] for r in rows] == [False, True]  # 11 > upper 10


def test_bad_predictions_are_problems(client) -> None:
    _readings(client)
    problem(client.put("/api/v1/predictions", json={"model_name": "m", "model_version": "1", "predictions": [
        {"site": "s1", "activity_type": "electricity", "period_start": "2019-06-01T00:00:00Z", "expected": 5,
         "lower": 6}]}, headers=AUTH), 422)
    body = problem(client.put("/api/v1/predictions", json={"model_name": "m", "model_version": "1", "predictions": [
        {"site": "nope", "activity_type": "electricity", "period_start": "2019-06-01T00:00:00Z", "expected": 5}]},
        headers=AUTH), 422)
    assert "nope" in body["detail"]
    problem(client.put("/api/v1/predictions", json={"model_name": "m", "model_version": "1", "predictions": []},
                       headers=AUTH), 422)
    problem(_put_without_token(client), 401)
    problem(client.get("/api/v1/residuals", params={"start": "2020-01-02", "end": "2020-01-01"}), 422)


def _put_without_token(client):
    return client.put("/api/v1/predictions", json={"model_name": "m", "model_version": "1", "predictions": [
        {"site": "s1", "activity_type": "electricity", "period_start": "2019-06-01T00:00:00Z", "expected": 5}]},
        headers=NO_AUTH)


def test_readings_sum_meters_per_hour_in_json_and_csv(client) -> None:
    _readings(client)
    ingest(client, [dict(record("s1", "electricity", 1.5, "MWh", timestamp="2019-06-01T00:00:00Z"), meter="sub")])
    r = client.get("/api/v1/readings", params={"site": "s1"})
    body = r.json()
    assert body["count"] == 4 and r.headers["x-non-energy-rows"] == "0"  # the MWh sub-meter joins its hour
    first = [x for x in body["readings"] if x["timestamp"] == "2019-06-01T00:00:00Z"]
    assert [(x["unit"], x["quantity"]) for x in first] == [("kWh", 1510.0)]  # 10 kWh + 1.5 MWh, in kWh
    assert {x["unit"] for x in body["readings"]} == {"kWh"}
    assert client.get("/api/v1/readings", params={"site": "s1", "limit": 2}).json()["count"] == 2
    csv = client.get("/api/v1/readings", params={"site": "s1", "format": "csv",
                                                 "start": "2019-06-01T02:00:00Z"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines() == ["site,activity_type,timestamp,quantity,unit",
                                     "s1,electricity,2019-06-01T02:00:00Z,12.0,kWh",
                                     "s1,electricity,2019-06-01T03:00:00Z,13.0,kWh"]
    problem(client.get("/api/v1/readings", params={"start": "2019-06-02T00:00:00Z", "end": "2019-06-01T00:00:00Z"}),
            422)


def test_readings_pages_are_in_kwh(client) -> None:
    """Paging (limit, offset, Link) goes on working: one row per hour, every unit of it in kWh."""
    _readings(client)
    ingest(client, [dict(record("s1", "electricity", 0.002, "MWh", timestamp=f"2019-06-01T{h:02d}:00:00Z"),
                         meter="sub") for h in (1, 2)])
    pages, url = [], "/api/v1/readings?site=s1&limit=3"
    while url:
        r = client.get(url)
        pages.append(r.json()["readings"])
        link = r.headers.get("link")
        url = "/api/v1/readings" + link[1:link.index(">")] if link else ""
    assert [len(p) for p in pages] == [3, 1]
    rows = {row["timestamp"]: (row["quantity"], row["unit"]) for page in pages for row in page}
    assert rows == {f"2019-06-01T{h:02d}:00:00Z": (10.0 + h + (2.0 if h in (1, 2) else 0.0), "kWh") for h in range(4)}


@pytest.mark.parametrize(("unit", "quantity"), [("MWh", 0.0125), ("Wh", 12_500.0), ("kWh", 12.5)])
def test_residual_is_actual_minus_expected_both_in_kwh(client, unit, quantity) -> None:
    """A reading stored in MWh (or Wh) against an expected value in kWh: the residual is in kWh (it used to
    subtract kWh from the reading's own unit)."""
    make_site(client, "s1", country="GB")
    ingest(client, [dict(record("s1", "electricity", quantity, unit, timestamp="2019-06-01T00:00:00Z"), meter="m")])
    body = {"model_name": "carbon-baseline", "model_version": "1", "unit": "kWh", "predictions": [
        {"site": "s1", "meter": "m", "activity_type": "electricity", "period_start": "2019-06-01T00:00:00Z",
         "expected": 10.0, "lower": 8.0, "upper": 12.0}]}
    assert client.put("/api/v1/predictions", json=body, headers=AUTH).status_code == 200
    r = client.get("/api/v1/residuals", params={"site": "s1"})
    [row] = r.json()["rows"]
    assert row["unit"] == "kWh" and row["actual"] == pytest.approx(12.5) and row["residual"] == pytest.approx(2.5)
    assert row["above_upper"] is True and row["below_lower"] is False and r.headers["x-non-energy-rows"] == "0"
    csv = client.get("/api/v1/residuals", params={"site": "s1", "format": "csv"})
    [cells] = pd.read_csv(io.StringIO(csv.text)).to_dict("records")
    assert cells["unit"] == "kWh" and cells["actual"] == pytest.approx(12.5) and cells["expected"] == 10.0


def test_non_energy_rows_are_left_out_and_counted(client) -> None:
    make_site(client, "s1", country="GB")
    ingest(client, [dict(record("s1", "natural_gas", 100.0, "kWh", timestamp="2019-06-01T00:00:00Z"), meter="a"),
                    dict(record("s1", "natural_gas", 5.0, "m3", timestamp="2019-06-01T01:00:00Z"), meter="b")],
           editions="DESNZ-2024")  # gas has a factor per kWh and per cubic metre (a volume, not an energy)
    body = {"model_name": "m", "model_version": "1", "predictions": [
        {"site": "s1", "meter": meter, "activity_type": "natural_gas", "period_start": f"2019-06-01T0{h}:00:00Z",
         "expected": 90.0} for h, meter in ((0, "a"), (1, "b"))]}
    assert client.put("/api/v1/predictions", json=body, headers=AUTH).status_code == 200
    for path, key in (("/api/v1/readings", "readings"), ("/api/v1/residuals", "rows")):
        r = client.get(path, params={"site": "s1", "activity_type": "natural_gas"})
        assert r.headers["x-non-energy-rows"] == "1" and [x["unit"] for x in r.json()[key]] == ["kWh"], path
        csv = client.get(path, params={"site": "s1", "activity_type": "natural_gas", "format": "csv"})
        assert csv.headers["x-non-energy-rows"] == "1" and len(csv.text.strip().splitlines()) == 2, path

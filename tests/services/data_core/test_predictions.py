"""Expected values stored next to actuals: pending readings, idempotent upserts, residuals."""

from __future__ import annotations

import pytest

from tests.conftest import AUTH, NO_AUTH
from tests.services.data_core.helpers import ingest, make_site, problem, record

pytestmark = pytest.mark.integration


def _readings(client) -> None:
    make_site(client, "s1", country="GB")
    rows = [record("s1", "electricity", 10 + h, "kWh", timestamp=f"2019-06-01T{h:02d}:00:00Z") for h in range(4)]
    rows.append(record("s1", "electricity", 300, "kWh", period="2019-06"))  # monthly: not an hourly reading
    ingest(client, [dict(r, meter="main") for r in rows])


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
    body = client.get("/api/v1/readings", params={"site": "s1"}).json()
    assert body["count"] == 5  # four hours of kWh plus the MWh sub-meter hour (units are kept apart)
    first = [r for r in body["readings"] if r["timestamp"] == "2019-06-01T00:00:00Z"]
    assert sorted((r["unit"], r["quantity"]) for r in first) == [("MWh", 1.5), ("kWh", 10.0)]
    assert client.get("/api/v1/readings", params={"site": "s1", "limit": 2}).json()["count"] == 2
    csv = client.get("/api/v1/readings", params={"site": "s1", "format": "csv",
                                                 "start": "2019-06-01T02:00:00Z"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines() == ["site,activity_type,timestamp,quantity,unit",
                                     "s1,electricity,2019-06-01T02:00:00Z,12.0,kWh",
                                     "s1,electricity,2019-06-01T03:00:00Z,13.0,kWh"]
    problem(client.get("/api/v1/readings", params={"start": "2019-06-02T00:00:00Z", "end": "2019-06-01T00:00:00Z"}),
            422)

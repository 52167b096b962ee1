"""The dashboard's reads and uploads through the orchestration engine (a real engine in front of a real data
core): data-core answers passed on unchanged (JSON, CSV and XLSX files), problems passed on with their
status and members, ingest with rejects and idempotent replays, actual against expected summed per interval,
and 503 problems when the ML engine or Prefect cannot be reached."""

from __future__ import annotations

import io
from typing import Any

import httpx
import openpyxl
import pytest

from tests.conftest import AUTH
from tests.services.orchestration.conftest import Stack

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
GOOD = {"site": "s1", "meter": "main", "activity_type": "electricity", "unit": "kWh"}


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers["content-type"]
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def _dc(stack: Stack) -> httpx.Client:
    return httpx.Client(base_url=stack.dc.url, headers=AUTH, timeout=30, trust_env=False)


def _site(dc: httpx.Client, site: str = "s1") -> None:
    assert dc.post("/api/v1/organisations", json={"id": "acme", "name": "Acme"}).status_code == 201
    r = dc.post("/api/v1/sites", json={"id": site, "org_id": "acme", "name": f"Site {site}", "country": "GB"})
    assert r.status_code == 201, r.text


def _csv(rows: list[dict[str, Any]]) -> str:
    columns = list(rows[0])
    return "\n".join([",".join(columns)] + [",".join(str(r[c]) for c in columns) for r in rows]) + "\n"


def _hour(day: int, hour: int) -> str:
    return f"2019-06-{day:02d}T{hour:02d}:00:00Z"


def test_emission_queries_and_exports_come_through_unchanged(make_stack) -> None:
    stack = make_stack()
    with _dc(stack) as dc:
        _site(dc)
        records = [{**GOOD, "timestamp": _hour(1, h), "quantity": 10 + h} for h in range(6)]
        records.append({"site": "s1", "activity_type": "natural_gas", "quantity": 500, "unit": "kWh",
                        "period": "2024-05"})
        assert dc.post("/api/v1/ingest", json={"records": records}).json()["accepted"] == 7
        for kind, params in (("totals", [("group_by", "scope")]),
                             ("totals", [("scope", "1"), ("scope", "2"), ("group_by", "scope,activity_type")]),
                             ("timeseries", [("interval", "day"), ("scope", "2")]),
                             ("top", [("by", "activity_type")]),
                             ("inventory", [("year", "2019")]),
                             ("audit", [("limit", "3")])):
            via = stack.http.get(f"/api/v1/emissions/{kind}", params=params)
            assert via.status_code == 200 and via.headers["content-type"].startswith("application/json")
            assert via.json() == dc.get(f"/api/v1/emissions/{kind}", params=params).json(), kind
        both = stack.http.get("/api/v1/emissions/totals", params=[("scope", "1"), ("scope", "2"),
                                                                  ("group_by", "scope")]).json()
        assert {r["scope"] for r in both["rows"]} == {1, 2}  # both values of the repeated parameter arrived
        only = stack.http.get("/api/v1/emissions/totals", params=[("scope", "2"), ("group_by", "scope")]).json()
        assert {r["scope"] for r in only["rows"]} == {2}

        csv = stack.http.get("/api/v1/emissions/timeseries", params={"interval": "day", "format": "csv"})
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        assert csv.headers["content-disposition"] == 'attachment; filename="emissions_day.csv"'
        assert csv.content == dc.get("/api/v1/emissions/timeseries", params={"interval": "day",
                                                                             "format": "csv"}).content
        xlsx = stack.http.get("/api/v1/emissions/inventory", params={"year": 2019, "format": "xlsx"})
        assert xlsx.status_code == 200 and xlsx.headers["content-type"] == XLSX
        assert xlsx.headers["content-disposition"] == 'attachment; filename="ghg_inventory_2019.xlsx"'
        book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
        assert book.sheetnames[0] == "data" and book["data"]["A2"].value == "Scope 1"

    bad = problem(stack.http.get("/api/v1/emissions/totals", params=[("scope", "1"), ("scope", "7")]), 422)
    assert "scope must be 1, 2 or 3, not 7" in bad["detail"] and bad["field"] == "scope"
    assert bad["instance"] == "/api/v1/emissions/totals"
    problem(stack.http.get("/api/v1/emissions/inventory"), 422)  # year is required by the data core
    assert "totals" in problem(stack.http.get("/api/v1/emissions/everything"), 404)["detail"]


def test_sites_organisations_and_the_readings_extent(make_stack) -> None:
    stack = make_stack()
    with _dc(stack) as dc:
        _site(dc, "s1")
        assert dc.post("/api/v1/sites", json={"id": "b2:x.y", "org_id": "acme", "name": "B2",
                                              "country": "GB"}).status_code == 201
        dc.post("/api/v1/ingest", json={"records": [{**GOOD, "timestamp": _hour(1, 0), "quantity": 5}]})
        sites = stack.http.get("/api/v1/sites")
        assert sites.status_code == 200 and sites.json() == dc.get("/api/v1/sites").json()
        assert [s["id"] for s in sites.json()] == ["b2:x.y", "s1"]
        assert stack.http.get("/api/v1/sites", params={"org_id": "other"}).json() == []
    assert stack.http.get("/api/v1/sites/s1").json()["country"] == "GB"
    assert stack.http.get("/api/v1/sites/b2:x.y").json()["name"] == "B2"
    assert problem(stack.http.get("/api/v1/sites/nowhere"), 404)["site"] == "nowhere"
    assert problem(stack.http.get("/api/v1/sites/a%3Fb"), 404)["site"] == "a?b"  # one path segment, not a query
    assert stack.http.get("/api/v1/organisations").json() == [{"id": "acme", "name": "Acme"}]
    extent = stack.http.get("/api/v1/readings/extent", params={"activity_type": "electricity"}).json()
    assert extent == {"first": "2019-06-01T00:00:00Z", "last": "2019-06-01T00:00:00Z", "sites": ["s1"]}


def test_an_upload_through_the_engine_keeps_good_rows_lists_rejects_and_replays_by_key(make_stack) -> None:
    stack = make_stack()
    with _dc(stack) as dc:
        _site(dc)
    rows = [{**GOOD, "timestamp": _hour(1, h), "quantity": 10 + h} for h in range(3)]
    rows += [{**GOOD, "timestamp": _hour(1, 5), "quantity": 7, "site": "ghost"},
             {**GOOD, "timestamp": _hour(1, 6), "quantity": -3}]
    upload = {"file": ("meters.csv", _csv(rows), "text/csv")}
    key = {"Idempotency-Key": "dash-upload-1"}

    refused = problem(httpx.post(f"{stack.oe.url}/api/v1/ingest", files=upload, trust_env=False), 401)
    assert refused["type"].endswith("/unauthorized")
    assert stack.http.get("/api/v1/ingest/batches").json() == []  # nothing reached the data core

    first = stack.http.post("/api/v1/ingest", files=upload, headers=key)
    assert first.status_code == 200, first.text
    report = first.json()
    assert (report["received"], report["accepted"], report["rejected"]) == (5, 3, 2)
    assert {(r["row"], r["column"]) for r in report["rejects"]} == {(5, "site"), (6, "quantity")}
    assert all(r["reason"] for r in report["rejects"]) and "Idempotent-Replayed" not in first.headers

    again = stack.http.post("/api/v1/ingest", files=upload, headers=key)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == report
    batches = stack.http.get("/api/v1/ingest/batches").json()
    assert [b["id"] for b in batches] == [report["batch_id"]] and batches[0]["accepted"] == 3
    assert stack.http.get(f"/api/v1/ingest/batches/{report['batch_id']}").json()["rejected"] == 2
    stored = stack.http.get(report["rejects_url"]).json()  # the data core's link works on the engine too
    assert stored["total"] == 2 and {r["raw"]["site"] for r in stored["rejects"]} == {"ghost", "s1"}
    assert stack.http.get("/api/v1/ingest/rejects", params={"limit": 1}).json()["total"] == 2
    problem(stack.http.get("/api/v1/ingest/batches/nope/rejects"), 404)
    problem(stack.http.get("/api/v1/ingest/rejects", params={"status": "lost"}), 422)

    other = problem(stack.http.post("/api/v1/ingest", files={"file": ("x.csv", _csv(rows[:1]), "text/csv")},
                                    headers=key), 422)
    assert "different request" in other["detail"] and other["idempotency_key"] == "dash-upload-1"

    # text/csv and JSON bodies, with the query string passed on
    late = [{**GOOD, "timestamp": _hour(2, 0), "quantity": 4}]
    body = stack.http.post("/api/v1/ingest", content=_csv(late), headers={"Content-Type": "text/csv"})
    assert body.status_code == 200 and body.json()["accepted"] == 1
    chunked = [{**GOOD, "timestamp": _hour(2, 1), "quantity": 6}]  # no Content-Length: passed on chunked
    streamed = stack.http.post("/api/v1/ingest", content=iter([_csv(chunked)[:20].encode(), _csv(chunked)[20:].encode()]),
                               headers={"Content-Type": "text/csv"})
    assert streamed.status_code == 200 and streamed.json()["accepted"] == 1, streamed.text
    problem(stack.http.post("/api/v1/ingest", content=b"a,b\n1,2\n", headers={"Content-Type": ""}), 415)
    edition = problem(stack.http.post("/api/v1/ingest", json={"records": late}, params={"editions": "NOPE-1"}), 422)
    assert "NOPE-1" in edition["detail"] and edition["parameter"] == "editions"
    dup = stack.http.post("/api/v1/ingest", json={"records": late})
    assert dup.status_code == 200 and (dup.json()["accepted"], dup.json()["duplicates"]) == (0, 1)
    # all rows rejected: the data core's 422 with its rejects, replayed as such with the header
    ghosts = {"file": ("g.csv", _csv([{**GOOD, "site": "ghost", "timestamp": _hour(3, 0), "quantity": 1}]),
                       "text/csv")}
    none = problem(stack.http.post("/api/v1/ingest", files=ghosts, headers={"Idempotency-Key": "g"}), 422)
    assert none["type"].endswith("/all-rows-rejected") and none["rejects"][0]["column"] == "site"
    replay = stack.http.post("/api/v1/ingest", files=ghosts, headers={"Idempotency-Key": "g"})
    assert problem(replay, 422)["batch_id"] == none["batch_id"] and replay.headers["Idempotent-Replayed"] == "true"
    problem(stack.http.post("/api/v1/ingest", content=b"x", headers={"Content-Type": "application/pdf"}), 415)


# hour, actual, expected, lower, upper: Saturday 1 June and Sunday 2 June 2019
HOURS = [((1, 22), 8.0, 11.0, 9.5, 12.5),   # below the lower bound
         ((1, 23), 13.0, 11.0, 9.5, 12.5),  # above the upper bound
         ((2, 0), 10.0, 10.5, 9.0, 12.0),
         ((2, 1), 11.5, 10.5, 9.0, 12.0),
         ((2, 2), 20.0, 10.5, 9.0, 12.0),   # above
         ((2, 3), 9.0, 10.5, 9.0, 12.0)]    # on the lower bound: not below


def test_expected_sums_actual_and_expected_per_interval(make_stack) -> None:
    stack = make_stack()
    with _dc(stack) as dc:
        _site(dc)
        readings = [{**GOOD, "timestamp": _hour(*h), "quantity": a} for h, a, *_ in HOURS]
        readings.append({**GOOD, "timestamp": _hour(2, 4), "quantity": 30})  # no prediction: not counted
        assert dc.post("/api/v1/ingest", json={"records": readings}).json()["accepted"] == 7
        stored = dc.put("/api/v1/predictions", json={"model_name": "carbon-baseline", "model_version": "3",
                                                     "unit": "kWh", "predictions": [
            {"site": "s1", "meter": "main", "activity_type": "electricity", "period_start": _hour(*h),
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
    from services.orchestration.dashboard import aggregate_residuals

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


def test_models_merges_the_registered_versions_with_what_the_engine_serves(make_stack) -> None:
    from fastapi import FastAPI

    from tests.conftest import LiveServer

    fake = FastAPI()  # the two reads of the ML engine the dashboard needs, as services/ml_engine/app.py answers
    registered = {"name": "carbon-baseline", "alias": "champion", "served": {"version": "4"},
                  "registry": {"reachable": True}, "versions": [{"version": "4", "aliases": ["champion"]}]}
    fake.get("/api/v1/models")(lambda: registered)
    fake.get("/version")(lambda: {"mlflow": "2.x", "model": {"version": "4"}})
    with LiveServer(fake) as ml:
        stack = make_stack(ml_engine_url=ml.url)
        body = stack.http.get("/api/v1/models").json()
    assert body == {"registered": registered, "serving": {"mlflow": "2.x", "model": {"version": "4"}}}


def test_absent_ml_engine_prefect_and_data_core_are_503_problems(make_stack) -> None:
    stack = make_stack(ml_engine_url="http://127.0.0.1:9")
    down = problem(stack.http.get("/api/v1/models"), 503)
    assert down["service"] == "ml-engine"
    problem(stack.http.get("/api/v1/flow-runs/not-a-uuid"), 404)
    assert problem(stack.http.get("/api/v1/flow-runs/7f1c1a43-96a5-4f6f-9d43-2a8d1c3b9e10"), 503)["service"] == "prefect"
    stack.dc.__exit__(None, None, None)  # the data core stops
    for path in ("/api/v1/sites", "/api/v1/emissions/totals", "/api/v1/expected"):
        assert problem(stack.http.get(path), 503)["service"] == "data-core", path
    problem(stack.http.post("/api/v1/ingest", json={"records": [{**GOOD, "timestamp": _hour(1, 0),
                                                                 "quantity": 1}]}), 503)

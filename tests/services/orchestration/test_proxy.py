"""The data-core proxy (``routes/proxy.py``). Without a data core: every table entry is its own route in
OpenAPI with its summary and path parameters; query strings pass as sent, ids as one quoted path segment,
answers (JSON or files) as given; a data-core 4xx comes back as the same problem, a refused token, a 5xx or
no answer as 503. With a real data core behind a real engine: emission queries and exports (CSV, XLSX),
sites, organisations, the readings extent, uploads with rejects and idempotent replays."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openpyxl
import pytest
from fastapi.testclient import TestClient

from services.common.datacore import AsyncDataCoreClient
from services.common.errors import PROBLEM_BASE
from services.orchestration.routes.proxy import EMISSION_KINDS, PROXY
from tests.conftest import AUTH
from tests.services.orchestration.conftest import GOOD, dc_client, hour, make_site, orchestration_settings, problem

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def engine() -> Iterator[tuple[TestClient, list[httpx.Request], Callable[[Handler], None]]]:
    """The real engine app whose data core is a function of the request (``answer(handler)`` sets it)."""
    from services.orchestration.app import create_app

    seen: list[httpx.Request] = []
    handler: dict[str, Handler] = {"fn": lambda r: httpx.Response(200, json={"ok": True})}

    def transport(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler["fn"](request)

    app = create_app(orchestration_settings("http://127.0.0.1:9", stream_poll_seconds=60))
    with TestClient(app, headers=AUTH) as client:
        app.state.dc = AsyncDataCoreClient("http://dc", "tok", http=httpx.AsyncClient(
            base_url="http://dc", transport=httpx.MockTransport(transport)))
        yield client, seen, lambda fn: handler.__setitem__("fn", fn)


def _concrete(path: str) -> str:
    return path.replace("{kind}", "totals").replace("{site_id}", "s1").replace("{batch_id}", "b1")


def test_every_table_entry_is_its_own_route_in_openapi() -> None:
    from services.orchestration.app import create_app

    paths = create_app(orchestration_settings("http://127.0.0.1:9")).openapi()["paths"]
    for entry in PROXY:
        operation = paths[f"/api/v1{entry.path}"][entry.method.lower()]
        assert operation["summary"] == entry.summary
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert declared == set(entry.params), entry.path
    assert len({(e.method, e.path) for e in PROXY}) == len(PROXY)
    assert "post" in paths["/api/v1/ingest"] and "get" in paths["/api/v1/expected"]  # the explicit ones


@pytest.mark.parametrize("entry", PROXY, ids=lambda e: f"{e.method} {e.path}")
def test_each_entry_forwards_query_and_answer_as_given(engine, entry) -> None:
    client, seen, answer = engine
    answer(lambda r: httpx.Response(200, content=b'{"rows": [1]}', headers={"content-type": "application/json",
                                                                          "link": "<next>"}))
    response = client.request(entry.method, f"/api/v1{_concrete(entry.path)}", params=[("a", "1"), ("a", "2")])
    assert response.status_code == 200 and response.content == b'{"rows": [1]}'
    assert response.headers["link"] == "<next>"
    upstream = seen[-1]
    assert upstream.method == entry.method
    assert upstream.url.path == _concrete(entry.upstream) and upstream.url.params.get_list("a") == ["1", "2"]
    assert upstream.headers.get("x-request-id")  # the data core logs this request under the same id


def test_ids_are_one_path_segment_and_files_come_through(engine) -> None:
    client, seen, answer = engine
    client.get("/api/v1/sites/a%3Fb%20c%23d")
    assert seen[-1].url.raw_path == b"/api/v1/sites/a%3Fb%20c%23d"  # not a query, not a fragment
    answer(lambda r: httpx.Response(200, content=b"a,b\n1,2\n", headers={
        "content-type": "text/csv; charset=utf-8", "content-disposition": 'attachment; filename="x.csv"'}))
    csv = client.get("/api/v1/emissions/timeseries", params={"format": "csv"})
    assert csv.content == b"a,b\n1,2\n" and csv.headers["content-type"].startswith("text/csv")
    assert csv.headers["content-disposition"] == 'attachment; filename="x.csv"'
    calls = len(seen)
    unknown = client.get("/api/v1/emissions/everything")
    assert unknown.status_code == 404 and all(k in unknown.json()["detail"] for k in EMISSION_KINDS)
    assert unknown.json()["kind"] == "everything" and len(seen) == calls  # refused here, not sent on


def test_a_data_core_4xx_comes_back_as_the_same_problem(engine) -> None:
    client, _, answer = engine
    problem = {"type": f"{PROBLEM_BASE}validation", "title": "Invalid input", "status": 422,
               "detail": "scope must be 1, 2 or 3, not 7", "instance": "/api/v1/emissions/totals", "field": "scope"}
    answer(lambda r: httpx.Response(422, json=problem, headers={"content-type": "application/problem+json"}))
    for entry in PROXY:
        response = client.request(entry.method, f"/api/v1{_concrete(entry.path)}")
        body = response.json()
        assert response.status_code == 422 and response.headers["content-type"].startswith("application/problem+json")
        assert (body["type"], body["title"], body["detail"], body["field"]) == (
            problem["type"], problem["title"], problem["detail"], "scope"), entry.path
        assert body["instance"] == f"/api/v1{_concrete(entry.path)}"  # this engine's path


@pytest.mark.parametrize(("upstream", "detail"), [
    (lambda r: httpx.Response(401, json={"detail": "no"}), "token"),
    (lambda r: httpx.Response(500, text="boom"), "failed (500)"),
    (lambda r: (_ for _ in ()).throw(httpx.ConnectError("refused")), "unreachable"),
])
def test_a_refused_token_a_failure_or_no_answer_is_503(engine, upstream: Any, detail: str) -> None:
    client, _, answer = engine
    answer(upstream)
    response = client.get("/api/v1/sites")
    assert response.status_code == 503 and response.json()["service"] == "data-core"
    assert detail in response.json()["detail"]


# --------------------------------------------------------------------------- a real engine in front of a real data core
def _csv(rows: list[dict[str, Any]]) -> str:
    columns = list(rows[0])
    return "\n".join([",".join(columns)] + [",".join(str(r[c]) for c in columns) for r in rows]) + "\n"


@pytest.mark.integration
def test_emission_queries_and_exports_come_through_unchanged(make_stack) -> None:
    stack = make_stack()
    with dc_client(stack) as dc:
        make_site(dc)
        records = [{**GOOD, "timestamp": hour(1, h), "quantity": 10 + h} for h in range(6)]
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


@pytest.mark.integration
def test_sites_organisations_and_the_readings_extent(make_stack) -> None:
    stack = make_stack()
    with dc_client(stack) as dc:
        make_site(dc, "s1")
        assert dc.post("/api/v1/sites", json={"id": "b2:x.y", "org_id": "acme", "name": "B2",
                                              "country": "GB"}).status_code == 201
        dc.post("/api/v1/ingest", json={"records": [{**GOOD, "timestamp": hour(1, 0), "quantity": 5}]})
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


@pytest.mark.integration
def test_an_upload_through_the_engine_keeps_good_rows_lists_rejects_and_replays_by_key(make_stack) -> None:
    stack = make_stack()
    with dc_client(stack) as dc:
        make_site(dc)
    rows = [{**GOOD, "timestamp": hour(1, h), "quantity": 10 + h} for h in range(3)]
    rows += [{**GOOD, "timestamp": hour(1, 5), "quantity": 7, "site": "ghost"},
             {**GOOD, "timestamp": hour(1, 6), "quantity": -3}]
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
    late = [{**GOOD, "timestamp": hour(2, 0), "quantity": 4}]
    body = stack.http.post("/api/v1/ingest", content=_csv(late), headers={"Content-Type": "text/csv"})
    assert body.status_code == 200 and body.json()["accepted"] == 1
    chunked = [{**GOOD, "timestamp": hour(2, 1), "quantity": 6}]  # no Content-Length: passed on chunked
    streamed = stack.http.post("/api/v1/ingest", content=iter([_csv(chunked)[:20].encode(), _csv(chunked)[20:].encode()]),
                               headers={"Content-Type": "text/csv"})
    assert streamed.status_code == 200 and streamed.json()["accepted"] == 1, streamed.text
    problem(stack.http.post("/api/v1/ingest", content=b"a,b\n1,2\n", headers={"Content-Type": ""}), 415)
    edition = problem(stack.http.post("/api/v1/ingest", json={"records": late}, params={"editions": "NOPE-1"}), 422)
    assert "NOPE-1" in edition["detail"] and edition["parameter"] == "editions"
    dup = stack.http.post("/api/v1/ingest", json={"records": late})
    assert dup.status_code == 200 and (dup.json()["accepted"], dup.json()["duplicates"]) == (0, 1)
    # all rows rejected: the data core's 422 with its rejects, replayed as such with the header
    ghosts = {"file": ("g.csv", _csv([{**GOOD, "site": "ghost", "timestamp": hour(3, 0), "quantity": 1}]),
                       "text/csv")}
    none = problem(stack.http.post("/api/v1/ingest", files=ghosts, headers={"Idempotency-Key": "g"}), 422)
    assert none["type"].endswith("/all-rows-rejected") and none["rejects"][0]["column"] == "site"
    replay = stack.http.post("/api/v1/ingest", files=ghosts, headers={"Idempotency-Key": "g"})
    assert problem(replay, 422)["batch_id"] == none["batch_id"] and replay.headers["Idempotent-Replayed"] == "true"
    problem(stack.http.post("/api/v1/ingest", content=b"x", headers={"Content-Type": "application/pdf"}), 415)


@pytest.mark.integration
def test_absent_ml_engine_prefect_and_data_core_are_503_problems(make_stack) -> None:
    stack = make_stack(ml_engine_url="http://127.0.0.1:9")
    down = problem(stack.http.get("/api/v1/models"), 503)
    assert down["service"] == "ml-engine"
    problem(stack.http.get("/api/v1/flow-runs/not-a-uuid"), 404)
    assert problem(stack.http.get("/api/v1/flow-runs/7f1c1a43-96a5-4f6f-9d43-2a8d1c3b9e10"), 503)["service"] == "prefect"
    stack.dc.__exit__(None, None, None)  # the data core stops
    for path in ("/api/v1/sites", "/api/v1/emissions/totals", "/api/v1/expected"):
        assert problem(stack.http.get(path), 503)["service"] == "data-core", path
    problem(stack.http.post("/api/v1/ingest", json={"records": [{**GOOD, "timestamp": hour(1, 0),
                                                                 "quantity": 1}]}), 503)

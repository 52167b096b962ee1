"""The expected-value library over fake services: pending readings listed, a model that cannot predict a
site skipped (the ML engine's 422 naming the field), other failures raised as the common client's errors
(503 worth a retry, 4xx not), hours of several meters left for review, stores chunked."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import httpx
import pandas as pd
import pytest

from services.common.contracts import SiteSkip
from services.common.datacore import DataCoreClient, TokenRefused, UpstreamProblem
from services.common.errors import ServiceUnavailable
from services.lib.expected import fill, fill_page, list_pending, new_summary, predict_with, store_with

pytestmark = pytest.mark.unit


def client(handler: Any, service: str = "data-core") -> DataCoreClient:
    return DataCoreClient("http://svc", "t", http=httpx.Client(base_url="http://svc",
                                                             transport=httpx.MockTransport(handler)),
                          service=service)


def ml_answer(status: int, body: dict[str, Any]) -> DataCoreClient:
    return client(lambda request: httpx.Response(status, json=body), service="ml-engine")


def test_list_pending_asks_the_data_core() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"count": 1, "readings": [
            {"site": "b1", "meter": "m", "activity_type": "electricity", "period_start": "2020-01-01T00:00:00",
             "quantity": 5.0, "unit": "kWh"}]})

    frame = list_pending(client(handler), "2020-01-01T00:00:00+00:00", None, ["b1"], ["electricity"], 10)
    assert frame.columns.tolist() == fill.PENDING_COLUMNS and len(frame) == 1
    params = seen[0].url.params
    assert params["limit"] == "10" and params.get_list("site") == ["b1"] and "end" not in params


def test_a_site_the_model_does_not_know_is_refused_with_the_reason() -> None:
    ml = ml_answer(422, {"type": "https://carbon-nexus.dev/problems/unprocessable", "title": "Unprocessable content",
                         "status": 422, "detail": "unknown site 'b9'", "field": "site"})
    answer = predict_with(ml, "b9", "electricity", ["2020-01-01T00:00:00Z"])
    assert answer == {"refused": "422 Unprocessable content: unknown site 'b9'"}


@pytest.mark.parametrize(("status", "body", "error"), [
    (503, {"status": 503, "title": "Service unavailable", "detail": "no model loaded yet"}, ServiceUnavailable),
    (401, {"status": 401, "title": "Unauthorized", "detail": "bad token"}, ServiceUnavailable),
    (429, {"status": 429, "title": "Too many requests", "detail": "slow down"}, UpstreamProblem),
])
def test_other_failures_are_raised(status: int, body: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        predict_with(ml_answer(status, body), "b1", "electricity", ["2020-01-01T00:00:00Z"])


def test_an_unreachable_ml_engine_is_unavailable() -> None:
    ml = DataCoreClient("http://127.0.0.1:9", "t", timeout=2.0, service="ml-engine")
    with pytest.raises(ServiceUnavailable, match="ml-engine is unreachable"):
        predict_with(ml, "b1", "electricity", ["2020-01-01T00:00:00Z"])


def test_stores_are_chunked(monkeypatch: pytest.MonkeyPatch) -> None:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        return httpx.Response(200, json={"stored": len(body["predictions"])})

    monkeypatch.setattr(fill, "STORE_CHUNK", 2)
    rows = [{"site": "b1", "expected": float(i)} for i in range(5)]
    assert store_with(client(handler), "carbon-baseline", "7", rows) == 5
    assert [len(b["predictions"]) for b in bodies] == [2, 2, 1]
    assert {(b["model_version"], b["unit"]) for b in bodies} == {("7", "kWh")}


def pending(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame([{"site": s, "meter": m, "activity_type": t, "period_start": p, "quantity": 1.0, "unit": "kWh"}
                         for s, m, t, p in rows], columns=fill.PENDING_COLUMNS)


def test_fill_page_predicts_stores_and_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fill, "PREDICT_CHUNK", 2)
    hours = [f"2020-01-01T0{h}:00:00" for h in range(3)]
    page = pending([("b1", "m", "electricity", h) for h in hours]
                   + [("b2", "a", "electricity", hours[0]), ("b2", "b", "electricity", hours[0])]  # two meters
                   + [("b9", "m", "electricity", hours[0])])
    asked: list[tuple[str, list[str]]] = []
    stored: list[dict[str, Any]] = []

    def predict(site: str, activity_type: str, stamps: list[str]) -> dict[str, Any] | None:
        asked.append((site, stamps))
        if site == "b9":
            return None
        return {"model": {"name": "carbon-baseline", "version": "4"},
                "predictions": [{"expected": 1.0, "lower": 0.5, "upper": 1.5} for _ in stamps]}

    def store(name: str, version: str, rows: list[dict[str, Any]]) -> int:
        stored.extend(rows)
        return len(rows)

    summary = new_summary()
    assert fill_page(page, summary, predict=predict, store=store) == 3
    assert asked == [("b1", hours[:2]), ("b1", hours[2:]), ("b9", hours[:1])]
    assert [r["meter"] for r in stored] == ["m"] * 3 and stored[0]["period_start"] == hours[0]
    assert summary == {"pending": 0, "stored": 3, "multi_meter_hours": 2, "model_versions": ["4"], "skipped": [
        {"site": "b9", "stage": "predict", "reason": "the model cannot predict it", "activity_type": "electricity",
         "meter": ""}], "unpredictable": []}
    assert fill_page(pending([]), summary, predict=predict, store=store) == 0


def test_the_library_functions_compose_over_clients() -> None:
    """What the event path does: the functions bound to its own clients."""
    def ml_handler(request: httpx.Request) -> httpx.Response:
        stamps = json.loads(request.content)["timestamps"]
        return httpx.Response(200, json={"model": {"name": "m", "version": "1"},
                                         "predictions": [{"expected": 2.0, "lower": 1.0, "upper": 3.0}] * len(stamps)})

    dc = client(lambda request: httpx.Response(200, json={"stored": len(json.loads(request.content)["predictions"])}))
    ml = client(ml_handler, service="ml-engine")
    summary = new_summary()
    page = pending([("b1", "m", "natural_gas", "2020-01-01T00:00:00")])
    assert fill_page(page, summary, predict=partial(predict_with, ml), store=partial(store_with, dc)) == 1
    assert summary["model_versions"] == ["1"]


@pytest.mark.parametrize("status", [429, 401])
def test_the_clients_errors_survive_a_process_task_runner(status: int) -> None:
    """A Dask worker sends a task's error back pickled: the flow's retry condition sees the same error."""
    import pickle

    from services.common.datacore import TokenRefused

    ml = ml_answer(status, {"status": status, "title": "No", "detail": "refused", "field": "timestamps"})
    with pytest.raises((UpstreamProblem, TokenRefused)) as caught:
        predict_with(ml, "b1", "electricity", [])
    back = pickle.loads(pickle.dumps(caught.value))
    assert type(back) is type(caught.value) and back.status == caught.value.status
    assert back.detail == caught.value.detail and back.response.status_code == status


# --------------------------------------------------------------------------- issue #17 part 4: poison sites
# The evaluation set of the expected-value library: one site whose prediction or store fails on its own data
# is left out and reported (site, stage, reason), every other site is filled exactly as without it, and a
# service that is down still fails the page. Build set: the ML engine refusing one site (unknown site, bad
# timestamps), an answer that does not fit the request. HELD OUT (run once, at the end): ``test_heldout_*``,
# the data core refusing to store one site's expected values.
HOURS = [f"2020-01-01T{h:02d}:00:00" for h in range(6)]
PAGE_OF_THREE = pending([(s, "m", "electricity", h) for s in ("b1", "b2", "b3") for h in HOURS])


def fake_ml(refuse: dict[str, tuple[int, dict[str, Any]]] | None = None,
            short: set[str] | None = None) -> tuple[DataCoreClient, list[str]]:
    """An ML engine that predicts 10 + hour for every hour, answers ``refuse[site]`` for those sites and one
    prediction too few for the sites in ``short``."""
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        asked.append(body["site"])
        if body["site"] in (refuse or {}):
            status, problem = (refuse or {})[body["site"]]
            return httpx.Response(status, json=problem)
        stamps = body["timestamps"][: -1 if body["site"] in (short or set()) else None]
        return httpx.Response(200, json={"model": {"name": "carbon-baseline", "version": "5"}, "predictions": [
            {"expected": 10.0 + int(t[11:13]), "lower": 9.0, "upper": 30.0} for t in stamps]})

    return client(handler, service="ml-engine"), asked


def fake_store(refuse: set[str] | None = None, status: int = 422) -> tuple[DataCoreClient, list[dict[str, Any]]]:
    stored: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        rows = json.loads(request.content)["predictions"]
        if {r["site"] for r in rows} & (refuse or set()):
            return httpx.Response(status, json={"status": status, "title": "Unprocessable content",
                                                "detail": "predictions[0].expected: must be finite",
                                                "field": "predictions"})
        stored.extend(rows)
        return httpx.Response(200, json={"stored": len(rows)})

    return client(handler), stored


def fill_with(ml: DataCoreClient, dc: DataCoreClient, page: pd.DataFrame = PAGE_OF_THREE) -> dict[str, Any]:
    summary = new_summary()
    fill_page(page, summary, predict=partial(predict_with, ml), store=partial(store_with, dc))
    return summary


@pytest.fixture(scope="module")
def clean_rows() -> list[dict[str, Any]]:
    """What b1 and b3 get when b2 is not on the page at all."""
    ml, _ = fake_ml()
    dc, stored = fake_store()
    summary = fill_with(ml, dc, PAGE_OF_THREE[PAGE_OF_THREE["site"] != "b2"])
    assert summary["skipped"] == [] and summary["stored"] == 12
    return stored


def skip_of(summary: dict[str, Any]) -> SiteSkip:
    [skip] = [SiteSkip.model_validate(s) for s in summary["skipped"]]
    assert skip.site == "b2" and skip.activity_type == "electricity"
    assert "Traceback" not in skip.reason and "\n" not in skip.reason
    return skip


@pytest.mark.parametrize(("problem", "reason"), [
    ({"status": 422, "title": "Unprocessable content", "detail": "unknown site 'b2' for electricity", "field": "site"},
     "422 Unprocessable content: unknown site 'b2' for electricity"),
    ({"status": 422, "title": "Invalid request", "detail": "timestamps: must span at most 10000 hours",
      "errors": [{"field": "timestamps"}]}, "422 Invalid request: timestamps: must span at most 10000 hours"),
], ids=["unknown-site", "bad-timestamps"])
def test_the_ml_engine_refusing_one_site(clean_rows: list[dict[str, Any]], problem: dict[str, Any],
                                         reason: str) -> None:
    ml, asked = fake_ml(refuse={"b2": (422, problem)})
    dc, stored = fake_store()
    summary = fill_with(ml, dc)
    skip = skip_of(summary)
    assert (skip.stage, skip.reason) == ("predict", reason)
    assert stored == clean_rows and summary["stored"] == 12 and asked == ["b1", "b2", "b3"]


def test_an_answer_that_does_not_fit_the_request(clean_rows: list[dict[str, Any]]) -> None:
    """Five predictions for six hours: nothing of the site is stored, the others are."""
    ml, _ = fake_ml(short={"b2"})
    dc, stored = fake_store()
    summary = fill_with(ml, dc)
    skip = skip_of(summary)
    assert skip.stage == "predict" and skip.reason.startswith("ValueError: ") and stored == clean_rows


@pytest.mark.parametrize(("status", "error"), [(503, ServiceUnavailable), (401, TokenRefused), (403, TokenRefused)])
def test_an_ml_engine_that_is_down_or_refuses_our_token_fails_the_page(status: int, error: type[Exception]) -> None:
    ml, _ = fake_ml(refuse={"b2": (status, {"status": status, "title": "No", "detail": "down"})})
    dc, _ = fake_store()
    with pytest.raises(error):
        fill_with(ml, dc)


def test_a_data_core_that_fails_storing_fails_the_page() -> None:
    ml, _ = fake_ml()
    dc, _ = fake_store(refuse={"b2"}, status=500)
    with pytest.raises(ServiceUnavailable):
        fill_with(ml, dc)


def test_heldout_the_data_core_refusing_to_store_one_sites_values(clean_rows: list[dict[str, Any]]) -> None:
    """HELD OUT. The prediction is fine; the data core refuses to store it (422) for one site only."""
    ml, _ = fake_ml()
    dc, stored = fake_store(refuse={"b2"})
    summary = fill_with(ml, dc)
    skip = skip_of(summary)
    assert skip.stage == "store" and "422" in skip.reason and "must be finite" in skip.reason
    assert stored == clean_rows and summary["stored"] == 12


def test_hours_the_engine_cannot_predict_yet_are_reported_and_the_rest_stored() -> None:
    """#17: a new site's hours before the fleet model has its 7 days come back without an expected value and
    with a reason: they are not stored (left pending), counted once per site with the first hour filled."""
    hours = [f"2020-01-0{d}T00:00:00" for d in range(1, 6)]
    page = pending([("new", "m", "electricity", h) for h in hours])
    stored: list[dict[str, Any]] = []

    def predict(site: str, activity_type: str, stamps: list[str]) -> dict[str, Any] | None:
        ready = [s >= hours[3] for s in stamps]
        return {"model": {"name": "carbon-baseline", "version": "5"}, "predictions": [
            {"expected": 2.0, "lower": 1.0, "upper": 3.0, "basis": "fleet"} if ok else
            {"expected": None, "lower": None, "upper": None, "basis": "none", "reason": "needs 7 days, has 3"}
            for ok in ready]}

    def store(name: str, version: str, rows: list[dict[str, Any]]) -> int:
        stored.extend(rows)
        return len(rows)

    summary = new_summary()
    assert fill_page(page, summary, predict=predict, store=store) == 2
    assert [r["period_start"] for r in stored] == hours[3:] and summary["skipped"] == []
    assert summary["unpredictable"] == [{"site": "new", "activity_type": "electricity", "hours": 3, "first": hours[0],
                                         "last": hours[2], "reason": "needs 7 days, has 3",
                                         "first_filled": hours[3]}]

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

from services.common.datacore import DataCoreClient, UpstreamProblem
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


def test_a_site_the_model_does_not_know_is_skipped() -> None:
    ml = ml_answer(422, {"type": "https://carbon-nexus.dev/problems/unprocessable", "title": "Unprocessable content",
                         "status": 422, "detail": "unknown site 'b9'", "field": "site"})
    assert predict_with(ml, "b9", "electricity", ["2020-01-01T00:00:00Z"]) is None


@pytest.mark.parametrize(("status", "body", "error"), [
    (422, {"status": 422, "title": "Invalid request", "detail": "invalid: timestamps", "errors": []}, UpstreamProblem),
    (503, {"status": 503, "title": "Service unavailable", "detail": "no model loaded yet"}, ServiceUnavailable),
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
    assert summary == {"pending": 0, "stored": 3, "skipped_sites": ["b9/electricity"], "multi_meter_hours": 2,
                       "model_versions": ["4"]}
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


@pytest.mark.parametrize("status", [422, 401])
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

"""The chatbot's data-core client: every answer with the citation of its query, reference data cached, and
the shared client's error mapping (a data-core problem passed on, a failure or refused token a 503)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.common.datacore import UpstreamProblem
from services.common.errors import ServiceUnavailable
from services.rag.datacore import DataCoreClient

pytestmark = pytest.mark.unit


def client(handler: Any, **kwargs: Any) -> tuple[DataCoreClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)  # type: ignore[no-any-return]

    http = httpx.Client(base_url="http://dc", transport=httpx.MockTransport(record))
    return DataCoreClient("http://dc/", http=http, **kwargs), seen


def test_an_answer_comes_with_the_citation_of_its_query() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/sites":
            return httpx.Response(200, json=[{"id": "b2"}])
        return httpx.Response(200, json={"total_kg_co2e": 5.0, "ledger_version": 3})

    dc, seen = client(answer)
    body, citation = dc.totals(scope=[1, 2], site=None, start="2020-01-01", category=[])
    assert body["total_kg_co2e"] == 5.0
    assert citation == {"type": "query", "endpoint": "/api/v1/emissions/totals",
                        "params": {"scope": [1, 2], "start": "2020-01-01"}, "ledger_version": 3,
                        "url": "http://dc/api/v1/emissions/totals?scope=1&scope=2&start=2020-01-01"}
    assert seen[0].url.query == b"scope=1&scope=2&start=2020-01-01"
    _body, bare = dc.get("/api/v1/sites")
    assert bare["url"] == "http://dc/api/v1/sites" and "ledger_version" not in bare


def test_ids_are_one_path_segment() -> None:
    dc, seen = client(lambda r: httpx.Response(200, json={}))
    dc.site("../x?y")
    dc.hotspot("a/b")
    assert [r.url.raw_path for r in seen] == [b"/api/v1/sites/..%2Fx%3Fy", b"/api/v1/hotspots/a%2Fb"]


def test_reference_data_is_cached() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/sites":
            return httpx.Response(200, json=[{"id": "b2", "name": "B2"}])
        if request.url.path == "/api/v1/emissions/totals":
            return httpx.Response(200, json={"rows": [{"activity_type": "natural_gas"},
                                                      {"activity_type": "electricity"}]})
        return httpx.Response(200, json={"rows": [{"period": "2020-02-01T00:00:00"}, {"period": "2019-12-01"},
                                                  {"period": "2020-02-01"}]})

    dc, seen = client(answer)
    for _ in range(2):
        assert dc.sites() == {"b2": {"id": "b2", "name": "B2"}}
        assert dc.activity_types() == ["electricity", "natural_gas"]
        assert dc.year_months() == [(2019, 12), (2020, 2)]
    assert len(seen) == 3
    uncached, seen_again = client(answer, cache_seconds=0)
    uncached.sites()
    uncached.sites()
    assert len(seen_again) == 2


@pytest.mark.parametrize(("status", "error", "answered"), [
    (404, UpstreamProblem, 404), (422, UpstreamProblem, 422), (400, UpstreamProblem, 400),
    (401, ServiceUnavailable, 503), (403, ServiceUnavailable, 503), (500, ServiceUnavailable, 503),
])
def test_errors_are_the_shared_clients(status: int, error: type[Exception], answered: int) -> None:
    problem = {"type": "https://carbon-nexus.dev/problems/not-found", "title": "Not found", "status": status,
               "detail": "no hotspot 'h9'"}
    dc, _ = client(lambda r: httpx.Response(status, json=problem))
    with pytest.raises(error) as raised:
        dc.hotspot("h9")
    assert raised.value.status == answered  # type: ignore[attr-defined]
    if error is UpstreamProblem:
        assert str(raised.value) == "no hotspot 'h9'"  # what a chat answer's decline reads


def test_no_answer_is_503() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    dc, _ = client(refuse)
    with pytest.raises(ServiceUnavailable, match="unreachable: ConnectError"):
        dc.sites()

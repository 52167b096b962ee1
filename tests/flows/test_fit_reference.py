"""Issue #18: the ``fit-reference`` flow's work (its function, no Prefect server): an explicit baseline stores a
reference per series; ``pending`` refits only the series a person accepted as the new normal, from then."""

from __future__ import annotations

import httpx
import pytest

import flows.fit_reference as flow_module
from services.common.datacore import DataCoreClient
from services.lib.hotspots.scan import utc
from tests.services.lib.hotspots.test_scan_reference import SITES, Fake, arc  # noqa: F401  (fixture)

pytestmark = pytest.mark.unit


def _client(fake: Fake) -> DataCoreClient:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/readings/extent":
            return httpx.Response(200, json={"first": "2019-01-01T00:00:00Z", "last": "2019-06-30T23:00:00Z",
                                             "sites": SITES})
        return fake.handle(request)

    return DataCoreClient("http://dc", "t", http=httpx.Client(base_url="http://dc",
                                                              transport=httpx.MockTransport(handle)))


def test_an_explicit_baseline_then_a_pending_rebaseline(arc, monkeypatch) -> None:  # noqa: F811
    fake = Fake(arc, utc("2019-01-01"), utc("2019-07-01"), None)
    monkeypatch.setattr(flow_module, "service_client", lambda _: _client(fake))
    out = flow_module.fit_reference.fn(start="2019-01-01", end="2019-07-01")
    assert out["stored"] == 2 and {b["reason"] for b in fake.baselines} == {"rebaseline"}
    assert [b["period_start"] for b in fake.baselines] == ["2019-01-01T00:00:00+00:00"] * 2
    # b58's hotspot accepted as the new normal from 1 April: only that series is refit, from then
    stored = fake.baselines
    handle = fake.handle

    def with_pending(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/reference-baselines" and request.method == "GET":
            return httpx.Response(200, json={"count": 2, "baselines": [
                {**b, "rebaseline_from": "2019-04-01T00:00:00Z" if b["site"] == "b58" else None} for b in stored]})
        return handle(request)

    fake.handle = with_pending  # type: ignore[method-assign]
    again = flow_module.fit_reference.fn(pending=True, days=60)
    assert again["series"] == ["b58/main/electricity"]
    by_site = {b["site"]: b for b in fake.baselines}
    assert by_site["b58"]["reason"] == "new_normal" and by_site["b58"]["period_start"].startswith("2019-04-01")
    assert by_site["b77"]["reason"] == "rebaseline"


def test_the_schedule_fits_only_series_without_a_reference(arc, monkeypatch) -> None:  # noqa: F811
    """The daily deployment (pending + new_only) fits a new series on its first days and never moves a stored
    reference: a second run stores nothing."""
    fake = Fake(arc, utc("2019-01-01"), utc("2019-07-01"), None)
    monkeypatch.setattr(flow_module, "service_client", lambda _: _client(fake))
    first = flow_module.fit_reference.fn(pending=True, new_only=True, days=60)
    assert first["stored"] == 2 and {b["reason"] for b in fake.baselines} == {"initial"}
    assert {b["period_end"] for b in fake.baselines} == {"2019-03-02T00:00:00+00:00"}
    kept = [dict(b) for b in fake.baselines]
    again = flow_module.fit_reference.fn(pending=True, new_only=True, days=60)
    assert again["stored"] == 0 and fake.baselines == kept
    # a series with fewer than `days` days of readings waits for a later run
    fake.baselines = []
    assert flow_module.fit_reference.fn(new_only=True, days=400)["stored"] == 0

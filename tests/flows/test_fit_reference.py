"""Issue #18: the ``fit-reference`` flow's work (its function, no Prefect server): an explicit baseline stores a
reference per series; ``pending`` refits only the series a person accepted as the new normal, from then."""

from __future__ import annotations

import io

import httpx
import pandas as pd
import pytest

import flows.fit_reference as flow_module
from services.common.datacore import DataCoreClient
from services.lib.hotspots.scan import utc
from tests.services.lib.hotspots.test_scan_reference import SITES, Fake, arc  # noqa: F401  (fixture)

pytestmark = pytest.mark.unit


def _client(fake: Fake, seen: list[httpx.Request] | None = None, since: dict[str, str] | None = None,
            meter_of: dict[str, str] | None = None) -> DataCoreClient:
    """The fake data core, answering ``/residuals`` as the real one does: only the sites and hours asked for, in
    [start, end), ordered by hour, at most ``limit`` rows. ``since``: a site's readings begin then; ``meter_of``:
    a site's readings are another meter of the first site. ``seen``: its requests."""
    moved = meter_of or {}
    sites = [s for s in SITES if s not in moved]

    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        if request.url.path == "/api/v1/readings/extent":
            return httpx.Response(200, json={"first": "2019-01-01T00:00:00Z", "last": "2019-06-30T23:00:00Z",
                                             "sites": sites})
        if request.url.path != "/api/v1/residuals":
            return fake.handle(request)
        frame = pd.read_csv(io.StringIO(fake.residuals()), keep_default_na=False, dtype={"meter": str})
        hour = pd.to_datetime(frame["period_start"], utc=True)
        keep = pd.Series(True, index=frame.index)
        for site, t in (since or {}).items():
            keep &= (frame["site"] != site) | (hour >= utc(t))
        for site, meter in moved.items():
            frame.loc[frame["site"] == site, "meter"] = meter
            frame.loc[frame["site"] == site, "site"] = sites[0]
        q = request.url.params
        keep &= frame["site"].isin(q.get_list("site") or sites)
        if "start" in q:
            keep &= hour >= utc(q["start"])
        if "end" in q:
            keep &= hour < utc(q["end"])
        frame = frame[keep].assign(_h=hour[keep]).sort_values(["_h", "site", "meter"], kind="stable")
        frame = frame.drop(columns="_h").head(int(q.get("limit", len(frame))))
        return httpx.Response(200, text=frame.to_csv(index=False), headers={"content-type": "text/csv"})

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


def _reads(seen: list[httpx.Request]) -> list[tuple[str, pd.Timestamp, pd.Timestamp, str | None]]:
    """The ``/residuals`` reads: (site, start, end, limit); each names its site and window."""
    qs = [r.url.params for r in seen if r.url.path == "/api/v1/residuals"]
    return [(q.get_list("site")[0], utc(q["start"]), utc(q["end"]), q.get("limit")) for q in qs]


def test_the_schedule_reads_windows_of_a_site_not_its_history(arc, monkeypatch) -> None:  # noqa: F811
    """``new_only`` reads a site's first hour, its first ``days`` days and its last day, not its six months;
    a site that begins later is fit on its own first ``days`` days."""
    fake = Fake(arc, utc("2019-01-01"), utc("2019-07-01"), None)
    seen: list[httpx.Request] = []
    monkeypatch.setattr(flow_module, "service_client", lambda _: _client(fake, seen, since={"b77": "2019-04-01"}))
    assert flow_module.fit_reference.fn(new_only=True, days=30)["stored"] == 2
    assert {(b["site"], b["period_start"][:10], b["period_end"][:10]) for b in fake.baselines} == {
        ("b58", "2019-01-01", "2019-01-31"), ("b77", "2019-04-01", "2019-05-01")}
    d = utc
    reads = _reads(seen)
    assert len(reads) == 6 and set(reads) == {
        ("b58", d("2019-01-01"), d("2019-07-01"), "1"), ("b58", d("2019-01-01"), d("2019-01-31"), None),
        ("b58", d("2019-06-30"), d("2019-07-01"), None),
        ("b77", d("2019-01-01"), d("2019-07-01"), "1"), ("b77", d("2019-04-01"), d("2019-05-01"), None),
        ("b77", d("2019-06-30"), d("2019-07-01"), None)}
    # stored: the daily run reads the same windows and stores nothing
    seen.clear()
    assert flow_module.fit_reference.fn(pending=True, new_only=True, days=30)["stored"] == 0
    assert max(e - s for _site, s, e, limit in _reads(seen) if limit is None) == pd.Timedelta(days=30)


def test_a_meter_added_later_is_found_by_looking_back_not_by_reading_back(arc, monkeypatch) -> None:  # noqa: F811
    """b77's readings as a second meter of b58 from April: seen in the last day, dated by one-day looks back
    in 30-day steps, fit on its first 30 days; nothing reads more than 60 days."""
    fake = Fake(arc, utc("2019-01-01"), utc("2019-07-01"), None)
    seen: list[httpx.Request] = []
    monkeypatch.setattr(flow_module, "service_client",
                        lambda _: _client(fake, seen, since={"b77": "2019-04-01"}, meter_of={"b77": "sub"}))
    assert flow_module.fit_reference.fn(new_only=True, days=30)["series"] == ["b58/main/electricity",
                                                                             "b58/sub/electricity"]
    sub = next(b for b in fake.baselines if b["meter"] == "sub")
    assert (sub["period_start"][:10], sub["period_end"][:10]) == ("2019-04-01", "2019-05-01")
    d = utc
    looks = sorted(s for _site, s, e, limit in _reads(seen) if e - s == pd.Timedelta(days=1))
    assert looks == [d("2019-03-03"), d("2019-04-02"), d("2019-05-02"), d("2019-06-01"), d("2019-06-30")]
    assert max(e - s for _site, s, e, limit in _reads(seen) if limit is None) <= pd.Timedelta(days=60)

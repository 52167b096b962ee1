"""The evaluation set of issue #17 part 4 for :func:`scan_sites`: one site whose data the scan cannot handle
is left out and reported (site, stage, reason), every other site's hotspots are exactly those of a scan
without it, and a data core that is down still fails the scan.

Real residuals (three Cambridge buildings and a small production baseline, tests/services/lib/hotspots/
conftest.py) with a sustained excess injected, served by a fake data core that answers as the real one
(``/residuals?format=csv``, ``/emissions/totals``); a fourth site ``px`` carries the poison.

Poison shapes used while building: half-hourly readings, a reading of infinity, negative readings, a site
with a single reading, the data core refusing one site's residuals (422).
HELD OUT (run only once the design was done): ``test_heldout_*``: a residual whose expected value is not
a number, and the data core refusing one site's emission totals.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from services.common.contracts import SiteSkip
from services.common.datacore import DataCoreClient, TokenRefused
from services.common.errors import ServiceUnavailable
from services.lib.hotspots.scan import scan_sites, utc
from tests.services.lib.hotspots.conftest import HOLDOUT_END, HOLDOUT_START

pytestmark = pytest.mark.unit
HEALTHY = ["b0", "b2", "b33"]
START, END = utc(HOLDOUT_START), utc(HOLDOUT_END)
COLUMNS = ["site", "meter", "activity_type", "period_start", "actual", "unit", "expected", "lower", "upper",
           "model_name", "model_version"]
Poison = Callable[[pd.DataFrame], pd.DataFrame]


@pytest.fixture(scope="module")
def residuals(make_residuals) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """The holdout's residuals with +70 % electricity at b0 for four days (hotspots to compare)."""
    def excess(series: dict[str, pd.DataFrame]) -> None:
        long = series["electricity"]
        ts = long["timestamp"]
        hot = (long["site"] == "b0") & (ts >= utc("2020-02-10")) & (ts < utc("2020-02-14"))
        long.loc[hot, "value"] *= 1.7

    return make_residuals(excess)


def copy_of(frame: pd.DataFrame, site: str = "b2", as_site: str = "px") -> pd.DataFrame:
    return frame[frame["site"] == site].assign(site=as_site)


class FakeDataCore:
    """The data core's residual and emission answers over ``frame``; ``refuse`` names the sites whose
    request it answers with ``status`` (per endpoint: "residuals" or "totals")."""

    def __init__(self, frame: pd.DataFrame, refuse: dict[str, set[str]] | None = None, status: int = 422) -> None:
        self.frame, self.refuse, self.status = frame, refuse or {}, status
        self.asked: list[tuple[str, list[str]]] = []

    def client(self) -> DataCoreClient:
        http = httpx.Client(base_url="http://dc", transport=httpx.MockTransport(self.handle))
        return DataCoreClient("http://dc", "t", http=http)

    def handle(self, request: httpx.Request) -> httpx.Response:
        sites = request.url.params.get_list("site")
        endpoint = request.url.path.rsplit("/", 1)[-1]
        self.asked.append((endpoint, sites))
        if set(sites) & self.refuse.get(endpoint, set()) or "*" in self.refuse.get(endpoint, set()):
            return httpx.Response(self.status, json={"type": "about:blank", "title": "Unprocessable content",
                                                     "status": self.status, "detail": f"refused {sites}",
                                                     "field": "site"})
        part = self.frame[self.frame["site"].isin(sites)] if sites else self.frame
        if endpoint == "residuals":
            out = part.assign(period_start=part["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S"), unit="kWh",
                              model_name="carbon-baseline")[COLUMNS]
            out = out.sort_values(["period_start", "site", "meter", "activity_type"], kind="stable")
            buffer = io.StringIO()
            out.to_csv(buffer, index=False)
            return httpx.Response(200, text=buffer.getvalue(), headers={"content-type": "text/csv"})
        if endpoint == "totals":
            actual = pd.to_numeric(part["actual"], errors="coerce")  # the ledger holds finite readings only
            kg = actual.where(np.isfinite(actual)) * part["kg_per_kwh"]
            sums = part.assign(kg=kg).groupby(["site", "activity_type"], as_index=False)["kg"].sum()
            return httpx.Response(200, json={"rows": [[r.site, r.activity_type, float(r.kg), 1, float(r.kg) / 1000]
                                                      for r in sums.itertuples()]})
        return httpx.Response(404, json={"status": 404, "title": "Not found", "detail": "no"})


def scan(frame: pd.DataFrame, sites: list[str], **fake: Any) -> tuple[dict[str, Any], FakeDataCore]:
    dc = FakeDataCore(frame, **fake)
    return scan_sites(dc.client(), sites, START, END, as_of=END), dc


def of_sites(result: dict[str, Any], sites: list[str]) -> list[dict[str, Any]]:
    return [h for h in result["hotspots"] if h["site"] in sites]


@pytest.fixture(scope="module")
def clean(residuals: pd.DataFrame) -> dict[str, Any]:
    """The scan without the poison site: what every healthy site must get in each poisoned scan."""
    result, _ = scan(residuals, HEALTHY)
    assert result["skipped"] == [] and any(h["site"] == "b0" and h["kind"] == "above_expected"
                                           for h in result["hotspots"])
    return result


def check(result: dict[str, Any], clean: dict[str, Any], stage: str, reason: str, **where: str) -> SiteSkip:
    """The poison site is reported once with its stage and reason; the healthy sites' hotspots are identical."""
    assert of_sites(result, HEALTHY) == clean["hotspots"]
    skips = [SiteSkip.model_validate(s) for s in result["skipped"]]
    assert [s.site for s in skips] == ["px"], skips
    skip = skips[0]
    assert skip.stage == stage and reason in skip.reason, skip
    assert "Traceback" not in skip.reason and "\n" not in skip.reason and len(skip.reason) <= 300
    for key, value in where.items():
        assert getattr(skip, key) == value, skip
    return skip


# --------------------------------------------------------------------------- poison shapes (build set)
def half_hourly(frame: pd.DataFrame) -> pd.DataFrame:
    px = copy_of(frame)
    later = px.assign(timestamp=px["timestamp"] + pd.Timedelta(minutes=30))
    both = pd.concat([px, later]).assign(actual=lambda d: d["actual"] / 2)
    return pd.concat([frame, both], ignore_index=True)


def test_half_hourly_readings_of_one_site_are_scanned_not_skipped(residuals: pd.DataFrame,
                                                                  clean: dict[str, Any]) -> None:
    """The measured failure of main: one site's half-hourly file made the whole chunk's scan raise
    "duplicate readings for one (site, meter, activity_type, timestamp)". Since the hourly grid sums the
    readings of an hour, such a site is scanned like the others and nobody is skipped."""
    result, _ = scan(half_hourly(residuals), [*HEALTHY, "px"])
    assert of_sites(result, HEALTHY) == clean["hotspots"]
    assert result["skipped"] == []
    assert result["series"] == len(HEALTHY) * 2 + 2


def test_a_replayed_timestamp_of_one_site(residuals: pd.DataFrame, clean: dict[str, Any]) -> None:
    """The same timestamp twice in one series (a replay) would count twice in its hour: that series is
    skipped and reported, the others are untouched."""
    px = copy_of(residuals)
    result, _ = scan(pd.concat([residuals, px, px.iloc[:5]], ignore_index=True), [*HEALTHY, "px"])
    check(result, clean, "validate", "5 readings are replays of a timestamp already read")


def test_an_infinite_reading_is_left_out_before_it_spoils_the_other_sites(residuals: pd.DataFrame,
                                                                          clean: dict[str, Any]) -> None:
    """Detection lays every series end to end in one array of running sums: an infinity at a site that
    sorts before the others would silently turn their sums into NaN; it is caught before detection."""
    px = copy_of(residuals, as_site="a0")  # sorts before b0: its running sums come first
    px.loc[px.index[(px["activity_type"] == "electricity").to_numpy()][100:103], "actual"] = np.inf
    result, _ = scan(pd.concat([residuals, px], ignore_index=True), ["a0", *HEALTHY])
    assert of_sites(result, HEALTHY) == clean["hotspots"]
    [skip] = [SiteSkip.model_validate(s) for s in result["skipped"]]
    assert (skip.site, skip.stage, skip.activity_type) == ("a0", "validate", "electricity")
    assert "3 readings are not finite" in skip.reason and skip.meter == "main-electricity"
    assert any(h["site"] == "a0" and h["activity_type"] == "natural_gas" for h in result["hotspots"]) or \
        result["series"] == 3 * 2 + 1  # its gas meter was still scanned


def test_negative_readings_of_one_meter(residuals: pd.DataFrame, clean: dict[str, Any]) -> None:
    px = copy_of(residuals)
    gas = px.index[(px["activity_type"] == "natural_gas").to_numpy()]
    px.loc[gas[10:15], "actual"] = -4.0
    result, _ = scan(pd.concat([residuals, px], ignore_index=True), [*HEALTHY, "px"])
    check(result, clean, "validate", "5 readings are negative", activity_type="natural_gas",
          meter="main-gas")
    assert result["series"] == 3 * 2 + 1  # px's electricity is scanned, its gas meter is not


def test_a_site_with_a_single_reading_is_scanned_not_skipped(residuals: pd.DataFrame,
                                                             clean: dict[str, Any]) -> None:
    """Not every odd site is poison: one reading is a short series (a silent meter after it, if anything)."""
    one = copy_of(residuals).head(1)
    result, _ = scan(pd.concat([residuals, one], ignore_index=True), [*HEALTHY, "px"])
    assert result["skipped"] == [] and of_sites(result, HEALTHY) == clean["hotspots"]


def test_the_data_core_refusing_one_sites_residuals(residuals: pd.DataFrame, clean: dict[str, Any]) -> None:
    frame = pd.concat([residuals, copy_of(residuals)], ignore_index=True)
    result, dc = scan(frame, [*HEALTHY, "px"], refuse={"residuals": {"px"}})
    skip = check(result, clean, "read", "422 Unprocessable content: refused ['px']")
    assert skip.activity_type == "" and skip.meter == ""
    reads = [sites for endpoint, sites in dc.asked if endpoint == "residuals"]
    assert reads == [[*HEALTHY, "px"], ["b0"], ["b2"], ["b33"], ["px"]]  # the chunk, then site by site


def test_a_healthy_scan_asks_once_per_endpoint(residuals: pd.DataFrame, clean: dict[str, Any]) -> None:
    """Containment costs nothing while every site is fine: one residual read, one totals read, one detection,
    and (issue #18) one read of the sites' reference baselines (none here: this data core predates them)."""
    result, dc = scan(residuals, HEALTHY)
    assert result == clean and [e for e, _ in dc.asked] == ["residuals", "totals", "reference-baselines"]


# --------------------------------------------------------------------------- the platform's failures still fail
@pytest.mark.parametrize(("status", "error"), [(503, ServiceUnavailable), (401, TokenRefused),
                                               (429, Exception)])
def test_a_data_core_that_is_down_or_refuses_our_token_fails_the_scan(residuals: pd.DataFrame, status: int,
                                                                      error: type[Exception]) -> None:
    with pytest.raises(error):
        scan(residuals, HEALTHY, refuse={"residuals": {"b2"}}, status=status)


def test_every_site_failing_fails_nothing_silently(residuals: pd.DataFrame) -> None:
    """Each site refused: each is reported, and the caller sees that no site was scanned."""
    result, _ = scan(residuals, HEALTHY, refuse={"residuals": set(HEALTHY)})
    assert [s["site"] for s in result["skipped"]] == HEALTHY and result["hotspots"] == [] and result["rows"] == 0


# --------------------------------------------------------------------------- HELD OUT: run once, at the end
def test_heldout_a_residual_whose_expected_value_is_not_a_number(residuals: pd.DataFrame,
                                                                 clean: dict[str, Any]) -> None:
    """HELD OUT. A cell the CSV reader cannot read as a number ("n/a") in one site's expected values: the
    whole column turns to text."""
    px = copy_of(residuals)
    frame = pd.concat([residuals, px], ignore_index=True).astype({"expected": object})
    frame.loc[frame.index[-5], "expected"] = "n/a"
    result, _ = scan(frame, [*HEALTHY, "px"])
    check(result, clean, "validate", "not a number")


def test_heldout_the_data_core_refusing_one_sites_emission_totals(residuals: pd.DataFrame,
                                                                  clean: dict[str, Any]) -> None:
    """HELD OUT. The residuals read fine; the emission totals of the window are refused for one site."""
    frame = pd.concat([residuals, copy_of(residuals)], ignore_index=True)
    result, _ = scan(frame, [*HEALTHY, "px"], refuse={"totals": {"px"}})
    check(result, clean, "read", "422")

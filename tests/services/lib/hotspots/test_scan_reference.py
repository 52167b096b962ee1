"""Issue #18 in the scan: a series with a stored reference baseline gets the reference rules (its lasting
drop is found, says ``expectation: reference``, the day-ahead's sustained kinds are left to it); a series
without one is scanned as before. Real meters of half-"b" buildings in a window where they were the second TEST split (TUNE since round 3,
origin test-2); faults made here."""

from __future__ import annotations

import io
import json

import httpx
import numpy as np
import pandas as pd
import pytest

from bench.hotspots_data import load, read_split
from services.common.datacore import DataCoreClient
from services.lib.hotspots.reference_scan import fit_references, peer_factor
from services.lib.hotspots.scan import scan_sites, utc

pytestmark = pytest.mark.unit
W0, W1 = utc("2019-10-21"), utc("2019-11-18")  # a window where half "b" is TEST in bench/hotspots_split.json
DROP = (utc("2019-10-31"), utc("2019-11-12"))
SITES = ["b58", "b77"]  # TEST-split buildings


@pytest.fixture(scope="module")
def arc():
    split = read_split()
    assert set(SITES) <= set(split["buildings"]["b"])
    assert any(w["start"] == "2019-10-21" and w["test_half"] == "b" for w in split["windows"])
    return load(split)


class Fake:
    def __init__(self, arc, start, end, drop_site: str | None) -> None:
        self.arc, self.start, self.end, self.drop_site = arc, start, end, drop_site
        self.baselines: list[dict] = []

    def residuals(self, sites: list[str] | None = None) -> str:
        parts = []
        for site in sites or SITES:
            ser = self.arc.readings["electricity"][site].loc[self.start:self.end - pd.Timedelta(hours=1)]
            vals = ser.to_numpy(float).copy()
            if site == self.drop_site:
                vals[(ser.index >= DROP[0]) & (ser.index < DROP[1])] *= 0.6
            parts.append(pd.DataFrame({"site": site, "meter": "main", "activity_type": "electricity",
                                       "period_start": ser.index.strftime("%Y-%m-%dT%H:%M:%S"), "actual": vals,
                                       "unit": "kWh", "expected": np.nan, "lower": np.nan, "upper": np.nan,
                                       "model_name": "carbon-baseline", "model_version": "3"}))
        buf = io.StringIO()
        pd.concat(parts).to_csv(buf, index=False)
        return buf.getvalue()

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/v1/residuals":
            return httpx.Response(200, text=self.residuals(request.url.params.get_list("site")),
                                  headers={"content-type": "text/csv"})
        if path == "/api/v1/emissions/totals":
            return httpx.Response(200, json={"rows": []})
        if path.endswith("/weather"):
            t = self.arc.temp.loc[self.start:self.end]
            csv = "timestamp,air_temperature_degC,relative_humidity_pct,global_irradiance_w_m2\n" + "".join(
                f"{ts.isoformat()},{v},," + "\n" for ts, v in t.items())
            return httpx.Response(200, text=csv, headers={"content-type": "text/csv"})
        if path == "/api/v1/reference-baselines":
            if request.method == "PUT":
                new = json.loads(request.content)["baselines"]
                keys = {(b["site"], b["meter"], b["activity_type"]) for b in new}
                self.baselines = [b for b in self.baselines
                                  if (b["site"], b["meter"], b["activity_type"]) not in keys] + new
                return httpx.Response(200, json={"stored": len(new)})
            return httpx.Response(200, json={"count": len(self.baselines),
                                             "baselines": [{**b, "rebaseline_from": None} for b in self.baselines]})
        return httpx.Response(404, json={"status": 404, "title": "Not found", "detail": "no"})

    def client(self) -> DataCoreClient:
        return DataCoreClient("http://dc", "t", http=httpx.Client(base_url="http://dc",
                                                                  transport=httpx.MockTransport(self.handle)))


def test_a_scan_with_stored_references_finds_the_drop_and_says_which_expectation(arc) -> None:
    fake = Fake(arc, utc("2019-01-01"), utc("2019-07-01"), None)
    dc = fake.client()
    frame = pd.read_csv(io.StringIO(fake.residuals()))
    frame = frame.assign(timestamp=pd.to_datetime(frame["period_start"], utc=True))
    stored = fit_references(dc, frame, utc("2019-01-01"), utc("2019-07-01"))
    assert [b["site"] for b in stored] == SITES and all(b["model"]["cv_rmse"] < 0.5 for b in stored)
    fake.start, fake.end, fake.drop_site = W0, W1, "b58"
    out = scan_sites(dc, SITES, W0, W1, as_of=W1)
    drops = [h for h in out["hotspots"] if h["evidence"].get("fault") == "level_shift_down"]
    assert [h["site"] for h in drops] == ["b58"] and drops[0]["evidence"]["expectation"] == "reference"
    assert utc(drops[0]["period_start"]) <= DROP[0] + pd.Timedelta(days=1)
    assert not [h for h in out["hotspots"] if h["site"] == "b77" and h["kind"] == "level_shift"]


def test_without_a_stored_reference_the_scan_is_as_before(arc) -> None:
    fake = Fake(arc, W0, W1, "b58")
    out = scan_sites(fake.client(), SITES, W0, W1, as_of=W1)
    assert all(h["evidence"].get("expectation") != "reference" for h in out["hotspots"])


def test_the_peer_factor_is_the_estates_median_day_and_one_with_few_series() -> None:
    ts = pd.date_range("2019-12-23", periods=48, freq="h", tz="UTC")
    rows = [pd.DataFrame({"site": f"s{i}", "meter": "", "activity_type": "electricity", "timestamp": ts,
                          "actual": np.where(ts.day == 24, 50.0, 100.0) * (3 if i == 0 else 1), "reference": 100.0})
            for i in range(6)]
    f = peer_factor(pd.concat(rows, ignore_index=True))
    assert np.allclose(f.reshape(6, 48)[:, :24], 1.0) and np.allclose(f.reshape(6, 48)[:, 24:], 0.5)
    assert np.allclose(peer_factor(pd.concat(rows[:3], ignore_index=True)), 1.0)

"""The event path with a monthly bill (issue #17): an ingest of a bill does not fail and yields no hourly
hotspot; the bill is judged against its degree-day expectation at once, and a bill above its interval becomes a
hotspot and an alert without waiting for the ``monthly-bills`` schedule. Real data core and orchestration engine
(uvicorn on 127.0.0.1, both dialects: the data core's outbox sends the event), real bills (b35's gas of the
Cambridge archive summed per month) and the Bedford weather. No ML engine: a bill needs none."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.conftest import AUTH, LiveServer, free_port
from tests.flows.test_monthly_bills import load
from tests.services.orchestration.conftest import orchestration_settings

pytestmark = pytest.mark.integration
LAST = "2020-12-01T00:00:00Z"


def _wait_for(get: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := get()):
        assert time.monotonic() < deadline, f"no {what} in {timeout} s"
        time.sleep(0.3)
    return found


def test_an_uploaded_bill_is_judged_at_once_and_a_high_one_raises_an_alert(client, make_settings) -> None:
    from services.data_core.app import create_app as data_core_app
    from services.orchestration.app import create_app as orchestration_app

    bills = load(client)  # b35, b2 and px: 2019-2020 bills
    dc_port = free_port()
    dc_url = f"http://127.0.0.1:{dc_port}"
    with LiveServer(orchestration_app(orchestration_settings(dc_url, ml_engine_url="http://127.0.0.1:9",
                                                             event_scan=True))) as oe, \
            LiveServer(data_core_app(make_settings(orchestration_url=oe.url, event_retry_seconds=0.5)),
                       port=dc_port) as dc:
        http = httpx.Client(base_url=dc.url, headers=AUTH, timeout=60, trust_env=False)
        _wait_for(lambda: httpx.get(oe.url + "/health", trust_env=False).status_code == 200, "engine")
        # the next bill of b35 (January 2021, no weather in the store after 2020: the model says how much it
        # knows), twice the December bill: far above any expectation
        december = bills[(bills["site"] == "b35") & (bills["period_start"] == LAST)].iloc[0]
        row = {"site": "b35", "meter": "gas-bill", "activity_type": "natural_gas", "unit": "kWh",
               "period_start": "2021-01-01T00:00:00Z", "period_end": "2021-02-01T00:00:00Z",
               "quantity": float(december["quantity"]) * 2}
        r = http.post("/api/v1/ingest", json={"records": [row]}, params={"editions": "DESNZ-2024"})
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
        alerts = _wait_for(lambda: http.get("/api/v1/alerts").json()["alerts"], "alert")
        [alert] = alerts
        hotspot = alert["hotspot"]
        assert (hotspot["site"], hotspot["meter"], hotspot["kind"]) == ("b35", "gas-bill", "above_expected")
        assert hotspot["period_start"] == "2021-01-01T00:00:00Z" and hotspot["evidence"]["granularity"] == "bill"
        stored = http.get("/api/v1/hotspots", params={"limit": 100}).json()["hotspots"]
        assert [h["id"] for h in stored] == [hotspot["id"]]  # the event judged its own bill only, no hourly finding
        judged = http.get("/api/v1/bills", params={"site": "b35", "start": "2021-01-01"}).json()["bills"]
        assert judged[0]["above_upper"] and judged[0]["expected"] > 0 and judged[0]["model"]["baseline_bills"] >= 6
        # a bill of a site within its expectation: judged and stored, no hotspot
        july = bills[(bills["site"] == "b2") & (bills["period_start"] == "2020-07-01T00:00:00Z")].iloc[0]
        calm = {**row, "site": "b2", "quantity": float(july["quantity"]),
                "period_start": "2021-07-01T00:00:00Z", "period_end": "2021-08-01T00:00:00Z"}
        assert http.post("/api/v1/ingest", json={"records": [calm]},
                         params={"editions": "DESNZ-2024"}).json()["accepted"] == 1
        _wait_for(lambda: http.get("/api/v1/bills", params={"site": "b2", "start": "2021-07-01"}).json()["bills"][0][
            "expected"] is not None, "expected value of the calm bill")
        time.sleep(1.0)
        assert len(http.get("/api/v1/hotspots", params={"limit": 100}).json()["hotspots"]) == 1
        http.close()

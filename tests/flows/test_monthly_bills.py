"""monthly-bills end to end in one process (real data core and orchestration engine as uvicorn servers on
127.0.0.1, both dialects, a temporary Prefect API), on real data: the Cambridge archive's hourly gas of b35 and
b2 summed into calendar-month bills (``services.data_core.demo.monthly_bills``), the Bedford station's weather.
A bill raised by 60 % is found against its degree-day expectation, stored, alerted; a re-run changes nothing; a
site without a station gets the 2P model and says so; a meter whose bills the model cannot take is skipped and
reported while the other sites are judged exactly as without it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import create_engine, update

from tests.conftest import AUTH, TOKEN, LiveServer
from tests.services.orchestration.conftest import orchestration_settings

pytestmark = pytest.mark.integration
FAULT = ("b35", "2020-02-01T00:00:00Z")  # +60 %


def _bills(site: str, as_site: str | None = None) -> pd.DataFrame:
    from services.data_core.demo import monthly_bills

    bills = monthly_bills(site, "gas").assign(site=as_site or site)
    hot = (bills["site"] == FAULT[0]) & (bills["period_start"] == FAULT[1])
    bills.loc[hot, "quantity"] *= 1.6
    return bills


def load(client: Any) -> pd.DataFrame:
    from services.data_core.demo import ORG, _load_weather

    assert client.post("/api/v1/organisations", json=ORG, headers=AUTH).status_code == 201
    _load_weather(client)
    for site, station in (("b35", "bedford"), ("b2", "bedford"), ("px", None)):
        body = {"id": site, "org_id": ORG["id"], "name": site, "country": "GB", "weather_station": station}
        assert client.post("/api/v1/sites", json=body, headers=AUTH).status_code == 201
    bills = pd.concat([_bills("b35"), _bills("b2"), _bills("b35", as_site="px")], ignore_index=True)
    r = client.post("/api/v1/ingest", headers=AUTH,
                    files={"file": ("bills.csv", bills.to_csv(index=False).encode(), "text/csv")})
    assert r.status_code == 200 and r.json()["accepted"] == len(bills), r.text
    return bills


@pytest.fixture
def bill_services(client, make_settings, monkeypatch):  # type: ignore[no-untyped-def]
    from services.data_core.app import create_app as data_core_app
    from services.orchestration.app import create_app as orchestration_app

    bills = load(client)
    with LiveServer(data_core_app(make_settings())) as dc, \
            LiveServer(orchestration_app(orchestration_settings(dc.url))) as oe:
        for key, value in {"DATA_CORE_URL": dc.url, "ORCHESTRATION_URL": oe.url, "API_TOKEN": TOKEN}.items():
            monkeypatch.setenv(key, value)
        yield {"client": client, "bills": bills}


def _judged(client: Any, site: str) -> list[dict[str, Any]]:
    return client.get("/api/v1/bills", params={"site": site}).json()["bills"]


def test_a_faulty_bill_is_found_stored_alerted_and_a_rerun_changes_nothing(prefect_harness, bill_services) -> None:
    from prefect.client.orchestration import get_client

    from flows.monthly_bills import monthly_bills

    client = bill_services["client"]
    first = monthly_bills()
    assert first["sites"] == 3 and first["meters"] == 3 and first["bills"] == 72 and first["stored"] == 72
    assert first["skipped"] == [] and first["level"] == 0.99
    assert first["judged"] == 3 * 18  # the first 6 bills of each meter have no baseline (G14: at least 6)
    b35 = _judged(client, "b35")
    assert all(b["expected"] is None and b["reason"].startswith("no baseline") and b["model"] is None for b in b35[:6])
    assert all(b["expected"] is not None and b["model"]["baseline_bills"] >= 6 for b in b35[6:])
    fault = next(b for b in b35 if b["period_start"] == FAULT[1])
    assert fault["above_upper"] and fault["model"]["kind"] in ("3PH", "5P") and fault["model"]["weather"] == "hourly"
    assert fault["model"]["heating_base_c"] is not None and fault["weather"] == 1.0 and fault["level"] == 0.99
    # a real heating building: the winter bills are expected far above the summer ones
    july = next(b for b in b35 if b["period_start"] == "2020-07-01T00:00:00Z")
    assert fault["expected"] > 2 * july["expected"]
    # the site without a station: the 2P model, weather none; the same bills otherwise
    px = _judged(client, "px")
    assert {b["model"]["kind"] for b in px[6:]} == {"2P"} and {b["model"]["weather"] for b in px[6:]} == {"none"}
    assert all(b["weather"] is None for b in px)
    hotspots = client.get("/api/v1/hotspots", params={"limit": 1000}).json()["hotspots"]
    [hit] = [h for h in hotspots if h["site"] == "b35" and h["period_start"] == FAULT[1]]
    assert hit["kind"] == "above_expected" and hit["meter"] == "gas-bill" and hit["activity_type"] == "natural_gas"
    assert hit["evidence"]["granularity"] == "bill" and hit["evidence"]["actual_kwh"] == pytest.approx(fault["kwh"])
    assert hit["excess_kwh"] == pytest.approx(fault["kwh"] - fault["expected"], rel=1e-3)
    assert hit["excess_kg"] == pytest.approx(hit["excess_kwh"] * fault["kg_co2e"] / fault["kwh"], rel=1e-3)
    assert hit["period_end"] == "2020-03-01T00:00:00Z" and hit["status"] == "closed"
    flagged = sum(b["above_upper"] for s in ("b35", "b2", "px") for b in _judged(client, s))
    # one hotspot per flagged bill, or per run of flagged bills that follow each other (one episode)
    assert first["hotspots"] == first["counts"]["created"] == len(hotspots) and 1 <= len(hotspots) <= flagged
    assert first["alerts_raised"] >= 1 and any(a["hotspot"]["id"] == hit["id"]
                                               for a in client.get("/api/v1/alerts").json()["alerts"])
    again = monthly_bills()
    assert again["counts"]["created"] == 0 and again["counts"]["updated"] == 0 and again["alerts_raised"] == 0
    assert again["counts"]["unchanged"] == first["counts"]["created"] and _judged(client, "b35") == b35
    with get_client(sync_client=True) as prefect:
        keys = {a.key for a in prefect.read_artifacts()}
    assert {"monthly-bills", "monthly-bills-skipped"} <= keys


def test_a_meter_the_model_cannot_take_is_skipped_and_the_others_judged_as_without_it(
        prefect_harness, bill_services, database_url: str) -> None:
    from flows.monthly_bills import monthly_bills
    from services.data_core.models import Activity

    client = bill_services["client"]
    clean = monthly_bills(sites=["b35", "px"])
    expected_b35 = _judged(client, "b35")
    engine = create_engine(database_url)  # a negative bill that reached the store behind the data core's back
    with engine.begin() as conn:
        conn.execute(update(Activity).where(Activity.site_id == "b2", Activity.period_start == datetime(2020, 5, 1))
                     .values(quantity=-Activity.quantity))
    engine.dispose()
    run = monthly_bills()
    [skip] = run["skipped"]
    assert (skip["site"], skip["meter"], skip["activity_type"], skip["stage"]) == ("b2", "gas-bill", "natural_gas",
                                                                                   "predict")
    assert "finite, non-negative" in skip["reason"]
    assert run["stored"] == 48 and _judged(client, "b35") == expected_b35
    assert all(b["expected"] is None and b["reason"] is None for b in _judged(client, "b2"))  # never judged
    assert run["counts"]["created"] == 0 and run["counts"]["unchanged"] == clean["counts"]["created"]
    # every site skipped: the run fails
    with pytest.raises(Exception, match="every site was skipped"):
        monthly_bills(sites=["b2"])

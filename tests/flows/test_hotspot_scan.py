"""hotspot-scan end to end in one process (real data core, ML engine and orchestration engine as uvicorn
servers on 127.0.0.1, a temporary Prefect API): injected faults in real readings are found, stored,
alerted and broadcast; a re-run changes nothing; the Dask task runner gives the same answer; and the
event path turns an ingest with excess readings into an alert on a WebSocket client."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from websockets.sync.client import connect

from tests.conftest import AUTH, TOKEN, LiveServer, free_port
from tests.ml_fixtures import FLOW_SITES, load_buildings
from tests.services.orchestration.conftest import orchestration_settings, recv_events

pytestmark = pytest.mark.integration
WINDOW = {"start": "2019-04-08T00:00:00+00:00", "end": "2019-05-01T00:00:00+00:00"}
EXCESS = ("b0", "2019-04-24T06:00:00Z", "2019-04-25T18:00:00Z")  # +80 % for 36 hours
STUCK = ("b2", "2019-04-16T08:00:00Z", "2019-04-16T22:00:00Z")   # the same reading for 14 hours


def inject(csv: bytes) -> bytes:
    frame = pd.read_csv(io.BytesIO(csv))
    ts = pd.to_datetime(frame["timestamp"], utc=True)
    elec = frame["activity_type"] == "electricity"
    hot = elec & (frame["site"] == EXCESS[0]) & (ts >= EXCESS[1]) & (ts < EXCESS[2])
    frame.loc[hot, "quantity"] = (frame.loc[hot, "quantity"] * 1.8).round(1)
    stuck = elec & (frame["site"] == STUCK[0]) & (ts >= STUCK[1]) & (ts < STUCK[2])
    frame.loc[stuck, "quantity"] = float(frame.loc[stuck, "quantity"].iloc[0])
    return frame.to_csv(index=False).encode()


_load = load_buildings  # the buildings as the ML-engine fixtures load them (bench/e2e imports _load)


@pytest.fixture
def services(client, cambridge_csv, make_settings, engine_settings, monkeypatch):  # type: ignore[no-untyped-def]
    from services.data_core.app import create_app as data_core_app
    from services.ml_engine.app import create_app as ml_engine_app
    from services.orchestration.app import create_app as orchestration_app

    _load(client, inject(cambridge_csv))
    with LiveServer(data_core_app(make_settings())) as dc, \
            LiveServer(ml_engine_app(engine_settings(data_core_url=dc.url))) as ml, \
            LiveServer(orchestration_app(orchestration_settings(dc.url, ml_engine_url=ml.url))) as oe:
        for key, value in {"DATA_CORE_URL": dc.url, "ML_ENGINE_URL": ml.url, "ORCHESTRATION_URL": oe.url,
                           "API_TOKEN": TOKEN}.items():
            monkeypatch.setenv(key, value)
        yield {"dc": dc, "ml": ml, "oe": oe, "client": client}


def _found(result_hotspots, kind, site):  # type: ignore[no-untyped-def]
    return [h for h in result_hotspots if h["kind"] == kind and h["site"] == site]


def test_scan_finds_injected_faults_alerts_and_is_idempotent(prefect_harness, services) -> None:
    from prefect.client.orchestration import get_client

    from flows.hotspot_scan import hotspot_scan

    ws_url = services["oe"].url.replace("http", "ws") + "/ws/alerts"
    with connect(ws_url) as ws:
        ws.send(json.dumps({"type": "auth", "token": TOKEN}))
        first = hotspot_scan(**WINDOW, chunk_size=2)
        stored = services["client"].get("/api/v1/hotspots", params={"limit": 1000}).json()["hotspots"]
        excess = _found(stored, "above_expected", EXCESS[0])
        assert excess and any(h["activity_type"] == "electricity" and h["period_start"] <= "2019-04-25T06:00:00Z"
                              and h["period_end"] >= "2019-04-24T18:00:00Z" for h in excess), excess
        hit = next(h for h in excess if h["period_end"] >= "2019-04-24T18:00:00Z")
        assert hit["excess_kwh"] > 0 and hit["excess_kg"] > 0 and hit["model_version"] == "1"
        assert hit["evidence"]  # the numbers and the window
        stuck = _found(stored, "stuck_meter", STUCK[0])
        assert stuck and stuck[0]["period_start"] >= STUCK[1].replace("Z", "") [:13]
        assert first["filled"] > 0 and first["counts"]["created"] == len(stored) and first["alerts_raised"] >= 1
        alerts = services["client"].get("/api/v1/alerts").json()["alerts"]
        assert len(alerts) == first["alerts_raised"]
        received = recv_events(ws, len(alerts), timeout=30)
        assert {e["payload"]["id"] for e in received} == {a["id"] for a in alerts}
        assert [e["seq"] for e in received] == list(range(received[0]["seq"], received[0]["seq"] + len(received)))
    # the pending recommendation requests wait (no chatbot service configured)
    queue = services["client"].get("/api/v1/recommendations", params={"status": "pending"}).json()
    assert queue["count"] == first["counts"]["created"]
    again = hotspot_scan(**WINDOW, chunk_size=2)
    assert again["counts"]["created"] == 0 and again["counts"]["updated"] == 0 and again["alerts_raised"] == 0
    assert again["counts"]["unchanged"] == first["counts"]["created"]
    with get_client(sync_client=True) as prefect:
        artifacts = prefect.read_artifacts()
    assert any(a.key == "hotspot-scan" and "excess_kwh" in str(a.data) for a in artifacts)


@pytest.mark.slow
def test_the_dask_task_runner_gives_the_same_answer(prefect_harness, services) -> None:
    from flows.hotspot_scan import hotspot_scan

    threads = hotspot_scan(**WINDOW, chunk_size=1, include_pareto=False)
    dask = hotspot_scan(**WINDOW, chunk_size=1, include_pareto=False, task_runner="dask")
    assert dask["chunks"] == len(FLOW_SITES) and dask["rows"] == threads["rows"]
    assert dask["counts"]["created"] == 0 and dask["counts"]["unchanged"] == threads["counts"]["created"]


def test_an_ingest_with_excess_readings_raises_an_alert_on_the_websocket(cambridge_csv, client, make_settings,
                                                                         engine_settings) -> None:
    """The event path: data core -> outbox event -> orchestration targeted scan (fill expected values with
    the ML engine, detect) -> alert broadcast, with no scheduled scan involved."""
    from services.data_core.app import create_app as data_core_app
    from services.ml_engine.app import create_app as ml_engine_app
    from services.orchestration.app import create_app as orchestration_app

    frame = pd.read_csv(io.BytesIO(cambridge_csv))
    ts = pd.to_datetime(frame["timestamp"], utc=True)
    cut = pd.Timestamp("2019-04-22T00:00:00Z")
    _load(client, frame[ts < cut].to_csv(index=False).encode())
    late = frame[(ts >= cut) & (ts < cut + pd.Timedelta(days=2))].copy()
    hot = (late["site"] == "b33") & (late["activity_type"] == "electricity")
    late.loc[hot, "quantity"] = (late.loc[hot, "quantity"] * 2.0).round(1)
    dc_port = free_port()
    dc_url = f"http://127.0.0.1:{dc_port}"
    with LiveServer(ml_engine_app(engine_settings(data_core_url=dc_url))) as ml, \
            LiveServer(orchestration_app(orchestration_settings(dc_url, ml_engine_url=ml.url, event_scan=True))) as oe, \
            LiveServer(data_core_app(make_settings(orchestration_url=oe.url, event_retry_seconds=0.5)),
                       port=dc_port) as dc:
        import time

        import httpx

        deadline = time.monotonic() + 30  # the engine started before the data core: wait for its channels
        while httpx.get(oe.url + "/health", trust_env=False).status_code != 200:
            assert time.monotonic() < deadline, "orchestration engine never loaded its channels"
            time.sleep(0.2)
        with connect(oe.url.replace("http", "ws") + "/ws/alerts") as ws:
            ws.send(json.dumps({"type": "auth", "token": TOKEN}))
            r = httpx.post(dc.url + "/api/v1/ingest", params={"editions": "DESNZ-2024"}, headers=AUTH,
                           files={"file": ("late.csv", late.to_csv(index=False).encode(), "text/csv")}, timeout=60)
            assert r.status_code == 200 and r.json()["accepted"] == len(late)
            [alert] = recv_events(ws, 1, timeout=60)
    payload = alert["payload"]
    assert alert["type"] == "alert.raised" and payload["hotspot"]["site"] == "b33"
    assert payload["hotspot"]["activity_type"] == "electricity" and payload["hotspot"]["kind"] == "above_expected"

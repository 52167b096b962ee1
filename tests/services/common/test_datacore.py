"""The typed client's weather reads (sync and async) against a real data core on both dialects: a site's
weather as a frame with a UTC ``timestamp``, ``attrs`` saying whether there is any, station reads, and a
problem of the data core passed on."""

from __future__ import annotations

import asyncio

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from services.common.datacore import WEATHER_COLUMNS, AsyncDataCoreClient, DataCoreClient, UpstreamProblem
from tests.conftest import AUTH
from tests.services.data_core.helpers import make_site

STATION = {"id": "bedford", "name": "Bedford", "latitude": 52.227, "longitude": -0.465}
OBSERVATIONS = ("timestamp,temperature,rh,ghi\n"
                "2020-06-01T10:00:00+01:00,18.0,60,400\n"     # 09:00 UTC
                "2020-06-01T10:30:00+01:00,19.0,62,500\n"
                "2020-06-01T11:00:00+01:00,20.0,,600\n"       # 10:00 UTC, no humidity
                "2020-06-01T12:00:00+01:00,21.0,58,700\n")    # 11:00 UTC


@pytest.fixture
def weather_client(client: TestClient) -> TestClient:
    assert client.post("/api/v1/weather/stations", json=STATION).status_code == 201
    r = client.post("/api/v1/weather/stations/bedford/observations", content=OBSERVATIONS,
                    headers={**AUTH, "Content-Type": "text/csv"})
    assert r.status_code == 200 and r.json()["hours_inserted"] == 3, r.text
    make_site(client, "b1", country="GB")
    make_site(client, "b2", country="GB")
    assert client.patch("/api/v1/sites/b1", json={"weather_station": "bedford"}).status_code == 200
    return client


def _check_frames(window: pd.DataFrame, everything: pd.DataFrame, without: pd.DataFrame) -> None:
    assert list(window.columns) == ["timestamp", *WEATHER_COLUMNS]
    assert window["timestamp"].tolist() == [pd.Timestamp("2020-06-01T10:00:00Z"), pd.Timestamp("2020-06-01T11:00:00Z")]
    assert str(window["timestamp"].dt.tz) == "UTC"
    assert window["air_temperature_degC"].tolist() == [20.0, 21.0]
    assert pd.isna(window["relative_humidity_pct"].iloc[0]) and window["relative_humidity_pct"].iloc[1] == 58.0
    assert window.attrs == {"weather": "hourly", "station": "bedford"}
    assert everything["air_temperature_degC"].tolist() == [18.5, 20.0, 21.0]  # 09:00 is the mean of two
    assert without.empty and without.attrs["weather"] == "none" and without.attrs["station"] is None
    assert list(without.columns) == ["timestamp", *WEATHER_COLUMNS]


def test_the_sync_client_reads_a_sites_weather_and_the_stations(weather_client: TestClient) -> None:
    dc = DataCoreClient("http://testserver", None, http=weather_client)
    window = dc.weather("b1", start=pd.Timestamp("2020-06-01T10:00:00Z"), end="2020-06-01T12:00:00Z")
    _check_frames(window, dc.weather("b1"), dc.weather("b2"))
    empty = dc.weather("b1", start="2021-01-01T00:00:00Z")
    assert empty.empty and empty.attrs == {"weather": "none", "station": "bedford"}
    pd.testing.assert_frame_equal(dc.station_weather("bedford"), dc.weather("b1"))
    stations = dc.weather_stations()
    assert [s["id"] for s in stations] == ["bedford"] and stations[0]["hours"] == 3
    assert dc.weather_station("bedford")["last_hour"] == "2020-06-01T11:00:00Z"
    with pytest.raises(UpstreamProblem) as missing:
        dc.weather("nowhere")
    assert missing.value.status == 404
    with pytest.raises(UpstreamProblem) as unknown:
        dc.weather_station("nowhere")
    assert unknown.value.status == 404


def test_the_async_client_reads_the_same(weather_client: TestClient) -> None:
    sync = DataCoreClient("http://testserver", None, http=weather_client)

    async def read() -> tuple[pd.DataFrame, ...]:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=weather_client.app), base_url="http://dc",
                                 headers=AUTH)
        dc = AsyncDataCoreClient("http://dc", None, http=http)
        try:
            window = await dc.weather("b1", start="2020-06-01T10:00:00Z", end=pd.Timestamp("2020-06-01T12:00:00Z"))
            everything, without = await dc.weather("b1"), await dc.weather("b2")
            stations = await dc.weather_stations()
            assert stations == sync.weather_stations()
            assert await dc.weather_station("bedford") == stations[0]
            with pytest.raises(UpstreamProblem):
                await dc.station_weather("nowhere")
            return window, everything, without, await dc.station_weather("bedford")
        finally:
            await dc.aclose()

    window, everything, without, station = asyncio.run(read())
    _check_frames(window, everything, without)
    pd.testing.assert_frame_equal(station, sync.station_weather("bedford"))


def _flaky_transport(fail: type[Exception]) -> tuple[httpx.MockTransport, list[str]]:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        if len(seen) == 1:
            raise fail("the server closed the pooled connection", request=request)
        return httpx.Response(200, json={"ok": True})
    return httpx.MockTransport(handler), seen


def test_a_read_on_a_just_closed_connection_is_sent_once_more_sync_and_async() -> None:
    transport, seen = _flaky_transport(httpx.RemoteProtocolError)
    client = DataCoreClient("http://dc.test", None, http=httpx.Client(base_url="http://dc.test", transport=transport))
    assert client.get("/api/v1/sites") == {"ok": True} and seen == ["GET", "GET"]
    transport, seen = _flaky_transport(httpx.ReadError)
    aclient = AsyncDataCoreClient("http://dc.test", None, http=httpx.AsyncClient(base_url="http://dc.test",
                                                                            transport=transport))
    assert asyncio.run(aclient.call("GET", "/api/v1/sites")) == {"ok": True} and seen == ["GET", "GET"]


def test_a_write_on_a_just_closed_connection_is_not_sent_again() -> None:
    from services.common.errors import ServiceUnavailable
    transport, seen = _flaky_transport(httpx.RemoteProtocolError)
    aclient = AsyncDataCoreClient("http://dc.test", None, http=httpx.AsyncClient(base_url="http://dc.test",
                                                                            transport=transport))
    with pytest.raises(ServiceUnavailable):
        asyncio.run(aclient.call("POST", "/api/v1/activities", json={}))
    assert seen == ["POST"]

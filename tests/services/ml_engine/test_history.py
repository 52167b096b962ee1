"""Site history as the ML engine and the training flow read it: kWh straight from the data core's readings
(the data core converts units), over the common clients; the data core is a fake transport."""

from __future__ import annotations

import asyncio

import httpx
import pandas as pd
import pytest

from services.common.datacore import AsyncDataCoreClient, DataCoreClient
from services.common.errors import ServiceUnavailable
from services.ml_engine.history import HISTORY_DAYS, fetch_history, read_readings

pytestmark = pytest.mark.unit
CSV = ("site,activity_type,timestamp,quantity,unit\n"
       "b1,electricity,2020-01-01T00:00:00Z,1510.0,kWh\nb1,electricity,2020-01-01T01:00:00Z,12.5,kWh\n")


def handler(seen: list[httpx.Request], status: int = 200):  # type: ignore[no-untyped-def]
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, text=CSV if status == 200 else "down")
    return answer


def test_fetch_history_reads_kwh_from_the_day_ahead_window() -> None:
    seen: list[httpx.Request] = []

    async def run() -> pd.DataFrame:
        http = httpx.AsyncClient(base_url="http://dc", transport=httpx.MockTransport(handler(seen)))
        dc = AsyncDataCoreClient("http://dc", "t", http=http)
        try:
            return await fetch_history(dc, "b1", "electricity", pd.Timestamp("2020-02-10T13:00", tz="UTC"),
                                       pd.Timestamp("2020-02-11T05:00", tz="UTC"))
        finally:
            await dc.aclose()

    frame = asyncio.run(run())
    assert frame.columns.tolist() == ["site", "activity_type", "timestamp", "quantity"]
    assert frame["quantity"].tolist() == [1510.0, 12.5] and str(frame["timestamp"].dt.tz) == "UTC"
    params = seen[0].url.params
    assert seen[0].url.path == "/api/v1/readings" and params["format"] == "csv"
    assert pd.Timestamp(params["start"]) == pd.Timestamp("2020-02-10", tz="UTC") - pd.Timedelta(days=HISTORY_DAYS)
    assert pd.Timestamp(params["end"]) == pd.Timestamp("2020-02-11T06:00", tz="UTC")
    assert params.get_list("site") == ["b1"] and params.get_list("activity_type") == ["electricity"]


def test_read_readings_for_training_and_a_failing_data_core() -> None:
    seen: list[httpx.Request] = []
    dc = DataCoreClient("http://dc", "t", http=httpx.Client(base_url="http://dc",
                                                          transport=httpx.MockTransport(handler(seen))))
    frame = read_readings(dc, ["electricity", "natural_gas"], None, pd.Timestamp("2020-03-01", tz="UTC"))
    assert len(frame) == 2 and "site" not in seen[0].url.params and "start" not in seen[0].url.params
    down = DataCoreClient("http://dc", "t", http=httpx.Client(base_url="http://dc",
                                                            transport=httpx.MockTransport(handler([], 502))))
    with pytest.raises(ServiceUnavailable):
        read_readings(down, ["electricity"], None, None)

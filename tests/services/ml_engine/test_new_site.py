"""A site the registered model was never trained on (#17), end to end: through the engine's typed API with
its history and weather from a live data core, and through the registered pyfunc, without a retrain."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mlflow
from tests.conftest import AUTH, LiveServer
from tests.ml_fixtures import add_new_site

pytestmark = pytest.mark.integration


def test_a_new_site_is_predicted_by_the_fleet_model_from_its_first_predictable_hour(
        engine_settings, loaded_data_core, make_settings, cambridge_csv, slice_series):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from services.data_core.app import create_app as data_core_app
    from services.ml_engine.app import create_app

    add_new_site(loaded_data_core, cambridge_csv, start="2019-03-25", end="2019-04-15")
    early = [f"2019-03-30T{h:02d}:00:00Z" for h in range(0, 24, 6)]  # 5 days of history: not yet
    late = [f"2019-04-{d:02d}T{h:02d}:00:00Z" for d in (10, 11) for h in range(24)]
    with LiveServer(data_core_app(make_settings())) as data_core, \
            TestClient(create_app(engine_settings(data_core_url=data_core.url)), headers=AUTH) as engine:
        r = engine.post("/api/v1/predict", json={"site": "b0-twin", "timestamps": early + late})
        assert r.status_code == 200, r.text
        body = r.json()
        # the known building b0 next to it: the site model, as before #17
        known = engine.post("/api/v1/predict", json={"site": "b0", "timestamps": late}).json()
    rows = body["predictions"]
    assert [p["basis"] for p in rows] == ["none"] * len(early) + ["fleet"] * len(late)
    assert all(p["expected"] is None and "needs 7 days" in p["reason"] for p in rows[:len(early)])
    assert all(p["reason"] is None and p["lower"] <= p["expected"] <= p["upper"] for p in rows[len(early):])
    assert all(p["weather"] == "hourly" for p in rows[len(early):])
    assert body["history"]["source"] == "data-core" and body["calibration"]["source"] == "recent"
    assert {p["basis"] for p in known["predictions"]} == {"site"}
    # the twin has b0's readings: the fleet's expected values track them better than the week-ago naive
    series, _ = slice_series
    b0 = series["electricity"].set_index(["site", "timestamp"]).loc["b0"]["value"]
    stamps = pd.to_datetime(late, utc=True)
    actual, naive = b0.reindex(stamps).to_numpy(), b0.reindex(stamps - pd.Timedelta("7D")).to_numpy()
    fleet = np.array([p["expected"] for p in rows[len(early):]])
    assert np.nanmean(np.abs(fleet - actual)) < np.nanmean(np.abs(naive - actual))


def test_the_registered_pyfunc_predicts_a_new_site_from_its_history_columns(store_uri, slice_series):
    from services.ml_engine.bundle import INPUT_COLUMNS, model_inputs

    series, weather = slice_series
    long = series["electricity"]
    twin = long[(long["site"] == "b0") & (long["timestamp"] >= "2019-03-01")
                & (long["timestamp"] < "2019-04-12")].assign(site="b0-twin")
    rows = model_inputs(twin, "electricity", weather)
    rows = rows[rows["timestamp"] >= "2019-03-05"].head(24 * 8)  # 4 to 11 days of history
    frame = rows[INPUT_COLUMNS].assign(timestamp=rows["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    got = mlflow.pyfunc.load_model("models:/carbon-baseline@champion").predict(frame)
    assert list(got.columns) == ["expected", "lower", "upper", "basis", "weather", "reason"]
    ready = (rows["history_days"] >= 7).to_numpy()
    assert ready.any() and not ready.all()
    assert (got["basis"][ready] == "fleet").all() and got["expected"][ready].notna().all()
    assert (got["basis"][~ready] == "none").all() and got["expected"][~ready].isna().all()
    assert got["reason"][~ready].str.startswith("needs 7 days").all()


def test_the_typed_api_takes_a_new_site_s_station_weather_from_the_data_core_or_says_none(
        engine_settings, loaded_data_core, make_settings, cambridge_csv):  # type: ignore[no-untyped-def]
    """When the model has not packed the site's station (here: its packed series removed), the engine asks the
    data core for the site's station weather; a site without a station is predicted without weather and
    every row says so."""
    from fastapi.testclient import TestClient

    from services.data_core.app import create_app as data_core_app
    from services.ml_engine.app import create_app

    add_new_site(loaded_data_core, cambridge_csv, start="2019-03-25", end="2019-04-15")
    add_new_site(loaded_data_core, cambridge_csv, site="b0-nostation", start="2019-03-25", end="2019-04-15",
                 station=None)
    stamps = [f"2019-04-10T{h:02d}:00:00Z" for h in range(24)]
    with LiveServer(data_core_app(make_settings())) as data_core, \
            TestClient(create_app(engine_settings(data_core_url=data_core.url)), headers=AUTH) as engine:
        engine.app.state.holder.current.bundle.weather.clear()  # type: ignore[attr-defined]
        with_station = engine.post("/api/v1/predict", json={"site": "b0-twin", "timestamps": stamps}).json()
        without = engine.post("/api/v1/predict", json={"site": "b0-nostation", "timestamps": stamps}).json()
    assert with_station["weather"]["source"] == "data-core" and with_station["weather"]["station"] == "bedford"
    assert {(p["basis"], p["weather"]) for p in with_station["predictions"]} == {("fleet", "hourly")}
    assert without["weather"]["source"] == "none"
    assert {(p["basis"], p["weather"]) for p in without["predictions"]} == {("fleet", "none")}
    assert all(p["expected"] is not None for p in without["predictions"])
    # the weather moves the expected values: same readings, same hours, with and without
    assert [p["expected"] for p in with_station["predictions"]] != [p["expected"] for p in without["predictions"]]


def test_invocations_answer_a_new_site_row_by_row(engine):  # type: ignore[no-untyped-def]
    rows = [{"site": "b0-twin", "timestamp": "2019-04-10T09:00:00Z", "recent_scale": 50.0, "history_days": 20,
             "lag_24h": 55.0, "lag_168h": 60.0},
            {"site": "b0-twin", "timestamp": "2019-04-10T09:00:00Z", "history_days": 3},
            {"site": "b0", "timestamp": "2019-04-10T09:00:00Z"}]
    r = engine.post("/invocations", json={"dataframe_records": rows})
    assert r.status_code == 200, r.text
    got = r.json()["predictions"]
    assert [p["basis"] for p in got] == ["fleet", "none", "site"]
    assert got[0]["expected"] > 0 and got[1]["expected"] is None and got[1]["reason"].endswith("has 3")
    assert got[0]["reason"] is None and got[2]["weather"] == "hourly"

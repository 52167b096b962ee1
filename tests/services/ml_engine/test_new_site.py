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

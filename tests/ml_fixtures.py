"""A small slice of the real Cambridge buildings for fast model tests."""

from __future__ import annotations

import pandas as pd
import pytest

from services.data_core.settings import REPO_ROOT

DATA = REPO_ROOT / "data" / "buildings_cambridge"
SITES = ["b0", "b2", "b33"]


@pytest.fixture(scope="session")
def slice_2019() -> dict[str, object]:
    from services.ml_engine.features import clean_meter, site_scale, wide_to_long

    wide = pd.read_csv(DATA / "electricity_hourly_kwh_2019.csv", usecols=["datetime_utc", *SITES])
    long = clean_meter(wide_to_long(wide), zero_is_missing=True)
    long = long[long["timestamp"] < pd.Timestamp("2019-05-01", tz="UTC")].reset_index(drop=True)
    ctx = pd.read_csv(DATA / "context_hourly_weather_bedford_and_uk_grid_ci_2019_2020.csv")
    weather = ctx.rename(columns={"datetime_utc": "timestamp"})
    weather["timestamp"] = pd.to_datetime(weather["timestamp"], utc=True)
    meta = pd.read_csv(DATA / "building_metadata.csv").rename(columns={"building_id": "site"})
    train = long[long["timestamp"] < pd.Timestamp("2019-04-15", tz="UTC")]
    return {"long": long, "weather": weather, "meta": meta, "scale": site_scale(train),
            "codes": {s: i for i, s in enumerate(SITES)}}


# --------------------------------------------------------------------------- data core + MLflow fixtures
FLOW_SITES = ["b0", "b2", "b33"]
FLOW_START, FLOW_END = "2019-01-01", "2019-05-01"
WINDOW = {"train_start": "2019-01-15", "holdout_start": "2019-04-08", "holdout_end": "2019-05-01"}


@pytest.fixture(scope="session")
def cambridge_csv() -> bytes:
    """Real hourly electricity and gas of three Cambridge buildings, Jan-Apr 2019, as one ingest file."""
    from services.data_core.demo import meter_records

    frames = [meter_records(carrier, 2019) for carrier in ("electricity", "gas")]
    long = pd.concat(frames, ignore_index=True)
    long = long[long["site"].isin(FLOW_SITES) & (long["timestamp"] < FLOW_END)]
    return long.to_csv(index=False).encode()


@pytest.fixture
def loaded_data_core(client, cambridge_csv):  # type: ignore[no-untyped-def]
    """The data core (``client``) with the three buildings registered and four months of readings."""
    load_buildings(client, cambridge_csv)
    return client


def load_station(client) -> str:  # type: ignore[no-untyped-def]
    """The demo's Bedford station with its hours of the flow window (as the demo loads it): returns its id."""
    import io

    from services.data_core.demo import WEATHER_FILE, bedford_station
    from tests.conftest import AUTH

    station = bedford_station()
    assert client.post("/api/v1/weather/stations", json=station, headers=AUTH).status_code in (200, 201)
    raw = pd.read_csv(WEATHER_FILE)
    part = raw[(raw["datetime_utc"] >= "2018-11-01") & (raw["datetime_utc"] < FLOW_END)]
    r = client.post(f"/api/v1/weather/stations/{station['id']}/observations", headers=AUTH,
                    files={"file": ("bedford.csv", io.BytesIO(part.to_csv(index=False).encode()), "text/csv")})
    assert r.status_code == 200, r.text
    return str(station["id"])


def load_buildings(client, csv: bytes) -> None:  # type: ignore[no-untyped-def]
    """Register the organisation and the three buildings, then ingest ``csv`` (none of it rejected)."""
    from services.data_core.demo import ORG, demo_sites
    from tests.conftest import AUTH

    assert client.post("/api/v1/organisations", json=ORG, headers=AUTH).status_code == 201
    station = load_station(client)
    for site in demo_sites(weather_station=station):
        if site["id"] in FLOW_SITES:
            assert client.post("/api/v1/sites", json=site, headers=AUTH).status_code == 201
    r = client.post("/api/v1/ingest", params={"editions": "DESNZ-2024"},
                    files={"file": ("cambridge.csv", csv, "text/csv")}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["rejected"] == 0


@pytest.fixture
def tracking_uri(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """A real MLflow tracking store and registry (SQLite) of this test only."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    # artifacts under the test's directory (a bare SQLite store would default to ./mlruns)
    mlflow.MlflowClient(uri).create_experiment("carbon-baseline", artifact_location=(tmp_path / "artifacts").as_uri())
    return uri


@pytest.fixture
def flow_env(loaded_data_core, tracking_uri, monkeypatch):  # type: ignore[no-untyped-def]
    """The training flow pointed at the in-process data core and the test's MLflow store."""
    import contextlib

    import flows.train_baseline as tb
    from services.common.datacore import DataCoreClient

    dc = DataCoreClient("http://testserver", None, http=loaded_data_core)  # the flow's client over the test app
    monkeypatch.setattr(tb, "data_core_client", lambda base_url: contextlib.nullcontext(dc))
    monkeypatch.setenv("API_TOKEN", "test-token-for-ml-engine")
    return {"client": loaded_data_core, "dc": dc, "tracking_uri": tracking_uri, "module": tb}


# --------------------------------------------------------------------------- served models
@pytest.fixture(scope="session")
def slice_series(cambridge_csv):  # type: ignore[no-untyped-def]
    """The three buildings as the training flow sees them (kWh per site, type and hour) and the weather."""
    import io

    from flows.train_baseline import load_weather
    from services.ml_engine.settings import DEFAULT_WEATHER
    from services.ml_engine.training import prepare

    frame = pd.read_csv(io.BytesIO(cambridge_csv))
    frame["activity_type"] = frame["activity_type"].astype(str)
    series = prepare(frame[["site", "activity_type", "timestamp", "quantity"]])
    return series, load_weather.fn(str(DEFAULT_WEATHER))


@pytest.fixture(scope="session")
def registered_store(tmp_path_factory, slice_series):  # type: ignore[no-untyped-def]
    """An MLflow store with carbon-baseline v1 (champion, 30 trees) and v2 (challenger, 3 trees)."""
    import mlflow
    from services.ml_engine import registry
    from services.ml_engine.bundle import INPUT_COLUMNS
    from services.ml_engine.training import Window, evaluate, holdout_inputs, train_bundle

    base = tmp_path_factory.mktemp("mlflow-store")
    uri = f"sqlite:///{base / 'mlflow.db'}"
    registry.configure(uri)
    mlflow.MlflowClient(uri).create_experiment("carbon-baseline", artifact_location=(base / "artifacts").as_uri())
    series, weather = slice_series
    window = Window(pd.Timestamp(WINDOW["train_start"], tz="UTC"), pd.Timestamp(WINDOW["holdout_start"], tz="UTC"),
                    pd.Timestamp(WINDOW["holdout_end"], tz="UTC"))
    meta = pd.read_csv(DATA / "building_metadata.csv")
    area = dict(zip(meta["building_id"], meta["gross_internal_area_m2"], strict=True))
    inputs = holdout_inputs(series, weather, window)
    example = inputs[INPUT_COLUMNS].head(2).assign(timestamp=lambda d: d["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    for max_iter, promote in ((30, True), (3, False)):
        bundle = train_bundle(series, weather, area, window, params={"max_iter": max_iter, "max_leaf_nodes": 31})
        per_site, metrics = evaluate(bundle, inputs)
        registry.log_and_register(bundle, name="carbon-baseline", params={"max_iter": max_iter}, metrics=metrics,
                                  per_site=per_site, tags={"fingerprint": f"test-{max_iter}"},
                                  input_example=example, promote=promote)
    return base, inputs


@pytest.fixture
def store_uri(registered_store, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """A private copy of the registered store (aliases can move without touching other tests)."""
    import shutil

    import mlflow

    base, _ = registered_store
    shutil.copy(base / "mlflow.db", tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


@pytest.fixture
def engine_settings(store_uri, tmp_path):  # type: ignore[no-untyped-def]
    from services.ml_engine.settings import MLEngineSettings
    from tests.conftest import TOKEN

    def make(**overrides):  # type: ignore[no-untyped-def]
        values = {"api_token": TOKEN, "mlflow_tracking_uri": store_uri, "data_core_url": "http://127.0.0.1:9",
                  "model_poll_seconds": 3600.0, "environment": "test", "log_json": False,
                  "model_cache_dir": tmp_path / "ml-models", **overrides}
        return MLEngineSettings(**values)

    return make


@pytest.fixture
def engine(engine_settings):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from services.ml_engine.app import create_app
    from tests.conftest import AUTH

    with TestClient(create_app(engine_settings()), headers=AUTH) as test_client:
        yield test_client


def add_new_site(client, csv: bytes, site: str = "b0-twin", start: str = "2019-04-01",  # type: ignore[no-untyped-def]
                 end: str = "2019-04-15", station: str | None = "bedford") -> None:
    """A site the model was never trained on (#17): b0's electricity readings of [start, end) under another
    name, at the Bedford station (what a new user's building looks like to the engine)."""
    import io

    from services.data_core.demo import demo_sites
    from tests.conftest import AUTH

    twin = next(s for s in demo_sites(weather_station=station) if s["id"] == "b0")
    assert client.post("/api/v1/sites", json={**twin, "id": site, "name": f"New {site}"}, headers=AUTH).status_code == 201
    frame = pd.read_csv(io.BytesIO(csv))
    rows = frame[(frame["site"] == "b0") & (frame["activity_type"] == "electricity") & (frame["timestamp"] >= start)
                 & (frame["timestamp"] < end)].assign(site=site)
    r = client.post("/api/v1/ingest", params={"editions": "DESNZ-2024"}, headers=AUTH,
                    files={"file": ("new-site.csv", rows.to_csv(index=False).encode(), "text/csv")})
    assert r.status_code == 200 and r.json()["rejected"] == 0, r.text

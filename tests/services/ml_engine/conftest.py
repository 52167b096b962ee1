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
    from services.data_core.demo import ORG, demo_sites
    from tests.conftest import AUTH

    assert client.post("/api/v1/organisations", json=ORG, headers=AUTH).status_code == 201
    for site in demo_sites():
        if site["id"] in FLOW_SITES:
            assert client.post("/api/v1/sites", json=site, headers=AUTH).status_code == 201
    r = client.post("/api/v1/ingest", params={"editions": "DESNZ-2024"},
                    files={"file": ("cambridge.csv", cambridge_csv, "text/csv")}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["rejected"] == 0
    return client


@pytest.fixture
def tracking_uri(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """A real MLflow tracking store and registry (SQLite) of this test only."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


@pytest.fixture
def flow_env(loaded_data_core, tracking_uri, monkeypatch):  # type: ignore[no-untyped-def]
    """The training flow pointed at the in-process data core and the test's MLflow store."""
    import contextlib

    import flows.train_baseline as tb

    monkeypatch.setattr(tb, "data_core_client", lambda base_url: contextlib.nullcontext(loaded_data_core))
    monkeypatch.setenv("API_TOKEN", "test-token-for-ml-engine")
    return {"client": loaded_data_core, "tracking_uri": tracking_uri, "module": tb}

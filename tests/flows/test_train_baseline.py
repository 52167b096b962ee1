"""The train-baseline flow under prefect_test_harness: real data core (SQLite and PostgreSQL), real
MLflow tracking store and registry, real Cambridge readings; registry state checked with MlflowClient."""

from __future__ import annotations

import httpx
import pandas as pd
import pytest

import mlflow
from mlflow import MlflowClient
from tests.ml_fixtures import WINDOW

pytestmark = pytest.mark.integration


def run(flow_env, **params):  # type: ignore[no-untyped-def]
    return flow_env["module"].train_baseline(**WINDOW, **params)


def test_first_model_becomes_champion_with_metrics_signature_and_per_site_artifact(prefect_harness, flow_env):
    result = run(flow_env, max_iter=40)
    assert result["alias"] == "champion" and result["reused"] is False
    client = MlflowClient(tracking_uri=flow_env["tracking_uri"], registry_uri=flow_env["tracking_uri"])
    champion = client.get_model_version_by_alias("carbon-baseline", "champion")
    assert str(champion.version) == result["version"] == "1"
    run_data = client.get_run(champion.run_id).data
    for key in ("holdout_mae", "holdout_cv_rmse_pct", "holdout_nmbe_pct", "naive_mae", "naive_cv_rmse_pct",
                "interval_coverage_pct", "ashrae_within_pct", "electricity_holdout_mae", "natural_gas_holdout_mae"):
        assert key in run_data.metrics, key
    assert run_data.metrics["holdout_mae"] < run_data.metrics["naive_mae"]
    assert run_data.params["holdout_start"].startswith("2019-04-08")
    per_site = mlflow.artifacts.load_text(f"runs:/{champion.run_id}/evaluation/per_site_metrics.csv")
    header, *rows = per_site.strip().splitlines()
    assert {"site", "cv_rmse_pct", "nmbe_pct", "mae", "naive_mae", "coverage_pct"} <= set(header.split(","))
    assert len(rows) == 6  # 3 buildings x electricity and gas
    info = mlflow.models.get_model_info(f"models:/carbon-baseline/{champion.version}")
    assert [c["name"] for c in info.signature.inputs.to_dict()][:2] == ["site", "timestamp"]
    assert info.saved_input_example_info is not None
    assert champion.tags["fingerprint"] == result["fingerprint"]


def test_rerun_on_same_data_changes_nothing(prefect_harness, flow_env):
    first = run(flow_env, max_iter=20)
    again = run(flow_env, max_iter=20)
    assert again["reused"] is True and again["version"] == first["version"] and again["alias"] == "champion"
    client = MlflowClient(tracking_uri=flow_env["tracking_uri"], registry_uri=flow_env["tracking_uri"])
    assert len(client.search_model_versions("name = 'carbon-baseline'")) == 1


def test_gate_promotes_a_better_model_and_keeps_a_worse_one_out(prefect_harness, flow_env):
    client = MlflowClient(tracking_uri=flow_env["tracking_uri"], registry_uri=flow_env["tracking_uri"])
    weak = run(flow_env, max_iter=2)
    assert weak["alias"] == "champion"  # nothing to beat yet
    strong = run(flow_env, max_iter=40)
    assert strong["alias"] == "champion", strong["gate"]
    assert strong["metrics"]["gate_new_mae"] < strong["metrics"]["gate_champion_mae"]
    worse = run(flow_env, max_iter=3)
    assert worse["alias"] == "challenger", worse["gate"]
    assert worse["metrics"]["gate_new_mae"] >= worse["metrics"]["gate_champion_mae"]
    assert str(client.get_model_version_by_alias("carbon-baseline", "champion").version) == strong["version"]
    assert str(client.get_model_version_by_alias("carbon-baseline", "challenger").version) == worse["version"]
    assert "does not beat champion v2" in client.get_model_version("carbon-baseline", worse["version"]).tags["gate"]


def test_data_fetch_is_retried(prefect_harness, flow_env, monkeypatch):
    import contextlib

    tb = flow_env["module"]
    calls = {"n": 0}

    def flaky(base_url):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] <= 2:
            raise httpx.ConnectError("data core not up yet")
        return contextlib.nullcontext(flow_env["dc"])

    monkeypatch.setattr(tb, "data_core_client", flaky)
    monkeypatch.setattr(tb, "fetch_sites", tb.fetch_sites.with_options(retry_delay_seconds=0))
    result = run(flow_env, max_iter=10)
    # sites: 2 failures + 1 success; readings: 1; each site's station weather: 1
    assert calls["n"] == 5 and result["alias"] == "champion"


def test_no_readings_is_a_clear_error(prefect_harness, flow_env):
    with pytest.raises(ValueError, match="no hourly readings"):
        flow_env["module"].train_baseline(train_start="2030-01-01", holdout_start="2030-02-01",
                                          holdout_end="2030-03-01")


def test_each_site_trains_on_its_own_station_from_the_data_core_and_the_fleet_model_is_packed(prefect_harness,
                                                                                              flow_env):
    """#17: the flow takes each site's station series from the data core (the buildings name Bedford) and
    registers one bundle: the site models, the fleet model per activity type and the station tables."""
    from services.ml_engine import registry

    result = run(flow_env, max_iter=10)
    bundle = registry.load_bundle("carbon-baseline", result["version"])  # verified against its signature
    assert bundle.site_station == {"b0": "bedford", "b2": "bedford", "b33": "bedford"}
    assert set(bundle.weather) == {"bedford"} and bundle.default_station is None
    table = bundle.weather["bedford"]
    assert table.index.min() <= pd.Timestamp("2019-01-15", tz="UTC") and table["temp_c"].notna().mean() > 0.9
    assert set(bundle.fleet) == set(bundle.series) == {"electricity", "natural_gas"}
    frame = pd.DataFrame({"site": ["b0", "b-new"], "timestamp": ["2019-04-10T09:00:00Z"] * 2,
                          "recent_scale": [None, 40.0], "history_days": [None, 10.0]})
    detail = bundle.predict_detail(frame)
    # b-new names no station known at training and the request names none: predicted without weather
    assert detail["basis"].tolist() == ["site", "fleet"] and detail["weather"].tolist() == ["hourly", "none"]

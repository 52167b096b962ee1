"""fill-expected: expected values of new readings stored next to the actuals; with the ML engine down
the run fails and nothing is written, the next run fills everything once; re-running changes nothing."""

from __future__ import annotations

import pytest

from services.common.errors import ServiceUnavailable
from tests.conftest import TOKEN, LiveServer

pytestmark = pytest.mark.integration
WEEK = {"start": "2019-04-08T00:00:00Z", "end": "2019-04-15T00:00:00Z"}


def _pending(client):  # type: ignore[no-untyped-def]
    return client.get("/api/v1/predictions/pending", params={**WEEK, "limit": 100_000}).json()["count"]


def test_fill_expected_survives_an_ml_engine_outage_and_is_idempotent(prefect_harness, loaded_data_core,
                                                                      make_settings, engine_settings, monkeypatch):
    from fastapi.testclient import TestClient  # noqa: F401 - the data core client is a TestClient

    import flows.predict_expected as fe
    from services.data_core.app import create_app as data_core_app
    from services.ml_engine.app import create_app as ml_engine_app

    client = loaded_data_core
    before = _pending(client)
    assert before == 3 * 2 * 7 * 24  # three buildings, electricity and gas, a week of hours
    monkeypatch.setattr(fe, "predict_site", fe.predict_site.with_options(retry_delay_seconds=0))
    monkeypatch.setenv("API_TOKEN", TOKEN)
    with LiveServer(data_core_app(make_settings())) as dc:
        # the services are settings of the process that runs the tasks, never parameters
        monkeypatch.setenv("DATA_CORE_URL", dc.url)
        monkeypatch.setenv("ML_ENGINE_URL", "http://127.0.0.1:9")
        with pytest.raises(ServiceUnavailable, match="ml-engine is unreachable"):  # after the task's retries
            fe.fill_expected(**WEEK)
        assert _pending(client) == before  # nothing lost, nothing half-written
        with LiveServer(ml_engine_app(engine_settings(data_core_url=dc.url))) as ml:
            monkeypatch.setenv("ML_ENGINE_URL", ml.url)
            first = fe.fill_expected(**WEEK)
            assert first["stored"] == before and first["model_versions"] == ["1"] and not first["skipped"]
            assert _pending(client) == 0
            residuals = client.get("/api/v1/residuals", params={**WEEK, "limit": 100_000}).json()
            again = fe.fill_expected(**WEEK)
    assert again["pending"] == 0 and again["stored"] == 0
    assert residuals["count"] == before
    rows = residuals["rows"]
    assert all(r["model_name"] == "carbon-baseline" and r["model_version"] == "1" for r in rows)
    assert all(r["lower"] <= r["expected"] <= r["upper"] for r in rows)
    inside = sum(r["lower"] <= r["actual"] <= r["upper"] for r in rows) / len(rows)
    assert inside > 0.6  # a 90 % interval on a week of real readings: most actuals fall inside
    assert client.get("/api/v1/residuals", params={**WEEK, "limit": 100_000}).json() == residuals


def test_fill_expected_starts_a_new_site_at_its_first_predictable_hour_and_reports_the_rest(
        prefect_harness, loaded_data_core, make_settings, engine_settings, cambridge_csv,
        monkeypatch):  # type: ignore[no-untyped-def]
    """#17: a site the model was never trained on, no retrain: its hours from the 8th day on (7 days of
    readings before them) are filled by the fleet model; the first 7 days stay pending and are reported, and
    the run neither fails nor loops on them."""
    import flows.predict_expected as fe
    from services.data_core.app import create_app as data_core_app
    from services.ml_engine.app import create_app as ml_engine_app
    from tests.ml_fixtures import add_new_site

    client = loaded_data_core
    add_new_site(client, cambridge_csv, start="2019-04-01", end="2019-04-15")
    window = {"start": "2019-04-01T00:00:00Z", "end": "2019-04-15T00:00:00Z", "sites": ["b0-twin"]}
    pending = client.get("/api/v1/predictions/pending", params={**window, "site": "b0-twin", "limit": 100_000})
    before = pending.json()["count"]
    first_week = sum(r["period_start"] < "2019-04-08" for r in pending.json()["readings"])
    assert before == 14 * 24 and first_week == 7 * 24
    monkeypatch.setenv("API_TOKEN", TOKEN)
    with LiveServer(data_core_app(make_settings())) as dc:
        monkeypatch.setenv("DATA_CORE_URL", dc.url)
        with LiveServer(ml_engine_app(engine_settings(data_core_url=dc.url))) as ml:
            monkeypatch.setenv("ML_ENGINE_URL", ml.url)
            first = fe.fill_expected(**window)
            again = fe.fill_expected(**window)
    assert first["stored"] == before - first_week and not first["skipped"]
    [entry] = first["unpredictable"]
    assert entry["site"] == "b0-twin" and entry["hours"] == first_week
    assert entry["first_filled"].startswith("2019-04-08T00:00") and "needs 7 days" in entry["reason"]
    assert again["pending"] == first_week and again["stored"] == 0 and again["unpredictable"][0]["hours"] == first_week
    rows = client.get("/api/v1/residuals", params={"start": "2019-04-01T00:00:00Z", "end": "2019-04-15T00:00:00Z",
                                                   "site": "b0-twin", "limit": 100_000}).json()["rows"]
    assert len(rows) == before - first_week and min(r["period_start"] for r in rows).startswith("2019-04-08T00:00")

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

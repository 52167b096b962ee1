"""The ML engine service: MLflow scoring protocol in every input format, every error as problem+json,
alias moves picked up without failing requests, the typed API with history from a live data core."""

from __future__ import annotations

import os
import threading

import pandas as pd
import pytest

import mlflow
from mlflow import MlflowClient
from tests.conftest import AUTH, NO_AUTH, LiveServer

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"
ROWS = [
    {"site": "b0", "timestamp": "2019-04-10T09:00:00Z", "activity_type": "electricity", "lag_24h": 55.0,
     "lag_168h": 60.0, "temp_c": 9.5},
    {"site": "b33", "timestamp": "2019-04-10T23:00:00+01:00", "activity_type": "natural_gas"},
    {"site": "b2", "timestamp": "2019-04-13T12:00:00Z"},
]
COLUMNS = ["site", "timestamp", "activity_type", "lag_24h", "lag_168h", "temp_c"]


def _split(rows):  # type: ignore[no-untyped-def]
    return {"columns": COLUMNS, "data": [[r.get(c) for c in COLUMNS] for r in rows]}


def _problem(response, status, field=None):  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["detail"]
    if field is not None:
        fields = {body.get("field")} | {e["field"] for e in body.get("errors", [])}
        assert field in fields, body
    return body


def test_ping_version_and_health_name_the_served_version(engine):
    assert engine.get("/ping").status_code == 200
    version = engine.get("/version").json()
    assert version["mlflow"] == mlflow.__version__
    assert version["model"]["name"] == "carbon-baseline" and version["model"]["version"] == "1"
    assert version["model"]["alias"] == "champion"
    health = engine.get("/health").json()
    assert health["status"] == "ok" and health["checks"]["model"]["detail"]["served"]["version"] == "1"


def test_every_input_format_gives_the_same_answer_as_the_registered_pyfunc(engine, store_uri):
    expected = mlflow.pyfunc.load_model("models:/carbon-baseline@champion").predict(
        pd.DataFrame(ROWS, columns=COLUMNS))
    csv = pd.DataFrame(ROWS, columns=COLUMNS).to_csv(index=False)
    answers = {
        "dataframe_split": engine.post("/invocations", json={"dataframe_split": _split(ROWS)}),
        "dataframe_split (large)": engine.post("/invocations", json={"dataframe_split": _split(ROWS * 100)}),
        "dataframe_records": engine.post("/invocations", json={"dataframe_records": ROWS}),
        "inputs (records)": engine.post("/invocations", json={"inputs": ROWS}),
        "inputs (columns)": engine.post("/invocations", json={"inputs": {c: [r.get(c) for r in ROWS] for c in COLUMNS}}),
        "instances": engine.post("/invocations", json={"instances": ROWS}),
        "csv": engine.post("/invocations", content=csv, headers={"Content-Type": "text/csv"}),
    }
    for name, response in answers.items():
        assert response.status_code == 200, (name, response.text)
        assert response.headers["x-model-version"] == "1"
        got = pd.DataFrame(response.json()["predictions"]).head(len(ROWS))
        assert list(got.columns) == ["expected", "lower", "upper", "basis", "weather", "reason"], name
        pd.testing.assert_frame_equal(got[["expected", "lower", "upper", "basis", "weather"]],
                                      expected[["expected", "lower", "upper", "basis", "weather"]],
                                      check_exact=False, rtol=1e-9, obj=name)
        assert got["reason"].isna().all() and (expected["reason"] == "").all()
    assert (expected["basis"] == "site").all() and (expected["weather"] == "hourly").all()
    assert (expected["lower"] <= expected["expected"]).all() and (expected["expected"] <= expected["upper"]).all()


@pytest.mark.parametrize(("body", "field"), [
    ({"dataframe_records": [{"timestamp": "2019-04-10T09:00:00Z"}]}, "site"),
    ({"dataframe_records": [{"site": "b0"}]}, "timestamp"),
    ({"dataframe_records": [{"site": "b0", "timestamp": "yesterday"}]}, "timestamp"),
    ({"dataframe_records": [{"site": "b0", "timestamp": "2019-04-10T09:00:00Z", "lag_24h": "a lot"}]}, "lag_24h"),
    ({"dataframe_records": [{"site": "b0", "timestamp": "2019-04-10T09:00:00Z", "lag_24h": True}]}, "lag_24h"),
    ({"dataframe_records": [{"site": "b0", "timestamp": "2019-04-10T09:00:00Z", "activity_type": "diesel"}]},
     "activity_type"),
    ({"dataframe_records": [{"site": "b0", "timestamp": "2019-04-10T09:00:00Z", "colour": "red"}]}, "colour"),
    ({"dataframe_records": []}, "data"),
    ({"dataframe_records": [1, 2]}, "dataframe_records"),
    ({"dataframe_split": {"columns": ["site", "timestamp"], "data": [["b0"]]}}, "dataframe_split.data"),
    ({"dataframe_split": {"data": [["b0", "2019-04-10T09:00:00Z"]]}}, "dataframe_split.columns"),
    ({"dataframe_split": [1]}, "dataframe_split"),
    ({"inputs": {"site": ["b0", "b2"], "timestamp": ["2019-04-10T09:00:00Z"]}}, "inputs"),
    ({"dataframe_records": ROWS, "inputs": ROWS}, "inputs"),
    ({"dataframe_split": {"columns": ["site", "timestamp", "lag_24h"], "data": [["b0", "2019-04-10T09:00:00Z",
                                                                                  {"a": 1}]]}}, "lag_24h"),
    ({"dataframe_split": {"columns": ["site", "timestamp", "lag_24h"], "data": [["b0", "2019-04-10T09:00:00Z",
                                                                                  True]]}}, "lag_24h"),
    ({"dataframe_split": {"columns": ["site", "timestamp", "temp_c"], "data": [["b0", "2019-04-10T09:00:00Z",
                                                                                 "1e999"]]}}, "temp_c"),
    ({"dataframe_split": {"columns": ["site", "timestamp"], "data": [["b0", ["2019-04-10"]]]}}, "timestamp"),
    ({"dataframe_split": {"columns": ["site", "timestamp"], "data": [["b0", 20190410]]}}, "timestamp"),
    ({"dataframe_split": {"columns": ["site", "timestamp"], "data": [[None, "2019-04-10T09:00:00Z"]]}}, "site"),
    ({"dataframe_split": {"columns": ["site", "site"], "data": [["b0", "b0"]]}}, "dataframe_split.columns"),
    ({"dataframe_split": {"columns": ["site", "timestamp", "activity_type"],
                          "data": [["b0", "2019-04-10T09:00:00Z", ["gas"]]]}}, "activity_type"),
    ({"rows": ROWS}, "rows"),
    ({}, "body"),
    ([ROWS], "body"),
])
def test_bad_input_is_a_422_naming_the_field(engine, body, field):
    _problem(engine.post("/invocations", json=body), 422, field)


def test_bad_json_csv_content_type_and_size(engine_settings):
    from fastapi.testclient import TestClient

    from services.ml_engine.app import create_app

    with TestClient(create_app(engine_settings(max_body_bytes=10_000)), headers=AUTH) as engine:
        _problem(engine.post("/invocations", content=b"{not json", headers={"Content-Type": "application/json"}),
                 422, "body")
        _problem(engine.post("/invocations", content=b"site,timestamp\nb0,never\n", headers={"Content-Type": "text/csv"}),
                 422, "timestamp")
        _problem(engine.post("/invocations", content=b"site\tb0", headers={"Content-Type": "text/plain"}), 415,
                 "content-type")
        _problem(engine.post("/invocations", content=b"{}"), 415, "content-type")
        big = {"dataframe_records": ROWS * 200}
        _problem(engine.post("/invocations", json=big), 413)


def test_row_limit(engine_settings):
    from fastapi.testclient import TestClient

    from services.ml_engine.app import create_app

    with TestClient(create_app(engine_settings(max_rows=2)), headers=AUTH) as engine:
        _problem(engine.post("/invocations", json={"dataframe_records": ROWS}), 422, "data")


def test_without_a_champion_the_engine_says_so_and_loads_it_when_it_appears(engine_settings, store_uri):
    from fastapi.testclient import TestClient

    from services.ml_engine.app import create_app

    client = MlflowClient(store_uri, store_uri)
    client.delete_registered_model_alias("carbon-baseline", "champion")
    with TestClient(create_app(engine_settings()), headers=AUTH) as engine:
        body = _problem(engine.get("/ping"), 503)
        assert "champion" in body["detail"]
        _problem(engine.post("/invocations", json={"dataframe_records": ROWS}), 503)
        health = engine.get("/health")  # alive (the registry answers), not ready: no champion yet
        assert health.status_code == 200 and health.json()["checks"]["model"]["detail"]["ready"] is False
        client.set_registered_model_alias("carbon-baseline", "champion", "1")
        assert engine.post("/api/v1/models/reload", headers=AUTH).json()["swapped"] is True
        assert engine.get("/ping").status_code == 200


def test_the_engine_is_unhealthy_when_its_registry_does_not_answer_and_nothing_is_cached(engine_settings, tmp_path):
    from fastapi.testclient import TestClient

    from services.ml_engine.app import create_app

    (tmp_path / "not-a-dir").write_text("")  # the registry's database cannot be opened
    dead = f"sqlite:///{tmp_path / 'not-a-dir' / 'mlflow.db'}"
    with TestClient(create_app(engine_settings(mlflow_tracking_uri=dead)), headers=AUTH) as engine:
        health = engine.get("/health")
        assert health.status_code == 503 and health.json()["checks"]["model"]["detail"]["ready"] is False
        _problem(engine.get("/ping"), 503)


def test_an_engine_started_before_its_registry_turns_healthy_within_seconds_of_it(engine_settings, store_uri,
                                                                                 tmp_path):
    """The engine may start before MLflow answers (make up starts them together): until the registry has
    answered once it asks every second, not every MODEL_POLL_SECONDS (an hour here)."""
    import shutil
    import time

    from fastapi.testclient import TestClient

    from services.ml_engine.app import create_app

    later = tmp_path / "later"
    later.write_text("")  # the registry's folder cannot exist yet
    uri = f"sqlite:///{later / 'mlflow.db'}"
    with TestClient(create_app(engine_settings(mlflow_tracking_uri=uri, model_poll_seconds=3600.0)), headers=AUTH) as engine:
        assert engine.get("/health").status_code == 503
        later.unlink()
        later.mkdir()
        shutil.copy(store_uri.removeprefix("sqlite:///"), later / "mlflow.db")  # MLflow is up now
        deadline = time.monotonic() + 15
        while engine.get("/ping").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert engine.get("/ping").status_code == 200 and engine.get("/health").status_code == 200


def test_a_restart_without_the_registry_serves_the_cached_champion(engine_settings, tmp_path):
    from fastapi.testclient import TestClient

    from services.ml_engine.app import create_app

    cache = tmp_path / "volume"
    with TestClient(create_app(engine_settings(model_cache_dir=cache)), headers=AUTH) as engine:
        expected = engine.post("/invocations", json={"dataframe_records": ROWS}).json()
        served = engine.get("/version").json()["model"]
    assert list((cache / "carbon-baseline").glob("v1-*/MLmodel"))  # downloaded once into the volume
    (tmp_path / "not-a-dir").write_text("")  # the registry's database cannot be opened
    dead = f"sqlite:///{tmp_path / 'not-a-dir' / 'mlflow.db'}"
    with TestClient(create_app(engine_settings(model_cache_dir=cache, mlflow_tracking_uri=dead)), headers=AUTH) as engine:
        assert engine.get("/ping").status_code == 200
        detail = engine.get("/health").json()["checks"]["model"]["detail"]
        assert detail["from_cache"] is True and detail["served"]["run_id"] == served["run_id"]
        assert engine.post("/invocations", json={"dataframe_records": ROWS}).json() == expected


def test_alias_move_is_noticed_by_the_poller_and_requests_in_flight_never_fail(engine_settings, store_uri):
    import time

    from fastapi.testclient import TestClient

    from services.ml_engine.app import create_app

    client = MlflowClient(store_uri, store_uri)
    stop = threading.Event()
    seen: list[tuple[int, str]] = []

    def hammer(engine):  # type: ignore[no-untyped-def]
        while not stop.is_set():
            r = engine.post("/invocations", json={"dataframe_records": ROWS})
            seen.append((r.status_code, r.headers.get("x-model-version", "")))

    with TestClient(create_app(engine_settings(model_poll_seconds=0.2)), headers=AUTH) as engine:
        workers = [threading.Thread(target=hammer, args=(engine,)) for _ in range(3)]
        for w in workers:
            w.start()
        try:
            for version in ("2", "1", "2"):
                client.set_registered_model_alias("carbon-baseline", "champion", version)
                deadline = time.monotonic() + 20
                while engine.get("/version").json()["model"]["version"] != version:
                    assert time.monotonic() < deadline, f"alias move to v{version} not noticed"
                    time.sleep(0.05)
        finally:
            stop.set()
            for w in workers:
                w.join()
    assert seen and all(status == 200 for status, _ in seen), {s for s, _ in seen}
    assert {v for _, v in seen} == {"1", "2"}


def test_models_lists_versions_with_aliases_and_metrics(engine):
    body = engine.get("/api/v1/models").json()
    assert body["name"] == "carbon-baseline" and body["served"]["version"] == "1"
    versions = {v["version"]: v for v in body["versions"]}
    assert versions["1"]["aliases"] == ["champion"] and versions["2"]["aliases"] == ["challenger"]
    for v in versions.values():
        assert v["run_id"] and v["trained_at"] and v["metrics"]["holdout_mae"] > 0
    assert versions["1"]["metrics"]["holdout_mae"] < versions["2"]["metrics"]["holdout_mae"]


def test_reload_needs_the_token(engine):
    _problem(engine.post("/api/v1/models/reload", headers=NO_AUTH), 401)
    assert engine.post("/api/v1/models/reload", headers=AUTH).json()["swapped"] is False


# --------------------------------------------------------------------------- typed API
def test_typed_predict_without_history_and_with_forecast_features(engine):
    stamps = ["2019-04-10T09:00:00Z", "2019-04-10T10:00:00Z"]
    r = engine.post("/api/v1/predict", json={"site": "b0", "timestamps": stamps, "history": "none",
                                             "features": {"temp_c": [8.0, None]}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"]["version"] == "1" and body["unit"] == "kWh" and body["interval"] == pytest.approx(0.9)
    assert body["history"] == {"source": "none"}
    assert [p["timestamp"][:19] for p in body["predictions"]] == ["2019-04-10T09:00:00", "2019-04-10T10:00:00"]
    for p in body["predictions"]:
        assert p["lower"] <= p["expected"] <= p["upper"]


def test_typed_predict_history_from_a_live_data_core_and_without_it(engine_settings, loaded_data_core,
                                                                    make_settings, slice_series):
    from fastapi.testclient import TestClient

    from services.data_core.app import create_app as data_core_app
    from services.ml_engine.app import create_app

    stamps = [f"2019-04-{d:02d}T{h:02d}:00:00Z" for d in (9, 10) for h in range(24)]
    with LiveServer(data_core_app(make_settings())) as data_core, \
            TestClient(create_app(engine_settings(data_core_url=data_core.url)), headers=AUTH) as engine:
        r = engine.post("/api/v1/predict", json={"site": "b0", "timestamps": stamps})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["history"]["source"] == "data-core" and body["history"]["readings"] >= 29 * 24
        with_history = pd.DataFrame(body["predictions"])["expected"].to_numpy()
        without = pd.DataFrame(engine.post("/api/v1/predict", json={"site": "b0", "timestamps": stamps,
                                                                   "history": "none"}).json()["predictions"])
    series, _ = slice_series
    actual = series["electricity"].set_index(["site", "timestamp"]).loc["b0"]["value"]
    actual = actual.reindex(pd.to_datetime(stamps, utc=True)).to_numpy()
    # history must help on real data: the day-ahead lags carry the building's current level
    assert abs(with_history - actual).mean() < abs(without["expected"].to_numpy() - actual).mean()
    with TestClient(create_app(engine_settings(data_core_url="http://127.0.0.1:9")), headers=AUTH) as engine:
        r = engine.post("/api/v1/predict", json={"site": "b0", "timestamps": stamps})
        assert r.status_code == 200
        assert r.json()["history"]["source"] == "none" and "unavailable" in r.json()["history"]["reason"]


@pytest.mark.parametrize(("body", "field"), [
    ({"site": "b0", "activity_type": "diesel", "timestamps": ["2019-04-10T09:00:00Z"]}, "activity_type"),
    ({"site": "b0", "timestamps": []}, "timestamps"),
    ({"site": "b0", "timestamps": ["not a time"]}, "timestamps.0"),
    ({"site": "b0", "timestamps": ["2019-04-10T09:00:00Z"], "features": {"temp_c": [1.0, 2.0]}}, None),
    ({"site": "b0", "timestamps": ["2019-04-10T09:00:00Z"], "features": {"wind": [1.0]}}, None),
    ({"site": "b0", "timestamps": ["2019-04-10T09:00:00Z"], "history": "maybe"}, "history"),
    ({"site": "b0", "timestamps": ["2019-04-10T09:00:00Z", "2030-04-10T09:00:00Z"]}, None),
    ({"site": "b0", "timestamps": ["0001-01-01T00:00:00Z"]}, None),
])
def test_typed_predict_bad_input(engine, body, field):
    _problem(engine.post("/api/v1/predict", json=body), 422, field)


# --------------------------------------------------------------------------- fuzz
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_cells = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30)
                      | st.sampled_from(["b0", "b33", "2019-04-10T09:00:00Z", "natural_gas", "1e999", "NaN"]),
                      lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
                      max_leaves=4)
_columns = st.lists(st.sampled_from(COLUMNS + ["temp_c", "rh", "prev_day_max", "extra"]), min_size=1, max_size=5,
                    unique=True)


@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(columns=_columns, data=st.data())
def test_any_cells_in_any_format_are_answered_200_or_422(engine, columns, data):
    rows = data.draw(st.lists(st.lists(_cells, min_size=len(columns), max_size=len(columns)), min_size=1, max_size=3))
    for body in ({"dataframe_split": {"columns": columns, "data": rows}},
                 {"dataframe_records": [dict(zip(columns, r, strict=True)) for r in rows]}):
        response = engine.post("/invocations", json=body)
        assert response.status_code in (200, 422), (body, response.text)
        if response.status_code == 422:
            assert response.headers["content-type"].startswith(PROBLEM)

"""Weather per site (issue #17): stations, observation uploads (aliases, UTC, hourly means, rejects, replay),
paged reads per station and per site, the site's station, and the migration. Both dialects (``client``)."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import pytest
from alembic import command
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.data_core import weather as domain
from services.data_core.db import alembic_config, make_engine
from services.data_core.settings import REPO_ROOT
from tests.conftest import AUTH, READ_AUTH
from tests.services.data_core.helpers import make_site, problem

BEDFORD = REPO_ROOT / "data/buildings_cambridge/context_hourly_weather_bedford_and_uk_grid_ci_2019_2020.csv"
HEADER = "timestamp,air_temperature_degC,relative_humidity_pct,global_irradiance_w_m2\n"
STATION = {"id": "bedford", "name": "Bedford", "latitude": 52.227, "longitude": -0.465, "timezone": "Europe/London",
           "source": "Met Office MIDAS Open", "attribution": "Open Government Licence v3.0"}


def bedford_head(rows: int) -> bytes:
    """The first ``rows`` hours of the real Bedford file, as shipped (its grid-intensity column included)."""
    lines = BEDFORD.read_bytes().splitlines(keepends=True)
    return b"".join(lines[: rows + 1])


def station(client: Any, **changes: Any) -> Any:
    return client.post("/api/v1/weather/stations", json={**STATION, **changes})


def upload(client: Any, content: str | bytes, station_id: str = "bedford", *, multipart: bool = True,
           expect: int | None = 200, headers: dict[str, str] | None = None) -> dict[str, Any]:
    path = f"/api/v1/weather/stations/{station_id}/observations"
    if multipart:
        r = client.post(path, files={"file": ("obs.csv", content, "text/csv")}, headers=headers or AUTH)
    else:
        r = client.post(path, content=content, headers={**(headers or AUTH), "Content-Type": "text/csv"})
    if expect is not None:
        assert r.status_code == expect, r.text
    return r.json()


def hours(client: Any, station_id: str = "bedford", **params: Any) -> pd.DataFrame:
    r = client.get(f"/api/v1/weather/stations/{station_id}/observations", params=params)
    assert r.status_code == 200, r.text
    return pd.DataFrame(r.json()["rows"], columns=["timestamp", *domain.VALUES])


def test_a_station_is_created_then_updated_by_sending_it_again(client: TestClient) -> None:
    r = station(client)
    assert r.status_code == 201 and r.json() | {"hours": 0} == {**STATION, "elevation_m": None, "first_hour": None,
                                                                "last_hour": None, "hours": 0}
    assert station(client).status_code == 200  # the same again: nothing changes
    r = station(client, name="Bedford (Met Office)", elevation_m=85)
    assert r.status_code == 200 and r.json()["name"] == "Bedford (Met Office)" and r.json()["elevation_m"] == 85
    listed = client.get("/api/v1/weather/stations").json()
    assert [s["id"] for s in listed] == ["bedford"] and listed[0]["name"] == "Bedford (Met Office)"
    assert client.get("/api/v1/weather/stations/bedford").json()["elevation_m"] == 85
    problem(client.get("/api/v1/weather/stations/nowhere"), 404)
    for bad in ({"timezone": "Europe/Atlantis"}, {"latitude": 91}, {"longitude": -181}, {"id": "../x"},
                {"unknown": 1}):
        problem(station(client, **bad), 422)


def test_the_real_bedford_file_is_stored_hour_for_hour_and_sending_it_again_changes_nothing(client: TestClient) -> None:
    station(client)
    content = bedford_head(500)
    report = upload(client, content)
    assert report["status"] == "committed"
    assert (report["received"], report["accepted"], report["duplicates"], report["rejected"]) == (500, 500, 0, 0)
    assert report["hours_inserted"] == 500 and report["ignored_columns"] == ["uk_grid_carbon_intensity_kgco2_per_kwh"]
    assert (report["period_start"], report["period_end"]) == ("2019-01-01T00:00:00Z", "2019-01-21T20:00:00Z")
    source = pd.read_csv(io.BytesIO(content))
    stored = hours(client)
    assert stored["timestamp"].tolist() == pd.to_datetime(source["datetime_utc"]).dt.strftime(
        "%Y-%m-%dT%H:%M:%SZ").tolist()
    pd.testing.assert_frame_equal(stored[list(domain.VALUES)], source[list(domain.VALUES)])
    for multipart in (True, False):  # the same file again, as a file or as a text/csv body
        again = upload(client, content, multipart=multipart)
        assert again["status"] == "nothing-new" and again["accepted"] == 0 and again["duplicates"] == 500
        assert again["hours_inserted"] == again["hours_updated"] == 0 and again["hours_unchanged"] == 500
    pd.testing.assert_frame_equal(hours(client), stored)
    listed = client.get("/api/v1/weather/stations").json()[0]
    assert (listed["first_hour"], listed["last_hour"], listed["hours"]) == (
        "2019-01-01T00:00:00Z", "2019-01-21T19:00:00Z", 500)


def test_impossible_values_are_rejected_per_row_and_stored_for_review_the_good_rows_kept(client: TestClient) -> None:
    station(client)
    content = HEADER + "\n".join([
        "2020-01-01T00:00:00Z,5.0,80,0",      # 2 good
        "2020-01-01T01:00:00Z,75.0,80,0",     # 3 temperature above 60
        "2020-01-01T02:00:00Z,-95,80,0",      # 4 temperature below -90
        "2020-01-01T03:00:00Z,5,120,0",       # 5 humidity above 100
        "2020-01-01T04:00:00Z,5,-3,0",        # 6 humidity below 0
        "2020-01-01T05:00:00Z,5,80,-5",       # 7 negative irradiance
        "2020-01-01T06:00:00Z,warm,80,0",     # 8 not a number
        "yesterday,5,80,0",                   # 9 unreadable time
        "2020-01-01,5,80,0",                  # 10 a date is not an hour
        "2020-01-01T07:00:00Z,,,",            # 11 no value at all
        ",5,80,0",                            # 12 no time
        "2020-01-01T08:00:00Z,6.5,,",         # 13 good: a missing value is allowed
        "2020-01-01T09:00:00Z,70,130,0",      # 14 two reasons, one row
    ]) + "\n"
    report = upload(client, content)
    assert (report["received"], report["accepted"], report["rejected"]) == (13, 2, 11)
    got = {(r["row"], r["column"]) for r in report["rejects"]}
    T, H, G = domain.VALUES
    assert got == {(3, T), (4, T), (5, H), (6, H), (7, G), (8, T), (9, "timestamp"), (10, "timestamp"),
                   (11, f"{T},{H},{G}"), (12, "timestamp"), (14, T), (14, H)}
    reasons = {(r["row"], r["column"]): r["reason"] for r in report["rejects"]}
    assert "physically impossible" in reasons[(3, T)] and "75.0 °C" in reasons[(3, T)]
    assert "not a finite number" in reasons[(8, T)] and "ISO 8601" in reasons[(9, "timestamp")]
    stored = hours(client)
    assert stored["timestamp"].tolist() == ["2020-01-01T00:00:00Z", "2020-01-01T08:00:00Z"]
    assert stored.iloc[1][T] == 6.5 and pd.isna(stored.iloc[1][H])
    review = client.get(report["rejects_url"]).json()
    assert review["total"] == 12 and {r["row"] for r in review["rejects"]} == {3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14}
    assert all(r["raw"]["station"] == "bedford" and r["status"] == "open" for r in review["rejects"])
    open_before = client.get("/api/v1/ingest/rejects").json()["total"]
    again = upload(client, content)  # the same bad rows again are not stored twice
    assert again["duplicates"] == 2 and again["rejected"] == 11
    assert client.get("/api/v1/ingest/rejects").json()["total"] == open_before == 12


def test_a_file_without_one_good_row_is_a_422_problem_listing_the_rejects(client: TestClient) -> None:
    station(client)
    r = client.post("/api/v1/weather/stations/bedford/observations", content=HEADER + "2020-01-01T00:00:00Z,99,50,0\n",
                    headers={**AUTH, "Content-Type": "text/csv"})
    body = problem(r, 422)
    assert body["rejected"] == 1 and body["rejects"][0]["column"] == "air_temperature_degC"
    assert hours(client).empty


@pytest.mark.parametrize(("content", "status"), [
    ("", 422),                                                       # empty
    ("when,what\n2020-01-01T00:00:00Z,1\n", 422),                    # no time column known, no value column
    ("timestamp,pressure_hpa\n2020-01-01T00:00:00Z,1013\n", 422),    # no value column
    ("timestamp,temp,temperature\n2020-01-01T00:00:00Z,1,2\n", 422), # the same column twice
    ("PK\x03\x04binary", 415),
])
def test_a_file_that_cannot_be_read_is_a_problem_and_stores_nothing(client: TestClient, content: str,
                                                                    status: int) -> None:
    station(client)
    problem(client.post("/api/v1/weather/stations/bedford/observations", files={"file": ("x.csv", content)},
                        headers=AUTH), status)
    assert hours(client).empty and client.get("/api/v1/ingest/batches").json() == []


def test_unknown_station_wrong_type_and_missing_file_are_problems(client: TestClient) -> None:
    problem(client.post("/api/v1/weather/stations/nowhere/observations", content=HEADER + "2020-01-01T00:00Z,1,1,1\n",
                        headers={**AUTH, "Content-Type": "text/csv"}), 404)
    station(client)
    problem(client.post("/api/v1/weather/stations/bedford/observations", json={"rows": []}, headers=AUTH), 415)
    problem(client.post("/api/v1/weather/stations/bedford/observations", data={"x": "1"},
                        files={"other": ("a.csv", HEADER)}, headers=AUTH), 422)


def test_sub_hourly_observations_are_averaged_into_their_hour(client: TestClient) -> None:
    station(client)
    ten_minutes = "time,temp,rh,ghi\n" + "\n".join([  # aliases of the three columns
        "2020-06-01T10:00:00Z,20.0,50,100",
        "2020-06-01T10:10:00Z,21.0,52,300",
        "2020-06-01T10:20:00Z,22.0,,500",      # humidity missing: its mean is over the other rows
        "2020-06-01T10:50:00Z,23.0,54,700",
        "2020-06-01T11:00:00Z,30.0,60,0",      # the next hour
    ]) + "\n"
    report = upload(client, ten_minutes)
    assert report["received"] == report["accepted"] == 5 and report["hours_inserted"] == 2
    stored = hours(client).set_index("timestamp")
    assert stored.loc["2020-06-01T10:00:00Z"].tolist() == [21.5, 52.0, 400.0]
    assert stored.loc["2020-06-01T11:00:00Z"].tolist() == [30.0, 60.0, 0.0]


def test_the_hourly_means_do_not_depend_on_where_the_file_is_cut_into_chunks() -> None:
    stamps = pd.date_range("2020-01-01", periods=600, freq="7min", tz="UTC")
    frame = pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%SZ"),
                          "temperature": (pd.Series(range(600)) % 37 - 10) / 3,
                          "ghi": (pd.Series(range(600)) * 13) % 900})
    content = frame.to_csv(index=False).encode()

    def means(chunk_rows: int) -> pd.DataFrame:
        parsed = domain.read_observations(io.BytesIO(content), chunk_rows=chunk_rows)
        parts = [domain.partial_sums(domain.check(c, parsed.values)[0], parsed.values) for c in parsed.chunks]
        return domain.hourly_means(parts, parsed.values)

    whole, cut = means(10_000), means(7)
    pd.testing.assert_frame_equal(whole, cut)
    expected = frame.assign(hour=stamps.floor("h").tz_convert(None)).groupby("hour")["temperature"].mean().round(4)
    assert whole["air_temperature_degC"].tolist() == expected.tolist()
    assert whole["rows"].sum() == 600 and parsed_values(content) == ["air_temperature_degC", "global_irradiance_w_m2"]


def parsed_values(content: bytes) -> list[str]:
    return domain.read_observations(io.BytesIO(content)).values


def test_offsets_are_converted_to_utc_across_both_clock_changes(client: TestClient) -> None:
    station(client)
    # UK local time with its offset: spring forward (2019-03-31 01:00 GMT -> 02:00 BST) and fall back
    # (2019-10-27 02:00 BST -> 01:00 GMT, when 01:30 local happens twice: the offsets tell them apart)
    local = HEADER + "\n".join([
        "2019-03-31T00:30:00+00:00,1.0,90,0",
        "2019-03-31T02:30:00+01:00,2.0,90,0",   # 01:30 UTC
        "2019-10-27T01:30:00+01:00,3.0,90,0",   # 00:30 UTC
        "2019-10-27T01:30:00+00:00,4.0,90,0",   # 01:30 UTC
        "2019-10-27T02:15:00",                   # no offset: UTC
    ]) + ",5.0,90,0\n"
    report = upload(client, local)
    assert report["accepted"] == 5 and report["hours_inserted"] == 5
    stored = hours(client)
    assert stored["timestamp"].tolist() == ["2019-03-31T00:00:00Z", "2019-03-31T01:00:00Z", "2019-10-27T00:00:00Z",
                                            "2019-10-27T01:00:00Z", "2019-10-27T02:00:00Z"]
    assert stored["air_temperature_degC"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_a_corrected_hour_replaces_the_stored_one_and_absent_columns_stay(client: TestClient) -> None:
    station(client)
    upload(client, HEADER + "2020-01-01T00:00:00Z,5.0,80,0\n2020-01-01T01:00:00Z,6.0,81,0\n")
    report = upload(client, "timestamp,temperature\n2020-01-01T00:00:00Z,5.5\n2020-01-01T01:00:00Z,6.0\n")
    assert (report["hours_updated"], report["hours_unchanged"], report["accepted"], report["duplicates"]) == (1, 1, 1, 1)
    stored = hours(client)
    assert stored["air_temperature_degC"].tolist() == [5.5, 6.0]
    assert stored["relative_humidity_pct"].tolist() == [80.0, 81.0]  # not in the second file: kept


def test_observations_are_read_by_window_and_paged(client: TestClient) -> None:
    station(client)
    upload(client, bedford_head(48))
    window = hours(client, start="2019-01-01T10:00:00+01:00", end="2019-01-01T13:00:00Z")
    assert window["timestamp"].tolist() == ["2019-01-01T09:00:00Z", "2019-01-01T10:00:00Z", "2019-01-01T11:00:00Z",
                                            "2019-01-01T12:00:00Z"]
    first = client.get("/api/v1/weather/stations/bedford/observations", params={"limit": 20})
    assert first.json()["count"] == 20 and 'rel="next"' in first.headers["link"]
    second = client.get("/api/v1/weather/stations/bedford/observations" + first.json()["next"])
    third = client.get("/api/v1/weather/stations/bedford/observations" + second.json()["next"])
    assert third.json()["count"] == 8 and "next" not in third.json() and "link" not in third.headers
    paged = [r["timestamp"] for p in (first, second, third) for r in p.json()["rows"]]
    assert paged == hours(client)["timestamp"].tolist()
    csv = client.get("/api/v1/weather/stations/bedford/observations", params={"format": "csv", "end": "2019-01-01T02:00Z"})
    assert csv.headers["content-type"].startswith("text/csv") and len(csv.text.strip().splitlines()) == 3
    problem(client.get("/api/v1/weather/stations/bedford/observations", params={"start": "2019-01-02",
                                                                              "end": "2019-01-01"}), 422)
    problem(client.get("/api/v1/weather/stations/nowhere/observations"), 404)
    problem(client.get("/api/v1/weather/stations/bedford/observations", params={"start": "soon"}), 422)


def test_a_site_names_its_station_and_reads_its_weather(client: TestClient) -> None:
    station(client)
    upload(client, bedford_head(24))
    site = make_site(client, "b1", country="GB")
    assert site["weather_station"] is None
    none = client.get("/api/v1/sites/b1/weather")
    assert none.status_code == 200 and none.headers["x-weather"] == "none"
    assert none.json() == {"site": "b1", "station": None, "weather": "none", "reason": "no-station", "count": 0,
                           "rows": []}
    body = problem(client.patch("/api/v1/sites/b1", json={"weather_station": "nowhere"}, headers=AUTH), 422)
    assert body["field"] == "weather_station"
    r = client.patch("/api/v1/sites/b1", json={"weather_station": "bedford"}, headers=AUTH)
    assert r.status_code == 200 and r.json()["weather_station"] == "bedford"
    assert client.get("/api/v1/sites/b1").json()["weather_station"] == "bedford"
    assert [s["weather_station"] for s in client.get("/api/v1/sites").json()] == ["bedford"]
    got = client.get("/api/v1/sites/b1/weather", params={"start": "2019-01-01T05:00:00Z", "end": "2019-01-01T08:00Z"})
    assert got.headers["x-weather"] == "hourly" and got.headers["x-weather-station"] == "bedford"
    assert got.json()["weather"] == "hourly" and got.json()["count"] == 3 and "reason" not in got.json()
    assert got.json()["rows"] == client.get("/api/v1/weather/stations/bedford/observations", params={
        "start": "2019-01-01T05:00:00Z", "end": "2019-01-01T08:00Z"}).json()["rows"]
    later = client.get("/api/v1/sites/b1/weather", params={"start": "2021-01-01T00:00:00Z"})
    assert later.json()["weather"] == "none" and later.json()["reason"] == "no-observations"
    assert later.headers["x-weather"] == "none"
    past_last_page = client.get("/api/v1/sites/b1/weather", params={"limit": 10, "offset": 100})
    assert past_last_page.json()["count"] == 0 and past_last_page.json()["weather"] == "hourly"
    csv = client.get("/api/v1/sites/b1/weather", params={"format": "csv", "end": "2019-01-01T02:00Z"})
    assert csv.headers["x-weather"] == "hourly" and len(csv.text.strip().splitlines()) == 3
    problem(client.get("/api/v1/sites/nowhere/weather"), 404)
    # a site created with its station; an unknown one refused; null removes it
    problem(client.post("/api/v1/sites", json={"id": "b3", "org_id": "acme", "name": "B3", "country": "GB",
                                               "weather_station": "nowhere"}, headers=AUTH), 422)
    r = client.post("/api/v1/sites", json={"id": "b3", "org_id": "acme", "name": "B3", "country": "GB",
                                           "weather_station": "bedford"}, headers=AUTH)
    assert r.status_code == 201 and r.json()["weather_station"] == "bedford"
    same = {"id": "b3", "org_id": "acme", "name": "B3", "country": "GB"}  # leaving the station out: the same site
    assert client.post("/api/v1/sites", json=same, headers=AUTH).status_code == 201
    problem(client.post("/api/v1/sites", json=same | {"weather_station": None}, headers=AUTH), 409)
    assert client.patch("/api/v1/sites/b3", json={"weather_station": None}, headers=AUTH).json()["weather_station"] is None
    problem(client.patch("/api/v1/sites/b3", json={"name": None}, headers=AUTH), 422)


def test_every_weather_route_needs_a_token_and_writes_the_write_token(client: TestClient) -> None:
    station(client)
    make_site(client, "b1", country="GB")
    anonymous = {"Authorization": ""}
    reads = ["/api/v1/weather/stations", "/api/v1/weather/stations/bedford",
             "/api/v1/weather/stations/bedford/observations", "/api/v1/sites/b1/weather"]
    for path in reads:
        problem(client.get(path, headers=anonymous), 401)
        assert client.get(path, headers=READ_AUTH).status_code == 200, path
    for path, kwargs in (("/api/v1/weather/stations", {"json": STATION}),
                         ("/api/v1/weather/stations/bedford/observations",
                          {"content": HEADER + "2020-01-01T00:00:00Z,1,1,1\n"})):
        problem(client.post(path, headers={**anonymous, "Content-Type": "text/csv"}, **kwargs), 401)
        problem(client.post(path, headers={**READ_AUTH, "Content-Type": "text/csv"}, **kwargs), 403)
    assert hours(client).empty


def test_the_migration_goes_down_and_up_again_with_sites_that_have_stations(client: TestClient,
                                                                             database_url: str) -> None:
    station(client)
    upload(client, bedford_head(5))
    make_site(client, "b1", country="GB")
    client.patch("/api/v1/sites/b1", json={"weather_station": "bedford"}, headers=AUTH)
    r = client.post("/api/v1/factors", json={"site_id": "b1", "activity_type": "electricity", "unit": "kWh",
                                             "co2e_kg": 0.0, "method": "market"}, headers=AUTH)
    assert r.status_code == 201, r.text
    client.app.state.engine.dispose()
    config = alembic_config(database_url)
    command.downgrade(config, "0004")  # before weather (0005) and what follows it
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            columns = pd.read_sql("SELECT * FROM sites", conn).columns
        assert "weather_station" not in columns
    finally:
        engine.dispose()
    command.upgrade(config, "head")
    assert client.get("/api/v1/sites/b1").json()["weather_station"] is None
    assert client.get("/api/v1/weather/stations").json() == []


_COLUMNS = st.sampled_from(["timestamp", "datetime_utc", "time", "temp", "air_temperature_degC", "rh", "ghi",
                            "irradiance", "x", "x", "", " Temperature ", "timestamp"])
_CELLS = st.one_of(
    st.sampled_from(["2020-01-01T00:00:00Z", "2020-03-29T01:30:00+01:00", "2020-01-01", "0001-01-01T00:00:00Z",
                     "9999-12-31T23:59:59Z", "2262-04-11T23:59:59Z", "nan", "NA", "inf", "-inf", "1e400", "-0",
                     "60.0001", "100", "-90", "", '"', '""', "a,b", "\u00e9", "\u0000"]),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.text(max_size=12),
)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(header=st.lists(_COLUMNS, min_size=1, max_size=5), rows=st.lists(st.lists(_CELLS, max_size=6), max_size=8),
       sep=st.sampled_from([",", ";", "\t"]), encoding=st.sampled_from([None, "utf-8", "latin-1", "utf-16", "rot13",
                                                                          "nope"]))
def test_no_upload_answers_5xx_whatever_the_file(upload_client: TestClient, header: list[str],
                                                rows: list[list[str]], sep: str, encoding: str | None) -> None:
    content = "\n".join(sep.join(line) for line in [header, *rows]).encode("utf-8", "surrogatepass")
    r = upload_client.post("/api/v1/weather/stations/bedford/observations", files={"file": ("f.csv", content)},
                           params={"encoding": encoding} if encoding else {}, headers=AUTH)
    assert r.status_code in (200, 415, 422), r.text
    if r.status_code != 200:
        problem(r, r.status_code)


@pytest.fixture
def upload_client(client: TestClient) -> TestClient:
    station(client)
    return client


def test_a_nul_character_in_a_bad_row_far_into_the_file_does_not_lose_the_good_rows(client: TestClient) -> None:
    station(client)
    good = "".join(f"2020-01-{d:02d}T{h:02d}:00:00Z,5.0,80,0\n" for d in range(1, 11) for h in range(24))
    report = upload(client, HEADER + good + "2020-02-01T00:00:00Z,5\u00000,80,0\n")
    assert report["accepted"] == 240 and report["rejected"] == 1
    assert report["rejects"][0]["value"] == "5\ufffd0"


def test_the_demo_loads_the_bedford_station_for_its_uk_sites_once(make_settings: Any) -> None:
    import httpx

    from services.data_core.app import create_app
    from services.data_core.demo import load_demo
    from tests.conftest import TOKEN, LiveServer

    with LiveServer(create_app(make_settings())) as server, httpx.Client(base_url=server.url, headers=AUTH,
                                                                          trust_env=False) as http:
        first = load_demo(server.url, TOKEN, files=[])[BEDFORD.name]
        assert (first["accepted"], first["rejected"], first["replayed"]) == (17544, 0, False)
        [bedford] = http.get("/api/v1/weather/stations").json()
        assert (bedford["id"], bedford["latitude"], bedford["longitude"], bedford["hours"]) == ("bedford", 52.227,
                                                                                                 -0.465, 17544)
        assert "Met Office" in bedford["source"] and "Open Government Licence" in bedford["attribution"]
        sites = {s["id"]: s for s in http.get("/api/v1/sites").json()}
        assert all(s["weather_station"] == ("bedford" if s["country"] == "GB" else None) for s in sites.values())
        assert sites["us-liaison"]["weather_station"] is None and len(sites) == 42
        # a site registered before sites had stations gets the station on the next load; the weather is replayed
        http.patch("/api/v1/sites/b0", json={"weather_station": None})
        again = load_demo(server.url, TOKEN, files=[])[BEDFORD.name]
        assert (again["accepted"], again["duplicates"], again["replayed"]) == (0, 17544, True)
        assert http.get("/api/v1/sites/b0").json()["weather_station"] == "bedford"
        july = http.get("/api/v1/sites/b0/weather", params={"start": "2019-07-25T12:00:00Z", "limit": 1}).json()
        assert july["weather"] == "hourly" and july["rows"][0]["air_temperature_degC"] == 26.5  # the 2019 heatwave

"""Corrections of stored readings through ledger versions (issue #17): the old reading is kept and superseded,
a new ledger version holds the new reading's emissions, the parent version still gives the old totals."""

from __future__ import annotations

from typing import Any

import pytest

from tests.services.data_core.helpers import audit, ingest, make_site, problem, record, total

HOURS = [record(quantity=q, period_start=f"2019-06-01T{h:02d}:00:00Z", period_end=f"2019-06-01T{h + 1:02d}:00:00Z")
         for h, q in ((10, 100.0), (11, 120.0), (12, 90.0))]


@pytest.fixture
def gb(client: Any) -> Any:
    make_site(client, "s1", country="GB")
    report = ingest(client, HOURS)
    assert report["accepted"] == 3
    return client


def _ids(client: Any) -> dict[str, int]:
    """Stored reading id per hour start of the current version."""
    rows = audit(client)["rows"]
    return {r["period_start"][11:16]: int(r["activity_id"]) for r in rows}


def _correct(client: Any, activity_id: int, **body: Any) -> Any:
    return client.post(f"/api/v1/activities/{activity_id}/corrections",
                       json={"requested_by": "j.smith", "reason": "meter read twice", **body})


def _readings(client: Any) -> dict[str, float]:
    r = client.get("/api/v1/readings", params={"site": "s1", "activity_type": "electricity"})
    assert r.status_code == 200, r.text
    return {x["timestamp"][11:16]: x["quantity"] for x in r.json()["readings"]}


def test_a_correction_makes_a_new_version_and_keeps_the_old_one(gb: Any) -> None:
    ids = _ids(gb)
    before_version = gb.get("/api/v1/ledger/versions").json()
    old_total = total(gb)
    r = _correct(gb, ids["11:00"], quantity=60.0, unit="kWh")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["replayed"] is False and body["parent_version"] == 1 and body["ledger_version"] == 2
    [made] = body["corrections"]
    assert made["activity_id"] == ids["11:00"] and made["requested_by"] == "j.smith"
    assert made["reason"] == "meter read twice" and made["version_id"] == 2
    # the new version: 60 kWh instead of 120 kWh, so the total falls by half of that hour's emissions
    new_total = total(gb)
    assert new_total == pytest.approx(old_total - body["kg_co2e_removed"] + body["kg_co2e_added"])
    assert body["kg_co2e_added"] == pytest.approx(body["kg_co2e_removed"] / 2)
    assert new_total < old_total
    # the parent version reproduces the old totals, on the ledger and on the rollup (day-aligned filters)
    assert total(gb, version=1) == pytest.approx(old_total)
    assert total(gb, version=1, start="2019-06-01T00:00:00Z", end="2019-06-02T00:00:00Z") == pytest.approx(old_total)
    assert total(gb, start="2019-06-01T00:00:00Z", end="2019-06-02T00:00:00Z") == pytest.approx(new_total)
    # the current version's audit names the new reading; the old one is in version 1 only
    current = _ids(gb)
    assert current["11:00"] == made["replacement_id"] != ids["11:00"]
    assert {int(r["activity_id"]) for r in audit(gb, version=1)["rows"]} == set(ids.values())
    # the readings view and the history use the corrected reading; the old one is kept, superseded
    assert _readings(gb) == {"10:00": 100.0, "11:00": 60.0, "12:00": 90.0}
    old = gb.get(f"/api/v1/activities/{ids['11:00']}").json()
    assert old["current"] is False and old["reading"]["quantity"] == 120.0
    assert old["reading"]["superseded_by"] == made["replacement_id"] and old["current_id"] == made["replacement_id"]
    versions = gb.get("/api/v1/ledger/versions").json()
    assert len(versions) == len(before_version) + 1


def test_resending_the_same_correction_changes_nothing(gb: Any) -> None:
    ids = _ids(gb)
    first = _correct(gb, ids["10:00"], quantity=50.0, unit="kWh")
    assert first.status_code == 201, first.text
    after = total(gb)
    again = _correct(gb, ids["10:00"], quantity=50.0, unit="kWh")
    assert again.status_code == 200, again.text
    assert again.json()["replayed"] is True and again.json()["ledger_version"] == first.json()["ledger_version"]
    assert again.json()["corrections"] == first.json()["corrections"]
    assert total(gb) == pytest.approx(after)
    assert len(gb.get("/api/v1/ledger/versions").json()) == 2
    # a different correction of the superseded reading is refused, naming its replacement
    body = problem(_correct(gb, ids["10:00"], quantity=40.0, unit="kWh"), 409)
    assert str(first.json()["corrections"][0]["replacement_id"]) in body["detail"]
    # re-sending the original file changes nothing either: the old reading and the new are duplicates / kept
    report = ingest(gb, HOURS)
    assert (report["accepted"], report["duplicates"], report["rejected"]) == (0, 3, 0)
    assert total(gb) == pytest.approx(after)
    # a third quantity for the corrected hour is a conflict that says which reading to correct
    report = ingest(gb, [{**HOURS[0], "quantity": 77.0}], expect=422)
    replacement = first.json()["corrections"][0]["replacement_id"]
    assert f"/api/v1/activities/{replacement}/corrections" in report["rejects"][0]["reason"]
    assert total(gb) == pytest.approx(after)


def test_refusals_are_problems_and_change_nothing(gb: Any) -> None:
    ids = _ids(gb)
    before = total(gb)
    problem(_correct(gb, 999_999_999, quantity=1.0, unit="kWh"), 404)
    body = problem(_correct(gb, ids["10:00"], quantity=1.0, unit="kg"), 422)
    assert body["rejects"][0]["column"] == "unit" and "does not fit activity" in body["rejects"][0]["reason"]
    problem(_correct(gb, ids["10:00"], quantity=-1.0, unit="kWh"), 422)
    problem(_correct(gb, ids["10:00"], quantity=100.0, unit="kWh"), 422)  # equals the stored reading
    problem(gb.post(f"/api/v1/activities/{ids['10:00']}/corrections", json={"quantity": 1.0, "unit": "kWh"}), 422)
    # moved over the next hour's reading: an overlap, named
    body = problem(_correct(gb, ids["10:00"], quantity=100.0, unit="kWh", period_start="2019-06-01T10:30:00Z",
                            period_end="2019-06-01T11:30:00Z"), 422)
    assert f"the stored reading {ids['11:00']} " in body["rejects"][0]["reason"]
    # two corrections of one request overlapping each other
    bulk = {"requested_by": "j.smith", "reason": "shifted clock", "corrections": [
        {"activity_id": ids["10:00"], "quantity": 100.0, "unit": "kWh", "period_start": "2019-06-01T09:00:00Z",
         "period_end": "2019-06-01T10:30:00Z"},
        {"activity_id": ids["11:00"], "quantity": 120.0, "unit": "kWh", "period_start": "2019-06-01T10:00:00Z",
         "period_end": "2019-06-01T11:00:00Z"}]}
    body = problem(gb.post("/api/v1/activities/corrections", json=bulk), 422)
    assert "of this request" in body["rejects"][0]["reason"]
    duplicate = {**bulk, "corrections": [bulk["corrections"][0], bulk["corrections"][0]]}
    problem(gb.post("/api/v1/activities/corrections", json=duplicate), 422)
    problem(gb.post(f"/api/v1/activities/{ids['10:00']}/corrections", json={"requested_by": "x", "reason": "y",
                                                                           "quantity": 1.0, "unit": "kWh"},
                    headers={"Authorization": "Bearer wrong"}), 401)
    assert total(gb) == pytest.approx(before)
    assert len(gb.get("/api/v1/ledger/versions").json()) == 1


def test_the_overlap_check_ignores_superseded_readings(gb: Any) -> None:
    ids = _ids(gb)
    # the 12:00 reading was really 12:00-12:30: correct its period, then ingest the missing half hour
    r = _correct(gb, ids["12:00"], quantity=45.0, unit="kWh", period_end="2019-06-01T12:30:00Z")
    assert r.status_code == 201, r.text
    report = ingest(gb, [record(quantity=44.0, period_start="2019-06-01T12:30:00Z",
                                period_end="2019-06-01T13:00:00Z")])
    assert (report["accepted"], report["rejected"]) == (1, 0), report
    # still refused over the corrected (current) reading
    report = ingest(gb, [record(quantity=1.0, period_start="2019-06-01T12:15:00Z", period_end="2019-06-01T12:25:00Z")],
                    expect=422)
    assert str(r.json()["corrections"][0]["replacement_id"]) in report["rejects"][0]["reason"]
    assert _readings(gb)["12:00"] == pytest.approx(89.0)


def test_many_corrections_make_one_version(gb: Any) -> None:
    ids = _ids(gb)
    body = {"requested_by": "j.smith", "reason": "supplier re-issued the data", "corrections": [
        {"activity_id": ids["10:00"], "quantity": 10.0, "unit": "MWh"},
        {"activity_id": ids["12:00"], "quantity": 0.0, "unit": "kWh"}]}
    r = gb.post("/api/v1/activities/corrections", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["ledger_version"] == 2 and len(r.json()["corrections"]) == 2
    assert _readings(gb) == {"10:00": 10_000.0, "11:00": 120.0, "12:00": 0.0}
    assert audit(gb)["row_count"] == 3 and audit(gb, version=1)["row_count"] == 3
    replay = gb.post("/api/v1/activities/corrections", json=body)
    assert replay.status_code == 200 and replay.json()["replayed"] is True


def test_the_migration_goes_down_and_up_and_backfills_the_series_boxes(gb: Any, database_url: str) -> None:
    import pandas as pd
    from alembic import command

    from services.data_core.db import alembic_config, make_engine

    gb.app.state.engine.dispose()
    config = alembic_config(database_url)
    command.downgrade(config, "0005")
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            assert "revision" not in pd.read_sql("SELECT * FROM activities", conn).columns
        command.upgrade(config, "head")
        with engine.connect() as conn:
            boxes = pd.read_sql("SELECT * FROM activity_series", conn)
    finally:
        engine.dispose()
    assert len(boxes) == 1 and boxes["longest_s"].iloc[0] == pytest.approx(3600.0, abs=0.01)  # julianday on SQLite
    assert str(boxes["first_start"].iloc[0]).startswith("2019-06-01") and "10:00" in str(boxes["first_start"].iloc[0])
    # the backfilled box finds the stored readings: an overlap is refused, a replay is a duplicate
    report = ingest(gb, [record(quantity=1.0, period_start="2019-06-01T10:30:00Z", period_end="2019-06-01T11:30:00Z")],
                    expect=422)
    assert "the stored reading" in report["rejects"][0]["reason"]
    assert ingest(gb, HOURS)["duplicates"] == 3

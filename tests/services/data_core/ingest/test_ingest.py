"""POST /api/v1/ingest: reject reporting, reconciliation, idempotency, file formats and failures."""

from __future__ import annotations

import io
import uuid
from datetime import datetime

import openpyxl
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.data_core.app import create_app
from tests.conftest import AUTH, NO_AUTH
from tests.services.data_core.helpers import (
    activity_count,
    audit,
    csv_text,
    ingest,
    make_site,
    problem,
    record,
    total,
    upload,
)

pytestmark = pytest.mark.integration

GOOD = {"site": "s1", "timestamp": "2019-06-01T10:00:00Z", "activity_type": "electricity", "quantity": "100",
        "unit": "kWh"}


@pytest.fixture
def gb(client):
    make_site(client, "s1", country="GB")
    return client


def _hourly(n: int, *, start_hour: int = 0, meter: str = "m") -> list[dict[str, str]]:
    """n good hourly GB electricity rows in 2019 (NESO hourly factors exist for every hour)."""
    base = datetime(2019, 3, 1).timestamp()
    return [{"site": "s1", "meter": meter,
             "timestamp": datetime.utcfromtimestamp(base + 3600 * (start_hour + i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "activity_type": "electricity", "quantity": str(10 + i % 7), "unit": "kWh"} for i in range(n)]


def _reconciles(report):
    assert report["received"] == report["accepted"] + report["duplicates"] + report["rejected"]


# ---- rejects: where, why, and kept for review ---------------------------------------------------


def test_rejects_name_row_column_and_reason_with_spreadsheet_row_numbers(gb):
    rows = [GOOD,  # row 2
            {**GOOD, "site": "nowhere"},  # row 3
            {**GOOD, "timestamp": "2019-06-01T11:00:00Z", "quantity": "-5"},  # row 4
            {**GOOD, "timestamp": "2019-06-01T12:00:00Z", "unit": "bananas"},  # row 5
            {**GOOD, "timestamp": "2019-02-30T10:00:00Z"},  # row 6: impossible date
            {**GOOD, "timestamp": "2019-06-01T13:00:00Z", "activity_type": "electrcity"}]  # row 7
    r = upload(gb, csv_text(rows))
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["received"], report["accepted"], report["rejected"]) == (6, 1, 5)
    _reconciles(report)
    by_row = {(x["row"], x["column"]): x for x in report["rejects"]}
    assert set(by_row) == {(3, "site"), (4, "quantity"), (5, "unit"), (6, "timestamp"), (7, "activity_type")}
    for reject in report["rejects"]:
        assert reject["reason"] and reject["value"] != "" or reject["column"] == "quantity"
    assert "nowhere" in by_row[(3, "site")]["reason"]
    assert "negative" in by_row[(4, "quantity")]["reason"]
    assert "bananas" in by_row[(5, "unit")]["reason"]
    assert "2019-02-30" in by_row[(6, "timestamp")]["reason"]
    assert "did you mean 'electricity'" in by_row[(7, "activity_type")]["reason"]


def test_json_records_are_numbered_from_zero(gb):
    report = ingest(gb, [record("s1", timestamp="2019-06-01T10:00:00Z"), record("zz", timestamp="2019-06-01T10:00:00Z"),
                         record("s1", quantity="lots", timestamp="2019-06-01T11:00:00Z")])
    assert sorted((x["row"], x["column"]) for x in report["rejects"]) == [(1, "site"), (2, "quantity")]


def test_good_rows_of_a_bad_file_are_kept_and_rejects_stored_with_raw_values(gb):
    rows = _hourly(3) + [{**_hourly(1, start_hour=5)[0], "site": "ghost", "quantity": "7.5"}]
    report = upload(gb, csv_text(rows)).json()
    assert (report["accepted"], report["rejected"]) == (3, 1)
    assert activity_count(gb) == 3
    r = gb.get(f"/api/v1/ingest/batches/{report['batch_id']}/rejects")
    assert r.status_code == 200
    stored = r.json()
    assert stored["total"] == 1
    reject = stored["rejects"][0]
    assert (reject["row"], reject["column"], reject["value"]) == (5, "site", "ghost")
    assert reject["raw"]["site"] == "ghost" and reject["raw"]["quantity"] == "7.5"
    assert reject["status"] == "open"
    assert gb.get("/api/v1/ingest/rejects").json()["total"] == 1


def test_all_rows_rejected_is_a_422_problem_that_still_lists_the_rejects(gb):
    r = upload(gb, csv_text([{**GOOD, "site": "ghost"}, {**GOOD, "quantity": "x"}]))
    body = problem(r, 422)
    assert body["rejected"] == 2 and body["accepted"] == 0
    assert sorted((x["row"], x["column"]) for x in body["rejects"]) == [(2, "site"), (3, "quantity")]
    stored = gb.get(body["rejects_url"]).json()
    assert stored["total"] == 2


@pytest.mark.parametrize(
    ("change", "column", "words"),
    [
        ({"timestamp": "2099-01-01T00:00:00Z"}, "timestamp", "future"),
        ({"timestamp": "2019-13-01T00:00:00Z"}, "timestamp", "impossible"),
        ({"timestamp": "1985-01-01T00:00:00Z"}, "timestamp", "1990"),
        ({"quantity": "-0.1"}, "quantity", "negative"),
        ({"quantity": "inf"}, "quantity", "finite"),
        ({"quantity": ""}, "quantity", "missing"),
        ({"unit": "wombats"}, "unit", "unknown unit"),
        ({"unit": "kg"}, "unit", "does not fit"),
        ({"site": "atlantis"}, "site", "unknown site"),
        ({"activity_type": ""}, "activity_type", "missing"),
    ],
)
def test_each_kind_of_bad_value_is_rejected_with_its_reason(gb, change, column, words):
    report = ingest(gb, [record("s1", timestamp="2019-06-01T10:00:00Z"), {**GOOD, **change}])
    assert report["accepted"] == 1 and report["rejected"] == 1
    (reject,) = report["rejects"]
    assert reject["row"] == 1 and reject["column"] == column and words in reject["reason"]


def test_no_factor_for_the_period_is_a_reject_naming_activity_unit_region_and_year(client):
    make_site(client, "us1", country="US")
    report = ingest(client, [record("us1", "natural_gas", 5, "therm", timestamp="2025-03-01T00:00:00Z"),
                             record("us1", "natural_gas", 5, "therm", timestamp="2019-03-01T00:00:00Z")])
    (reject,) = report["rejects"]
    assert reject["row"] == 1
    for word in ("natural_gas", "therm", "US", "2019", "EPA-HUB-2021"):
        assert word in reject["reason"]


# ---- counts reconcile -------------------------------------------------------------------------

BAD_CHANGES = [{"site": "ghost"}, {"quantity": "-1"}, {"unit": "wombats"}, {"timestamp": "2019-02-31T00:00:00Z"},
               {"quantity": "n/a"}, {"activity_type": "unobtainium"}]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(st.one_of(st.tuples(st.just("good"), st.integers(0, 5)),
                               st.tuples(st.just("bad"), st.integers(0, len(BAD_CHANGES) - 1))),
                     min_size=1, max_size=25))
def test_counts_reconcile_on_a_random_mix_of_good_and_bad_rows(gb, plan):
    meter = uuid.uuid4().hex[:12]  # every example writes new keys into the shared database
    slots = _hourly(6, meter=meter)
    rows = [slots[i] if kind == "good" else {**slots[0], **BAD_CHANGES[i]} for kind, i in plan]
    before = activity_count(gb)
    r = upload(gb, csv_text(rows))
    report = r.json()
    good_keys = {i for kind, i in plan if kind == "good"}
    n_good = sum(kind == "good" for kind, _ in plan)
    assert report["received"] == len(rows)
    assert report["accepted"] == len(good_keys)
    assert report["duplicates"] == n_good - len(good_keys)
    assert report["rejected"] == len(rows) - n_good
    _reconciles(report)
    assert r.status_code == (200 if good_keys else 422)
    assert activity_count(gb) == before + len(good_keys)


def test_within_file_duplicates_count_once_and_conflicts_are_rejected(gb):
    a, b = _hourly(2)
    rows = [a, b, dict(a), {**b, "quantity": "999"}]  # row 4 repeats row 2; row 5 conflicts with row 3
    report = upload(gb, csv_text(rows)).json()
    assert (report["accepted"], report["duplicates"], report["rejected"]) == (2, 1, 1)
    (reject,) = report["rejects"]
    assert reject["row"] == 5 and "row 3" in reject["reason"]


# ---- idempotency ------------------------------------------------------------------------------


def test_the_same_rows_again_change_nothing(gb):
    rows = _hourly(4) + [{**_hourly(1)[0], "site": "ghost"}]
    first = upload(gb, csv_text(rows)).json()
    kg, n = total(gb), activity_count(gb)
    rejects = gb.get("/api/v1/ingest/rejects").json()["total"]
    again = upload(gb, csv_text(rows)).json()
    assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, 4, 1)
    assert again["status"] == "nothing-new"
    assert total(gb) == kg and activity_count(gb) == n == first["accepted"]
    assert gb.get("/api/v1/ingest/rejects").json()["total"] == rejects == 1
    # the same rows as JSON records are the same activities
    as_json = ingest(gb, _hourly(4))
    assert (as_json["accepted"], as_json["duplicates"]) == (0, 4)
    assert total(gb) == kg


def test_the_same_idempotency_key_replays_the_first_answer(gb):
    headers = {"Idempotency-Key": "upload-42"}
    first = ingest(gb, _hourly(3), headers=headers)
    kg, n = total(gb), activity_count(gb)
    r = gb.post("/api/v1/ingest", json={"records": _hourly(3)}, headers={**AUTH, **headers})
    assert r.status_code == 200 and r.headers["Idempotent-Replayed"] == "true"
    assert r.json() == first
    assert total(gb) == kg and activity_count(gb) == n
    assert len(gb.get("/api/v1/ingest/batches").json()) == 1
    other = gb.post("/api/v1/ingest", json={"records": _hourly(2)}, headers={**AUTH, **headers})
    assert "different request" in problem(other, 422)["detail"]


def test_an_all_rejected_request_replayed_by_key_is_still_a_422(gb):
    headers = {**AUTH, "Idempotency-Key": "bad-one"}
    first = gb.post("/api/v1/ingest", json={"records": [{**GOOD, "site": "ghost"}]}, headers=headers)
    again = gb.post("/api/v1/ingest", json={"records": [{**GOOD, "site": "ghost"}]}, headers=headers)
    assert problem(first, 422)["batch_id"] == problem(again, 422)["batch_id"]


def test_a_conflicting_resend_is_rejected_and_the_stored_value_is_unchanged(gb):
    ingest(gb, [record("s1", quantity=100, timestamp="2019-06-01T10:00:00Z")])
    kg = total(gb)
    r = gb.post("/api/v1/ingest", json={"records": [record("s1", quantity=150, timestamp="2019-06-01T10:00:00Z")]},
                headers=AUTH)
    body = problem(r, 422)
    (reject,) = body["rejects"]
    assert reject["column"] == "quantity" and "conflicts with the stored record" in reject["reason"]
    assert total(gb) == kg
    (row,) = audit(gb)["rows"]
    assert row["quantity"] == 100


# ---- formats ----------------------------------------------------------------------------------


def test_xlsx_upload(gb):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Site", "Timestamp", "Activity", "Qty", "Units"])  # aliases of the canonical names
    sheet.append(["s1", datetime(2019, 6, 1, 10), "electricity", 100, "kWh"])
    sheet.append(["s1", "2019-06-01T11:00:00Z", "electricity", 50.5, "kWh"])
    sheet.append(["ghost", "2019-06-01T12:00:00Z", "electricity", 1, "kWh"])
    buffer = io.BytesIO()
    book.save(buffer)
    r = upload(gb, buffer.getvalue(), name="meters.xlsx",
               content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    report = r.json()
    assert r.status_code == 200, report
    assert (report["accepted"], report["rejected"]) == (2, 1)
    assert report["rejects"][0]["row"] == 4
    quantities = sorted(row["quantity"] for row in audit(gb)["rows"])
    assert quantities == [50.5, 100.0]


def test_text_csv_body_semicolons_and_bom(gb):
    rows = _hourly(2)
    r = gb.post("/api/v1/ingest", content=csv_text(rows), headers={**AUTH, "Content-Type": "text/csv"})
    assert r.status_code == 200 and r.json()["accepted"] == 2
    semi = csv_text(_hourly(2, start_hour=10), sep=";")
    r = gb.post("/api/v1/ingest", content=semi, headers={**AUTH, "Content-Type": "text/csv; charset=utf-8"})
    assert r.status_code == 200 and r.json()["accepted"] == 2, r.text
    bom = b"\xef\xbb\xbf" + csv_text(_hourly(2, start_hour=20)).encode()
    r = upload(gb, bom)
    assert r.status_code == 200 and r.json()["accepted"] == 2 and r.json()["ignored_columns"] == []
    assert activity_count(gb) == 6


def test_cp1252_file_is_refused_with_advice_then_accepted_with_its_encoding(gb):
    text = csv_text([{**GOOD, "note": "caf\u00e9 \u20ac"}])
    data = text.encode("cp1252")
    body = problem(upload(gb, data), 422)
    assert "encoding=cp1252" in body["detail"]
    assert activity_count(gb) == 0
    r = upload(gb, data, encoding="cp1252")
    assert r.status_code == 200 and r.json()["accepted"] == 1
    assert r.json()["ignored_columns"] == ["note"]
    assert "nonsense-enc" in problem(upload(gb, data, encoding="nonsense-enc"), 422)["detail"]


@pytest.mark.parametrize(
    ("periods", "start", "end"),
    [
        ({"period": "2024-03"}, "2024-03-01T00:00:00", "2024-04-01T00:00:00"),
        ({"period": "2024-Q1"}, "2024-01-01T00:00:00", "2024-04-01T00:00:00"),
        ({"period": "2024"}, "2024-01-01T00:00:00", "2025-01-01T00:00:00"),
        ({"period_start": "2024-02-01", "period_end": "2024-02-15"}, "2024-02-01T00:00:00", "2024-02-15T00:00:00"),
    ],
)
def test_periods(gb, periods, start, end):
    report = ingest(gb, [{**{k: v for k, v in GOOD.items() if k != "timestamp"}, **periods}])
    assert report["accepted"] == 1, report
    (row,) = audit(gb)["rows"]
    assert row["period_start"] == start and row["period_end"] == end


def test_period_end_before_start_is_rejected(gb):
    report = ingest(gb, [record("s1", timestamp="2019-06-01T10:00:00Z"),
                         record("s1", period_start="2024-02-15", period_end="2024-02-01")])
    (reject,) = report["rejects"]
    assert reject["row"] == 1 and reject["column"] == "period_end"


# ---- files that cannot be read: 4xx problems, nothing written ----------------------------------


def test_malformed_csv_names_the_line(gb):
    text = csv_text(_hourly(3)) + "s1,m,2019-03-05T00:00:00Z,electricity,5,kWh,extra\n"
    body = problem(upload(gb, text), 422)
    assert "line 5" in body["detail"]
    ragged_first = "site,timestamp,activity_type,quantity,unit\ns1,2019-06-01T10:00:00Z,electricity,5,kWh,x,y\n"
    assert "line 2" in problem(upload(gb, ragged_first), 422)["detail"]
    assert activity_count(gb) == 0


def test_missing_required_column_is_named(gb):
    text = "site,timestamp,activity_type,quantity\ns1,2019-06-01T10:00:00Z,electricity,5\n"
    body = problem(upload(gb, text), 422)
    assert body["missing"] == ["unit"] and "unit" in body["detail"]
    body = problem(gb.post("/api/v1/ingest", json={"records": [{"site": "s1", "quantity": 1}]}, headers=AUTH), 422)
    assert "activity_type" in body["missing"] and "timestamp" in body["detail"]


@pytest.mark.parametrize(
    ("content", "name", "content_type"),
    [
        (b"", "empty.csv", "text/csv"),
        (b"   \n\n", "blank.csv", "text/csv"),
        (bytes(range(256)) * 8, "garbage.csv", "text/csv"),
        (bytes(range(256)) * 8, "garbage.xlsx", "application/octet-stream"),
        (b"PK\x03\x04" + b"\x00" * 100, "broken.xlsx", "application/octet-stream"),
    ],
)
def test_empty_and_binary_files_are_4xx_problems(gb, content, name, content_type):
    r = upload(gb, content, name=name, content_type=content_type)
    assert 400 <= r.status_code < 500
    problem(r, r.status_code)
    assert activity_count(gb) == 0


def test_wrong_content_type_is_415(gb):
    problem(gb.post("/api/v1/ingest", content=b"%PDF-1.7", headers={**AUTH, "Content-Type": "application/pdf"}), 415)
    # XML is Green Button now (test_layouts.py): without ?site= it is a 422 naming the parameter
    assert problem(gb.post("/api/v1/ingest", content=b"<rows/>", headers={**AUTH, "Content-Type": "application/xml"}),
                   422)["parameter"] == "site"
    problem(gb.post("/api/v1/ingest", content=b"raw", headers=AUTH), 415)


def test_bad_json_bodies_are_422(gb):
    for body in (b"{not json", b'{"records": []}', b'{"records": [1]}', b'{"rows": [{}]}'):
        problem(gb.post("/api/v1/ingest", content=body, headers={**AUTH, "Content-Type": "application/json"}), 422)


def test_unknown_edition_is_422(gb):
    body = problem(gb.post("/api/v1/ingest", json={"records": [GOOD]}, params={"editions": "EPA-HUB-1999"},
                           headers=AUTH), 422)
    assert "EPA-HUB-1999" in body["detail"]
    assert activity_count(gb) == 0


def test_oversized_body_is_413(make_settings):
    with TestClient(create_app(make_settings(max_body_bytes=2_000)), headers=AUTH) as small:
        make_site(small, "s1", country="GB")
        big = csv_text(_hourly(100))
        assert len(big) > 2_000
        body = problem(small.post("/api/v1/ingest", content=big, headers={**AUTH, "Content-Type": "text/csv"}), 413)
        assert "2000" in body["detail"]
        r = small.post("/api/v1/ingest", content=csv_text(_hourly(3)), headers={**AUTH, "Content-Type": "text/csv"})
        assert r.status_code == 200


def test_writes_need_the_token(gb):
    problem(gb.post("/api/v1/ingest", json={"records": [GOOD]}, headers=NO_AUTH), 401)
    problem(gb.post("/api/v1/ingest", json={"records": [GOOD]}, headers={"Authorization": "Bearer wrong"}), 401)
    assert activity_count(gb) == 0


@pytest.mark.parametrize("failure", ["ragged line", "bad encoding"])
def test_a_file_failing_in_a_later_chunk_writes_nothing(make_settings, failure):
    with TestClient(create_app(make_settings(ingest_chunk_rows=1000)), headers=AUTH) as small:
        make_site(small, "s1", country="GB")
        text = csv_text(_hourly(8000)).encode()
        tail = b"s1,m,2019-12-30T00:00:00Z,electricity,5,kWh,extra\n" if failure == "ragged line" else \
            "s1,m,2019-12-30T00:00:00Z,electricity,5,kWh caf\u00e9\n".encode("cp1252")
        body = problem(upload(small, text + tail), 422)
        assert ("line 8002" in body["detail"]) if failure == "ragged line" else ("encoding" in body["detail"])
        assert activity_count(small) == 0
        assert small.get("/api/v1/ingest/batches").json() == []
        assert small.get("/api/v1/ingest/rejects").json()["total"] == 0


def test_duplicates_and_conflicts_across_chunks_of_one_file(make_settings):
    """Rows repeated in a later chunk of the same file are found although the earlier chunk may still
    be in the writer's hands: identical ones are duplicates, changed ones are rejected."""
    with TestClient(create_app(make_settings(ingest_chunk_rows=1000)), headers=AUTH) as small:
        make_site(small, "s1", country="GB")
        first = _hourly(2500)
        repeat = [dict(r) for r in first[:300]]  # lands in chunk 3, equal to rows of chunk 1
        changed = [dict(r) for r in first[300:310]]
        for r in changed:
            r["quantity"] = float(r["quantity"]) + 1.0
        report = upload(small, csv_text(first + repeat + changed).encode()).json()
        assert report["received"] == 2810
        assert report["accepted"] == 2500 and report["duplicates"] == 300 and report["rejected"] == 10
        assert {r["column"] for r in report["rejects"]} == {"quantity"}
        assert activity_count(small) == 2500


def test_a_bare_date_in_the_timestamp_column_is_that_day(gb):
    # two meters: the day would overlap the hour of one meter (refused: issue #17)
    report = ingest(gb, [dict(record("s1", "electricity", 24, "kWh", timestamp="2019-06-01"), meter="day"),
                         dict(record("s1", "electricity", 1, "kWh", timestamp="2019-06-01T10:00:00Z"), meter="hour")])
    assert report["accepted"] == 2
    rows = {r["period_end"]: r for r in gb.get("/api/v1/emissions/audit").json()["rows"]}
    day, hour = rows["2019-06-02T00:00:00"], rows["2019-06-01T11:00:00"]
    assert day["selection"].startswith("national") and hour["selection"] == "hourly"


def test_time_rejects_name_the_column_each_row_used(gb):
    report = ingest(gb, [record("s1", timestamp="2019-02-30T10:00:00Z"), record("s1", period="2019-13"),
                         record("s1", timestamp="2019-06-01T10:00:00Z")])
    assert report["accepted"] == 1 and report["rejected"] == 2
    assert sorted((r["row"], r["column"]) for r in report["rejects"]) == [(0, "timestamp"), (1, "period")]


def test_rejects_can_be_marked_reviewed(gb):
    ingest(gb, [record("s1", quantity="-1"), record("s1", quantity="abc", timestamp="2019-06-01T11:00:00Z"),
                record("s1", timestamp="2019-06-01T12:00:00Z")])
    listed = gb.get("/api/v1/ingest/rejects").json()
    assert listed["total"] == 2 and all(r["status"] == "open" for r in listed["rejects"])
    first = listed["rejects"][0]["id"]
    r = gb.patch(f"/api/v1/ingest/rejects/{first}", json={"status": "dismissed"}, headers=AUTH)
    assert r.status_code == 200 and r.json()["status"] == "dismissed"
    assert gb.get("/api/v1/ingest/rejects").json()["total"] == 1
    assert [x["id"] for x in gb.get("/api/v1/ingest/rejects", params={"status": "dismissed"}).json()["rejects"]] == [first]
    problem(gb.patch(f"/api/v1/ingest/rejects/{first}", json={"status": "gone"}, headers=AUTH), 422)
    problem(gb.patch("/api/v1/ingest/rejects/999999", json={"status": "fixed"}, headers=AUTH), 404)
    problem(gb.patch(f"/api/v1/ingest/rejects/{first}", json={"status": "fixed"}, headers=NO_AUTH), 401)

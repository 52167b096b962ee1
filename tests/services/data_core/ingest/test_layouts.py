"""Meter-data layouts through POST /api/v1/ingest (issue #17): the wide UK half-hourly CSV (clock-change days
of 46 and 50 half-hours) and Green Button (ESPI) XML, with bad rows rejected by row, column and reason."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from services.data_core.ingest.layouts import detect_layout, read_halfhourly
from tests.conftest import AUTH
from tests.services.data_core.helpers import audit, make_site, upload

SAMPLES = Path(__file__).parent / "samples"
HALFHOURLY = (SAMPLES / "halfhourly_uk.csv").read_bytes()
GREENBUTTON = (SAMPLES / "greenbutton_15min.xml").read_bytes()


def test_layout_is_detected_from_the_content():
    assert detect_layout(HALFHOURLY[:4096], None) == "halfhourly"
    assert detect_layout(GREENBUTTON[:4096], None) == "greenbutton"
    assert detect_layout(b"site,timestamp,activity_type,quantity,unit\n", None) == "long"


def test_clock_change_days_have_46_and_50_half_hours():
    parsed = read_halfhourly(__import__("io").BytesIO(HALFHOURLY), chunk_rows=10_000)
    long = pd.concat(list(parsed.chunks))
    per_row = long.groupby("_row").size().to_dict()
    assert per_row == {2: 48, 3: 50, 4: 46, 5: 48}  # rows 6 and 7 are refused while reading
    autumn = long[long["_row"] == 3]
    # local midnight of 25 Oct 2020 is 23:00 UTC the day before (BST); the day ends at 00:00 UTC (GMT)
    assert (autumn["period_start"].iloc[0], autumn["period_end"].iloc[-1]) == ("2020-10-24T23:00:00Z",
                                                                              "2020-10-26T00:00:00Z")
    spring = long[long["_row"] == 4]
    assert (spring["period_start"].iloc[0], spring["period_end"].iloc[-1]) == ("2020-03-29T00:00:00Z",
                                                                              "2020-03-29T23:00:00Z")
    assert list(autumn["_cell"].iloc[[0, -1]]) == ["HH01", "HH50"]


@pytest.fixture
def gb(client):
    make_site(client, "s1", country="GB")
    return client


def test_the_wide_half_hourly_file_through_the_api(gb):
    report = upload(gb, HALFHOURLY, name="hh.csv").json()
    # received counts readings (half-hours) of the rows read, and one per row refused while reading
    assert (report["accepted"], report["rejected"]) == (48 + 50 + 46 + 47, 3), report
    assert report["received"] == report["accepted"] + report["duplicates"] + report["rejected"]
    rejects = {(r["row"], r["column"]): r["reason"] for r in report["rejects"]}
    assert set(rejects) == {(5, "HH10"), (6, "Date"), (7, "HH49")}
    assert "'n/a' is not a finite number" in rejects[(5, "HH10")] and "unreadable date" in rejects[(6, "Date")]
    assert "has 48 half-hours" in rejects[(7, "HH49")]
    stored = {r["row"]: r for r in gb.get(report["rejects_url"]).json()["rejects"]}
    assert stored[7]["raw"]["MPAN"] == "1200087654321"
    rows = audit(gb, limit=1000)["rows"]
    assert {r["meter"] for r in rows} == {"1200012345678", "1200087654321"}
    # sent again: every reading is a duplicate, the refused rows are refused again
    again = upload(gb, HALFHOURLY, name="hh.csv").json()
    assert (again["accepted"], again["duplicates"]) == (0, 191)
    # the half-hours are served on the hourly grid: 25 hours on the autumn day (local), summed in pairs
    hours = gb.get("/api/v1/readings", params={"site": "s1", "by_meter": "true", "start": "2020-10-24T23:00:00Z",
                                               "end": "2020-10-26T00:00:00Z"}).json()["readings"]
    assert len(hours) == 25 and {h["readings"] for h in hours} == {2}


def test_layout_can_be_forced(gb):
    r = upload(gb, HALFHOURLY, name="hh.csv", layout="long")
    assert r.status_code == 422  # read as a long CSV it lacks the long columns
    assert upload(gb, HALFHOURLY, name="hh.csv", layout="halfhourly").json()["accepted"] == 191


@pytest.fixture
def us(client):
    make_site(client, "us1", country="US", grid_region="CAMX")
    return client


def test_green_button_xml_through_the_api(us):
    r = us.post("/api/v1/ingest", content=GREENBUTTON, params={"site": "us1"},
                headers={**AUTH, "content-type": "application/xml"})
    report = r.json()
    assert r.status_code == 200 and (report["accepted"], report["rejected"]) == (8, 2), report
    rejects = {r["row"]: r for r in report["rejects"]}
    assert rejects[9]["column"] == "value" and "estimated" in rejects[9]["reason"]
    assert rejects[10]["column"] == "period_start" and "timePeriod.start" in rejects[10]["reason"]
    rows = sorted(audit(us, limit=100)["rows"], key=lambda x: x["period_start"])
    assert rows[0]["meter"] == "Main electric service" and rows[0]["unit"] == "Wh"
    assert rows[0]["quantity"] == pytest.approx(3100.0)  # 31 x 10^2 Wh
    assert (rows[0]["period_start"], rows[0]["period_end"]) == ("2025-01-15T08:00:00", "2025-01-15T08:15:00")
    # 15-minute readings make two pending hour slots of four readings each
    pending = us.get("/api/v1/predictions/pending", params={"site": "us1"}).json()["readings"]
    assert [(p["period_start"], p["readings"], p["complete"]) for p in pending] == [
        ("2025-01-15T08:00:00", 4, True), ("2025-01-15T09:00:00", 4, True)]


def test_green_button_needs_a_site_and_refuses_entities(us):
    r = us.post("/api/v1/ingest", content=GREENBUTTON, headers={**AUTH, "content-type": "application/xml"})
    assert r.status_code == 422 and "site" in r.json()["detail"]
    bomb = (b'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
            b"<feed><entry>&b;</entry></feed>")
    r = us.post("/api/v1/ingest", content=bomb, params={"site": "us1"},
                headers={**AUTH, "content-type": "application/xml"})
    assert r.status_code == 422 and "no DTDs or entities" in r.json()["detail"]

"""Overlapping readings are refused (issue #17): never counted twice, in one file or against stored data."""

from __future__ import annotations

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from services.data_core.app import create_app
from services.data_core.ingest import overlap
from services.data_core.ingest.parse import ROW
from tests.conftest import AUTH
from tests.services.data_core.helpers import activity_count, csv_text, make_site, upload

ROW_KEYS = {"site": "s1", "meter": "m1", "activity_type": "electricity", "unit": "kWh"}


def _row(start: str, end: str, quantity: float = 10.0, **kw: str) -> dict[str, str]:
    return {**ROW_KEYS, "period_start": start, "period_end": end, "quantity": str(quantity), **kw}


def _frame(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame({"site_id": "s1", "meter": [r[0] for r in rows], "activity_type": "electricity",
                         "naics_code": "", "period_start": pd.to_datetime([r[1] for r in rows], format="ISO8601"),
                         "period_end": pd.to_datetime([r[2] for r in rows], format="ISO8601"), ROW: range(2, 2 + len(rows))})


# ---- the vectorised checks ------------------------------------------------------------------------------


def test_within_rejects_the_later_row_and_names_the_earlier_one():
    frame = _frame([("m1", "2020-01-01 10:00", "2020-01-01 11:00"),   # row 2
                    ("m1", "2020-01-01 11:00", "2020-01-01 12:00"),   # row 3: touches, no overlap
                    ("m2", "2020-01-01 10:30", "2020-01-01 11:30"),   # row 4: another meter
                    ("m1", "2020-01-01 10:07", "2020-01-01 11:07"),   # row 5: over rows 2 and 3
                    ("m1", "2020-01-01 00:00", "2020-01-02 00:00")])  # row 6: a day over all of m1
    mask, errors = overlap.within(frame)
    # sorted by start, the day (row 6) comes first: rows 2, 3 and 5 overlap it
    assert mask.tolist() == [True, True, False, True, False]
    reasons = dict(zip(errors["row"], errors["reason"], strict=True))
    assert set(reasons) == {2, 3, 5}
    assert "row 6 of this file (2020-01-01T00:00:00 to 2020-01-02T00:00:00)" in reasons[2]


def test_within_names_the_row_holding_the_latest_end():
    frame = _frame([("m1", "2020-01-01 10:00", "2020-01-01 12:00"),   # row 2
                    ("m1", "2020-01-01 10:30", "2020-01-01 10:45"),   # row 3: inside row 2
                    ("m1", "2020-01-01 11:00", "2020-01-01 11:30")])  # row 4: inside row 2, after row 3
    mask, errors = overlap.within(frame)
    assert mask.tolist() == [False, True, True]
    assert all("overlaps row 2 " in r for r in errors["reason"])


def test_against_finds_a_long_stored_reading_that_starts_long_before():
    stored = _frame([("m1", "2020-01-01", "2020-02-01"),               # a monthly bill
                     ("m1", "2020-02-01 00:00", "2020-02-01 01:00")]).assign(label=["7", "8"])
    new = _frame([("m1", "2020-01-20 10:00", "2020-01-20 11:00"),      # inside the bill
                  ("m1", "2020-02-01 01:00", "2020-02-01 02:00"),      # after both: fine
                  ("m2", "2020-01-20 10:00", "2020-01-20 11:00"),      # another meter: fine
                  ("m1", "2020-01-31 23:30", "2020-02-01 00:30")])     # over both (named: the one ending last)
    mask, errors = overlap.against(new, stored)
    assert mask.tolist() == [True, False, False, True]
    reasons = dict(zip(errors["row"], errors["reason"], strict=True))
    assert "the stored reading 7 (2020-01-01T00:00:00 to 2020-02-01T00:00:00)" in reasons[2]
    assert "the stored reading 8 (2020-02-01T00:00:00 to 2020-02-01T01:00:00)" in reasons[5]


# ---- through the ingest API, SQLite and PostgreSQL ----------------------------------------------------------


@pytest.fixture
def gb(client):
    make_site(client, "s1", country="GB")
    return client


def test_a_reading_overlapping_a_stored_one_is_rejected_naming_it(gb):
    first = upload(gb, csv_text([_row("2019-06-01T10:00:00Z", "2019-06-01T11:00:00Z")])).json()
    assert first["accepted"] == 1
    stored_id = gb.get("/api/v1/emissions/audit").json()["rows"][0]["activity_id"]
    r = upload(gb, csv_text([_row("2019-06-01T10:07:00Z", "2019-06-01T11:07:00Z", 12),
                             _row("2019-06-01T11:07:00Z", "2019-06-01T12:07:00Z", 12)]))
    report = r.json()
    assert (report["accepted"], report["rejected"], report["duplicates"]) == (1, 1, 0), report
    reject = report["rejects"][0]
    assert (reject["row"], reject["column"]) == (2, "period_start")
    assert f"the stored reading {stored_id} (2019-06-01T10:00:00 to 2019-06-01T11:00:00)" in reject["reason"]
    assert activity_count(gb) == 2
    kept = gb.get(report["rejects_url"]).json()["rejects"]
    assert [x["row"] for x in kept] == [2] and kept[0]["raw"]["period_start"] == "2019-06-01T10:07:00Z"


def test_an_exact_replay_is_a_duplicate_and_a_month_over_hours_is_rejected(gb):
    hours = [_row(f"2019-06-01T{h:02d}:00:00Z", f"2019-06-01T{h + 1:02d}:00:00Z") for h in range(3)]
    assert upload(gb, csv_text(hours)).json()["accepted"] == 3
    again = upload(gb, csv_text(hours)).json()
    assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, 3, 0)
    bill = {**ROW_KEYS, "period": "2019-06", "quantity": "9000"}
    r = upload(gb, csv_text([bill]))
    assert r.status_code == 422  # nothing accepted: the rejects come back as a problem
    body = r.json()
    assert body["rejects"][0]["column"] == "period" and "the stored reading" in body["rejects"][0]["reason"]
    other_meter = upload(gb, csv_text([{**bill, "meter": "main-bill"}])).json()
    assert other_meter["accepted"] == 1  # another meter of the site is not an overlap


def test_rows_of_one_file_overlapping_each_other(gb):
    rows = [_row("2019-06-01T10:00:00Z", "2019-06-01T11:00:00Z"),
            _row("2019-06-01T10:30:00Z", "2019-06-01T11:30:00Z"),
            _row("2019-06-01T11:00:00Z", "2019-06-01T12:00:00Z")]
    report = upload(gb, csv_text(rows)).json()
    assert (report["accepted"], report["rejected"]) == (2, 1)
    assert report["rejects"][0]["row"] == 3 and "overlaps row 2 of this file" in report["rejects"][0]["reason"]


def test_overlaps_across_chunks_of_one_file(make_settings):
    with TestClient(create_app(make_settings(ingest_chunk_rows=1000)), headers=AUTH) as small:
        make_site(small, "s1", country="GB")
        start = pd.Timestamp("2019-03-01")
        hours = [_row((start + pd.Timedelta(hours=i)).isoformat(), (start + pd.Timedelta(hours=i + 1)).isoformat())
                 for i in range(2500)]
        shifted = [_row((start + pd.Timedelta(hours=i, minutes=7)).isoformat(),
                        (start + pd.Timedelta(hours=i + 1, minutes=7)).isoformat()) for i in range(5)]
        report = upload(small, csv_text(hours + shifted)).json()  # the shifted rows land in chunk 3
        assert (report["accepted"], report["rejected"]) == (2500, 5), report
        assert {x["row"] for x in report["rejects"]} == set(range(2502, 2507))
        assert all("of this file" in x["reason"] for x in report["rejects"])


# ---- the fast paths agree with the exact checks -------------------------------------------------------------


def _random_frame(seed: int, n: int = 300) -> pd.DataFrame:
    """Readings of three meters with random starts (on whole minutes, some sub-second) and lengths."""
    import numpy as np

    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 3000, n), unit="min")
    start = start + pd.to_timedelta(np.where(rng.random(n) < 0.1, 500, 0), unit="ms")
    length = pd.to_timedelta(rng.choice([15, 30, 60, 60, 60, 1440], n), unit="min")
    return pd.DataFrame({"site_id": "s1", "meter": rng.choice(["m1", "m2", "m3"], n), "activity_type": "electricity",
                         "naics_code": "", "period_start": start.astype("datetime64[us]"),
                         "period_end": (start + length).astype("datetime64[us]"), ROW: range(2, 2 + n)})


@pytest.mark.parametrize("seed", range(6))
def test_within_fast_pass_agrees_with_the_exact_decision(seed):
    frame = _random_frame(seed)
    exact, exact_errors = overlap._within_exact(frame, overlap.key_hash(frame).view("int64"))
    mask, errors = overlap.within(frame)
    assert mask.tolist() == exact.tolist()
    assert errors.sort_values("row").reset_index(drop=True).equals(exact_errors.sort_values("row").reset_index(drop=True))
    # in time order per meter without overlaps, nothing is flagged
    clean = frame[~mask]
    assert not overlap.within(clean.sample(frac=1.0, random_state=seed))[0].any()


@pytest.mark.parametrize("seed", range(4))
def test_periods_added_in_batches_find_what_a_brute_force_finds(seed):
    frame = _random_frame(seed, 400)
    first, second, new = frame.iloc[:150], frame.iloc[150:250], frame.iloc[250:]
    periods = overlap.Periods()
    periods.add(first, first[ROW].to_numpy())
    early_mask, _ = periods.check(second, what="row ", after="")  # merges the first batch
    periods.add(second, second[ROW].to_numpy())  # pending until the next check
    mask, errors = periods.check(new, what="row ", after="")
    stored = pd.concat([first, second])
    s_old = stored["period_start"].dt.floor("s").to_numpy()
    e_old = stored["period_end"].dt.ceil("s").to_numpy()
    for pos, (_, row) in enumerate(new.iterrows()):
        same = (stored["meter"] == row["meter"]).to_numpy()
        brute = same & (s_old < row["period_end"].ceil("s")) & (e_old > row["period_start"].floor("s"))
        assert mask[pos] == brute.any(), row
    named = dict(zip(errors["row"], errors["reason"], strict=True))
    for row_number, reason in named.items():  # the named row really overlaps the rejected one
        earlier = stored[stored[ROW] == int(reason.split("overlaps row ")[1].split(" ")[0])].iloc[0]
        this = new[new[ROW] == row_number].iloc[0]
        assert earlier["meter"] == this["meter"]
        assert earlier["period_start"].floor("s") < this["period_end"].ceil("s")
        assert earlier["period_end"].ceil("s") > this["period_start"].floor("s")
    assert early_mask.dtype == bool


def test_a_series_box_skips_rows_outside_it():
    frame = _frame([("m1", "2020-01-01 10:00", "2020-01-01 11:00"), ("m1", "2020-01-01 11:00", "2020-01-01 12:00")])
    periods = overlap.Periods()
    periods.add(frame, frame[ROW].to_numpy())
    later = _frame([("m1", "2020-01-01 12:00", "2020-01-01 13:00"), ("m2", "2020-01-01 10:00", "2020-01-01 11:00")])
    mask, _ = periods.check(later, what="row ", after="")
    assert not mask.any() and not len(periods.start)  # outside the box: the sorted array was never built
    inside = _frame([("m1", "2020-01-01 10:30", "2020-01-01 10:45")])
    mask, errors = periods.check(inside, what="row ", after="")
    assert mask.tolist() == [True] and "overlaps row 2 " in errors["reason"].iloc[0]


def test_a_reading_inside_a_long_stored_one_is_found_through_the_series_box(gb):
    bill = {**ROW_KEYS, "period": "2019-05", "quantity": "9000"}
    assert upload(gb, csv_text([bill])).json()["accepted"] == 1
    stored_id = gb.get("/api/v1/emissions/audit").json()["rows"][0]["activity_id"]
    r = upload(gb, csv_text([_row("2019-05-20T10:00:00Z", "2019-05-20T11:00:00Z"),
                             _row("2019-06-01T00:00:00Z", "2019-06-01T01:00:00Z")]))
    report = r.json()
    assert (report["accepted"], report["rejected"]) == (1, 1), report
    assert f"the stored reading {stored_id} (2019-05-01T00:00:00 to 2019-06-01T00:00:00)" in report["rejects"][0]["reason"]

"""Emissions of a period with the readings longer than it prorated by time (issue #19): the ledger counts an
activity whole in the period it starts; a quarter's answer takes a quarter of an annual row instead."""

from __future__ import annotations

from datetime import datetime

import pytest

from services.rag.prorate import crossing_rows, edges_of, prorate_series, prorate_totals

pytestmark = pytest.mark.unit
ANNUAL = {"site_id": "b0", "scope": 3, "activity_type": "hotel_stay", "period_start": "2019-01-01T00:00:00",
          "period_end": "2020-01-01T00:00:00", "kg_co2e": 365.0, "kg_co2e_market": 365.0}
LATE = {**ANNUAL, "site_id": "b2", "period_start": "2018-07-01T00:00:00", "period_end": "2019-07-01T00:00:00",
        "kg_co2e": 365.0}
Q1 = (datetime(2019, 1, 1), datetime(2019, 4, 1))


def test_a_quarter_takes_its_share_of_rows_that_cross_it() -> None:
    body = {"total_kg_co2e": 400.0, "group_by": ["site"], "rows": [{"site": "b0", "kg_co2e": 400.0, "rows": 2}]}
    out = prorate_totals(body, [ANNUAL, LATE], *Q1, "location")
    # the annual row: 90 of 365 days instead of all of it; the row from July 2018: 90 days it had not counted
    assert out["total_kg_co2e"] == pytest.approx(400.0 - 365.0 + 90.0 + 90.0)
    assert {r["site"]: r["kg_co2e"] for r in out["rows"]} == pytest.approx({"b0": 125.0, "b2": 90.0})
    assert out["prorated"]["rows"] == 2


def test_months_spread_a_quarterly_row() -> None:
    quarterly = {**ANNUAL, "period_end": "2019-04-01T00:00:00", "kg_co2e": 90.0}
    body = {"rows": [{"period": "2019-01-01T00:00:00", "kg_co2e": 100.0}]}
    out = prorate_series(body, [quarterly], datetime(2019, 1, 1), datetime(2020, 1, 1), "location", "month")
    got = {r["period"][:7]: r["kg_co2e"] for r in out["rows"]}
    assert got["2019-01"] == pytest.approx(10.0 + 31.0) and got["2019-02"] == pytest.approx(28.0)
    assert got["2019-03"] == pytest.approx(31.0) and sum(got.values()) == pytest.approx(100.0)


def test_only_rows_crossing_an_edge_are_looked_up() -> None:
    assert edges_of(*Q1, "month") == [datetime(2019, 1, 1), datetime(2019, 4, 1), datetime(2019, 2, 1),
                                      datetime(2019, 3, 1)]

    class FakeDc:
        def __init__(self) -> None:
            self.asked: list[tuple[str, dict]] = []

        def activity_types(self) -> list[str]:
            return ["electricity", "hotel_stay"]

        def activity_scopes(self) -> dict[str, int]:
            return {"electricity": 2, "hotel_stay": 3}

        def get(self, endpoint: str, params: dict) -> tuple[dict, dict]:
            self.asked.append((endpoint, params))
            inside = {**ANNUAL, "period_start": "2019-02-01T00:00:00", "period_end": "2019-03-01T00:00:00"}
            return {"rows": [ANNUAL, inside], "bills": []}, {"type": "query", "endpoint": endpoint}

    dc = FakeDc()
    rows, citations = crossing_rows(dc, {"start": "2019-01-01T00:00:00", "end": "2019-04-01T00:00:00", "scope": [3]})  # type: ignore[arg-type]
    assert rows == [ANNUAL] and [e for e, _p in dc.asked] == ["/api/v1/emissions/audit"]  # scope 3: no bills
    assert dc.asked[0][1]["activity_type"] == ["hotel_stay"] and len(citations) == 1

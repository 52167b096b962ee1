"""The ledger gold (tests/eval/gold_ledger.py) sums the audited rows it reads page by page with pandas: filters,
proration of rows longer than the period, the market-based column, rankings, breakdowns, intensity and the
factor of an activity; it reads only the audit trail, the sites and /factors/resolve, never the totals the
chatbot answers from. The data core is replaced by an httpx mock transport serving a small ledger."""

from __future__ import annotations

import io
from urllib.parse import parse_qs

import httpx
import pandas as pd
import pytest

from tests.eval import gold_ledger
from tests.eval.gold_ledger import LedgerGold, gold_of

SITES = [{"id": "b0", "tags": ["university"], "floor_area_m2": 3296.5},
         {"id": "b2", "tags": ["university"], "floor_area_m2": 25320.0},
         {"id": "estates-fleet", "tags": ["fleet"], "floor_area_m2": None}]
ROW = {"category": None, "quantity": 1.0, "unit": "kWh", "quantity_converted": 1.0, "factor_id": "f", "source": "S",
       "edition": "e", "edition_key": "DESNZ-2019", "region": "GB", "co2e_kg": 0.2, "co2_kg": 0.2, "factor_unit": "kWh"}


def _rows() -> pd.DataFrame:
    rows = [
        # b0 electricity: two hours in March 2019 and one in April (scope 2; half renewable -> market halves)
        {"site_id": "b0", "scope": 2, "activity_type": "electricity", "period_start": "2019-03-01T00:00:00",
         "period_end": "2019-03-01T01:00:00", "kg_co2e": 10.0, "kg_co2e_market": 5.0, "factor_id": "h1"},
        {"site_id": "b0", "scope": 2, "activity_type": "electricity", "period_start": "2019-03-31T23:00:00",
         "period_end": "2019-04-01T00:00:00", "kg_co2e": 20.0, "kg_co2e_market": 10.0, "factor_id": "h2"},
        {"site_id": "b0", "scope": 2, "activity_type": "electricity", "period_start": "2019-04-01T00:00:00",
         "period_end": "2019-04-01T01:00:00", "kg_co2e": 40.0, "kg_co2e_market": 20.0, "factor_id": "h3"},
        # b2 gas in March, scope 1
        {"site_id": "b2", "scope": 1, "activity_type": "natural_gas", "period_start": "2019-03-10T00:00:00",
         "period_end": "2019-03-10T01:00:00", "kg_co2e": 100.0, "kg_co2e_market": 100.0},
        # the fleet's diesel for the whole of 2019: prorated by time
        {"site_id": "estates-fleet", "scope": 1, "activity_type": "vehicle_diesel",
         "period_start": "2019-01-01T00:00:00", "period_end": "2020-01-01T00:00:00", "kg_co2e": 3650.0,
         "kg_co2e_market": 3650.0, "unit": "liter"},
    ]
    return pd.DataFrame([{**ROW, **r} for r in rows])


class FakeDataCore:
    def __init__(self) -> None:
        self.rows = _rows()
        self.paths: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        q = {k: v[-1] for k, v in parse_qs(request.url.query.decode()).items()}
        if request.url.path == "/api/v1/sites":
            return httpx.Response(200, json=SITES)
        if request.url.path == "/api/v1/emissions/audit":
            rows = self.rows[self.rows["site_id"] == q["site"]] if "site" in q else self.rows
            limit, offset = int(q.get("limit", 100)), int(q.get("offset", 0))
            page = rows.iloc[offset: offset + limit]
            if q.get("format") == "csv":
                buffer = io.StringIO()
                page.to_csv(buffer, index=False)
                return httpx.Response(200, text=buffer.getvalue())
            return httpx.Response(200, json={"ledger_version": 1, "row_count": len(rows), "rows": []})
        if request.url.path == "/api/v1/factors/resolve":
            return httpx.Response(200, json={"selection": "national", "factor": {
                "factor_id": "desnz-2019/row-54", "co2e_kg": 0.18385, "co2_kg": 0.18351, "unit": "kWh",
                "source": "UK Government GHG Conversion Factors for Company Reporting (BEIS)",
                "edition": "2019 v1.03", "edition_key": "DESNZ-2019"}})
        return httpx.Response(404, json={"detail": "not served"})


@pytest.fixture()
def ledger(monkeypatch: pytest.MonkeyPatch) -> tuple[LedgerGold, FakeDataCore]:
    monkeypatch.setattr(gold_ledger, "PAGE", 2)  # page through every site
    fake = FakeDataCore()
    client = httpx.Client(base_url="http://dc", transport=httpx.MockTransport(fake))
    return LedgerGold(client), fake


def test_reads_every_row_page_by_page_and_never_the_totals(ledger: tuple[LedgerGold, FakeDataCore]) -> None:
    gold, fake = ledger
    assert len(gold.rows) == 5
    assert set(fake.paths) <= {"/api/v1/sites", "/api/v1/emissions/audit", "/api/v1/factors/resolve"}
    assert fake.paths.count("/api/v1/emissions/audit") >= 4  # the head, then b0 in two pages, b2, the fleet


def test_values_with_filters_methods_and_proration(ledger: tuple[LedgerGold, FakeDataCore]) -> None:
    gold, _ = ledger
    march = {"measure": "emissions", "sites": "all", "period": "2019-03"}
    diesel_march = 3650.0 * 31 / 365
    assert gold_of(march, gold) == pytest.approx((30.0 + 100.0 + diesel_march) / 1000)
    assert gold_of({**march, "unit": "kg", "scope": [2]}, gold) == pytest.approx(30.0)
    assert gold_of({**march, "unit": "kg", "scope": [2], "method": "market"}, gold) == pytest.approx(15.0)
    assert gold_of({**march, "unit": "kg", "sites": "tag:university"}, gold) == pytest.approx(130.0)
    q1 = {"measure": "emissions", "unit": "kg", "activity": "vehicle_diesel", "sites": ["estates-fleet"],
          "period": "2019-Q1"}
    assert gold_of(q1, gold) == pytest.approx(3650.0 * 90 / 365)
    day = {"measure": "emissions", "unit": "kg", "sites": ["b0"], "period": "2019-03-31..2019-04-01"}
    assert gold_of(day, gold) == pytest.approx(60.0)


def test_rank_breakdown_compare_and_intensity(ledger: tuple[LedgerGold, FakeDataCore]) -> None:
    gold, _ = ledger
    ranked = gold_of({"answer": "rank", "measure": "emissions", "unit": "kg", "sites": "all", "period": "2019-03",
                      "n": 1, "order": "top"}, gold)
    assert [s for s, _v in ranked] == ["estates-fleet", "b2", "b0"]  # every site, the scorer takes n and ties
    months = gold_of({"answer": "breakdown", "measure": "emissions", "unit": "kg", "sites": ["b0"], "period": "2019",
                      "by": "month"}, gold)
    assert months["2019-03"] == pytest.approx(30.0) and months["2019-04"] == pytest.approx(40.0)
    assert len(months) == 12
    by_activity = gold_of({"answer": "breakdown", "measure": "emissions", "unit": "kg", "sites": "all",
                           "period": "2019-04", "by": "activity"}, gold)
    assert by_activity == pytest.approx({"electricity": 40.0, "vehicle_diesel": 3650.0 * 30 / 365})
    change = gold_of({"answer": "compare", "measure": "emissions", "unit": "kg", "sites": ["b0"],
                      "period": ["2019-03", "2019-04"]}, gold)
    assert change["values"] == pytest.approx([30.0, 40.0]) and change["change_pct"] == pytest.approx(100 / 3)
    methods = gold_of({"answer": "compare", "measure": "emissions", "unit": "kg", "scope": [2], "sites": "all",
                       "period": "2019", "method": ["location", "market"]}, gold)
    assert methods["values"] == pytest.approx([70.0, 35.0])
    intensity = gold_of({"measure": "intensity", "of": "emissions", "sites": ["b0"], "period": "2019"}, gold)
    assert intensity == pytest.approx(70.0 / 3296.5)  # the area of the building metadata


def test_factor_from_resolve_and_the_effective_hourly_factor(ledger: tuple[LedgerGold, FakeDataCore]) -> None:
    gold, fake = ledger
    f = gold_of({"measure": "factor", "activity": "electricity", "region": "GB", "period": "2019"}, gold)
    # three hourly factors (0.2 kg/kWh each in the fake rows): kg / kWh of the rows, and their mean over time
    assert f["values"] == pytest.approx([70.0 / 3.0, 0.2])
    gas = gold_of({"measure": "factor", "activity": "natural_gas", "region": "GB", "period": "2019"}, gold)
    assert gas["values"] == [0.18385]  # one factor: resolve's
    assert "BEIS" in f["names"] and "DESNZ" in f["names"]
    assert "/api/v1/factors/resolve" in fake.paths


def test_source_names_are_publishers_not_generic_words() -> None:
    names = gold_ledger.source_names("UK Government GHG Conversion Factors for Company Reporting (BEIS)", "DESNZ-2019")
    assert {"BEIS", "DESNZ", "UK Government"} <= set(names)
    assert "GHG" not in names and "UK" not in names

"""The daily rollup always agrees with the ledger it summarises (ingest, duplicates, new versions)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.conftest import AUTH
from tests.services.data_core.helpers import ingest, make_site, record

pytestmark = pytest.mark.integration

LEDGER_SQL = """SELECT e.version_id, a.site_id, e.scope, COALESCE(e.category, 0) AS category, a.activity_type,
                       ROUND(CAST(SUM(e.kg_co2e) AS NUMERIC), 6) AS kg,
                       ROUND(CAST(SUM(e.kg_co2e_market) AS NUMERIC), 6) AS mkt, COUNT(*) AS n
                FROM emissions e JOIN activities a ON a.id = e.activity_id
                GROUP BY e.version_id, a.site_id, e.scope, COALESCE(e.category, 0), a.activity_type
                ORDER BY 1, 2, 3, 4, 5"""
ROLLUP_SQL = """SELECT version_id, site_id, scope, category, activity_type,
                       ROUND(CAST(SUM(kg_co2e) AS NUMERIC), 6) AS kg, ROUND(CAST(SUM(kg_co2e_market) AS NUMERIC), 6) AS mkt,
                       SUM(rows) AS n
                FROM emission_rollups GROUP BY version_id, site_id, scope, category, activity_type
                ORDER BY 1, 2, 3, 4, 5"""


def _both(client) -> tuple[list, list]:
    engine = client.app.state.engine
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(LEDGER_SQL))], [tuple(r) for r in conn.execute(text(ROLLUP_SQL))]


def _sample() -> list[dict]:
    rows = [record("us1", "electricity", 10 + h, "kWh", timestamp=f"2024-03-0{1 + h % 3}T{h:02d}:00:00Z")
            for h in range(24)]
    rows += [record("us1", "natural_gas", 40, "therm", period="2024-02"),
             record("us1", "purchased_goods", 1200, "USD", period="2024", naics_code="334111"),
             record("gb1", "electricity", 55, "kWh", timestamp="2019-05-01T12:00:00Z")]
    return rows


def test_rollup_matches_ledger_after_ingest_resend_and_new_version(client) -> None:
    make_site(client, "us1", country="US", grid_region="CAMX", renewable_share=0.3)
    make_site(client, "gb1", country="GB")
    ingest(client, _sample(), editions="EPA-SC-1.3")
    ingest(client, _sample(), editions="EPA-SC-1.3")  # duplicates only: the rollup must not double
    ledger, rollup = _both(client)
    assert ledger and ledger == rollup
    r = client.post("/api/v1/ledger/versions", json={"description": "2025 edition", "editions": ["EPA-HUB-2025"]},
                    headers=AUTH)
    assert r.status_code == 201, r.text
    ledger, rollup = _both(client)
    assert {row[0] for row in rollup} == {1, 2}
    assert ledger == rollup


def test_day_queries_from_rollup_equal_hour_queries_from_ledger(client) -> None:
    make_site(client, "us1", country="US", grid_region="CAMX")
    make_site(client, "gb1", country="GB")
    ingest(client, _sample(), editions="EPA-SC-1.3")
    days = client.get("/api/v1/emissions/timeseries", params={"interval": "day", "start": "2024-03-01",
                                                               "end": "2024-03-04"}).json()["rows"]
    hours = client.get("/api/v1/emissions/timeseries", params={"interval": "hour", "start": "2024-03-01",
                                                                "end": "2024-03-04"}).json()["rows"]
    assert len(days) == 3 and len(hours) == 24
    assert sum(d["kg_co2e"] for d in days) == pytest.approx(sum(h["kg_co2e"] for h in hours), rel=1e-12)
    # a filter off midnight reads the ledger; on midnight, the rollup: same total for the same rows
    aligned = client.get("/api/v1/emissions/totals", params={"start": "2024-03-01T00:00:00"}).json()
    offset = client.get("/api/v1/emissions/totals", params={"start": "2024-02-29T23:59:59"}).json()
    assert aligned["total_kg_co2e"] == pytest.approx(offset["total_kg_co2e"], rel=1e-12)

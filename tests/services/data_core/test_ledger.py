"""Ledger versions: recalculating with other factors makes a new version and keeps the old one."""

from __future__ import annotations

import pytest

from tests.conftest import AUTH, NO_AUTH
from tests.services.data_core.helpers import audit, ingest, make_site, problem, record, total

pytestmark = pytest.mark.integration

LB = 0.45359237
# EPA Hub Table 6 "US Average", total output, lb/MWh: eGRID2022 in the 2024 Hub (the edition of 2024 activity;
# workbook row 359: 823.149 CO2, 0.066 CH4, 0.009 N2O, AR5) and eGRID2023 in the 2025 Hub (771.523, 0.057, 0.008)
US_2024 = {"co2": 823.149, "ch4": 0.066, "n2o": 0.009, "gwp": (28, 265)}
US_2025 = {"co2": 771.523, "ch4": 0.057, "n2o": 0.008, "gwp": (28, 265)}


def _kg_per_kwh(f):
    return (f["co2"] + f["gwp"][0] * f["ch4"] + f["gwp"][1] * f["n2o"]) * LB / 1000


@pytest.fixture
def two_sites(client):
    make_site(client, "us1", country="US")
    make_site(client, "gb1", country="GB")
    ingest(client, [record("us1", "electricity", 1000, "kWh", period="2024-03"),
                    record("us1", "natural_gas", 100, "therm", period="2024-03"),
                    record("us1", "electricity", 500, "kWh", period="2023-03"),
                    record("gb1", "electricity", 1000, "kWh", period="2024-03")])
    return client


def _new_version(client, **body):
    r = client.post("/api/v1/ledger/versions", json={"description": "apply EPA 2025", **body}, headers=AUTH)
    assert r.status_code == 201, r.text
    return r.json()


def test_applying_a_newer_edition_makes_version_2_and_keeps_version_1(two_sites):
    client = two_sites
    filters = {"site": "us1", "activity_type": "electricity", "start": "2024-01-01T00:00:00Z"}
    v1_total = total(client, **filters)
    assert v1_total == pytest.approx(1000 * _kg_per_kwh(US_2024), rel=1e-6)
    everything_v1 = total(client)

    version = _new_version(client, editions=["EPA-HUB-2025"], sites=["us1"], start="2024-01-01T00:00:00Z")
    assert version["id"] == 2 and version["parent_id"] == 1 and version["is_current"]
    assert version["applied_editions"] == ["EPA-HUB-2025"]
    assert (version["recalculated_rows"], version["copied_rows"]) == (2, 2)  # us1 2024 recalculated; others copied

    assert total(client, **filters) == pytest.approx(1000 * _kg_per_kwh(US_2025), rel=1e-6)
    assert total(client, version=2, **filters) == total(client, **filters)
    assert total(client, version=1, **filters) == pytest.approx(v1_total, rel=1e-12)
    assert total(client, version=1) == pytest.approx(everything_v1, rel=1e-12)
    # the rows outside the filter are copied unchanged
    assert total(client, version=2, site="gb1") == pytest.approx(total(client, version=1, site="gb1"), rel=1e-12)
    assert total(client, version=2, start="2023-01-01T00:00:00Z", end="2024-01-01T00:00:00Z") == pytest.approx(
        total(client, version=1, start="2023-01-01T00:00:00Z", end="2024-01-01T00:00:00Z"), rel=1e-12)

    rows = {r["activity_type"]: r for r in audit(client, version=2, site="us1", start="2024-01-01T00:00:00Z")["rows"]}
    assert rows["electricity"]["edition_key"] == "EPA-HUB-2025" and rows["electricity"]["selection"].startswith("applied")
    assert rows["natural_gas"]["edition_key"] == "EPA-HUB-2025"
    v1_rows = audit(client, version=1, site="us1", start="2024-01-01T00:00:00Z")["rows"]
    assert {r["edition_key"] for r in v1_rows} == {"EPA-HUB-2024"}

    versions = client.get("/api/v1/ledger/versions").json()
    assert [(v["id"], v["is_current"]) for v in versions] == [(1, False), (2, True)]
    assert client.get("/api/v1/ledger/versions/1").json()["description"]


def test_filter_by_activity_type(two_sites):
    client = two_sites
    version = _new_version(client, editions=["EPA-HUB-2025"], activity_types=["natural_gas"])
    assert (version["recalculated_rows"], version["copied_rows"]) == (1, 3)
    (gas,) = audit(client, activity_type="natural_gas")["rows"]
    assert gas["edition_key"] == "EPA-HUB-2025"
    assert {r["edition_key"] for r in audit(client, site="us1", activity_type="electricity")["rows"]} == {
        "EPA-HUB-2023", "EPA-HUB-2024"}


def test_filter_by_period_end(two_sites):
    client = two_sites
    version = _new_version(client, editions=["EPA-HUB-2025"], end="2024-01-01T00:00:00Z")
    assert (version["recalculated_rows"], version["copied_rows"]) == (1, 3)
    (old,) = audit(client, end="2024-01-01T00:00:00Z")["rows"]
    assert old["edition_key"] == "EPA-HUB-2025"


def test_a_version_without_editions_recalculates_period_correct(two_sites):
    client = two_sites
    before = total(client)
    version = _new_version(client, description="recalculate")
    assert (version["recalculated_rows"], version["copied_rows"]) == (4, 0)
    assert total(client) == pytest.approx(before, rel=1e-12)


def test_ingest_after_a_new_version_writes_into_the_current_version(two_sites):
    client = two_sites
    _new_version(client, editions=["EPA-HUB-2025"])
    report = ingest(client, [record("us1", "electricity", 10, "kWh", period="2024-04")])
    assert report["ledger_version"] == 2
    assert audit(client, version=2)["row_count"] == 5 and audit(client, version=1)["row_count"] == 4


def test_unknown_versions_and_editions(two_sites):
    client = two_sites
    problem(client.get("/api/v1/ledger/versions/42"), 404)
    assert "42" in problem(client.get("/api/v1/emissions/totals", params={"version": 42}), 404)["detail"]
    problem(client.get("/api/v1/emissions/audit", params={"version": 42}), 404)
    body = problem(client.post("/api/v1/ledger/versions", json={"description": "x", "editions": ["EPA-HUB-1999"]},
                               headers=AUTH), 422)
    assert "EPA-HUB-1999" in body["detail"]
    problem(client.post("/api/v1/ledger/versions", json={"description": ""}, headers=AUTH), 422)
    problem(client.post("/api/v1/ledger/versions", json={"description": "x"}, headers=NO_AUTH), 401)
    assert len(client.get("/api/v1/ledger/versions").json()) == 1

"""Every edition of the library is selected for its own reporting year without any ``editions`` flag
(data/factors/README.md, "Which edition serves which year"), end to end through POST /api/v1/ingest
and GET /api/v1/factors/resolve on both database dialects.

Expected kg come from the values printed in the cited source rows, not from factors.csv.
"""

from __future__ import annotations

import pytest

from tests.services.data_core.helpers import audit, ingest, make_site, problem, record

pytestmark = pytest.mark.integration

# kg CO2e per kWh, "Fuels > Gaseous fuels > Natural gas", kWh (Gross CV), kg CO2e row of each flat file
UK_GAS_KWH = {2019: ("DESNZ-2019", 0.18385), 2021: ("DESNZ-2021", 0.18316), 2023: ("DESNZ-2023", 0.18292892617449666)}
US_GALLON_L = 3.785411784


def test_uk_gas_in_kwh_picks_each_years_desnz_edition_without_flags(client):
    make_site(client, "gb1", country="GB")
    report = ingest(client, [record("gb1", "natural_gas", 1000, "kWh", period=f"{year}-03")
                             for year in UK_GAS_KWH])
    assert report["accepted"] == 3 and report["rejected"] == 0, report
    rows = {r["period_start"][:4]: r for r in audit(client, site="gb1")["rows"]}
    for year, (edition, per_kwh) in UK_GAS_KWH.items():
        row = rows[str(year)]
        assert (row["edition_key"], row["selection"]) == (edition, "national"), row
        assert row["kg_co2e"] == pytest.approx(1000 * per_kwh, rel=1e-9)
        assert row["factor_id"].startswith(f"desnz-{year}/")


def test_us_diesel_in_2023_picks_the_2023_hub(client):
    make_site(client, "us1", country="US")
    report = ingest(client, [record("us1", "vehicle_diesel", 100, "gallons", period="2023-05"),
                             record("us1", "vehicle_diesel", 100, "litres", period="2023-06")])
    assert report["accepted"] == 2, report
    rows = sorted(audit(client, site="us1")["rows"], key=lambda r: r["period_start"])
    assert {r["edition_key"] for r in rows} == {"EPA-HUB-2023"}
    assert {r["factor_id"] for r in rows} == {"epa-hub-2023/t2/vehicle_diesel/gallon"}
    # EPA Hub 2023 Table 2, "Diesel Fuel": 10.21 kg CO2 per gallon (CO2 only)
    assert rows[0]["kg_co2e"] == pytest.approx(1021.0, rel=1e-9)
    assert rows[1]["kg_co2e"] == pytest.approx(100 / US_GALLON_L * 10.21, rel=1e-9)


def test_each_reporting_year_resolves_to_its_edition(client):
    make_site(client, "gb1", country="GB")
    make_site(client, "us1", country="US")

    def resolved(site, year, activity, unit):
        r = client.get("/api/v1/factors/resolve", params={"site": site, "activity_type": activity, "unit": unit,
                                                         "at": f"{year}-07-01T00:00:00Z", "hours": 744})
        assert r.status_code == 200, r.text
        return r.json()["factor"]["edition_key"]

    assert [resolved("gb1", y, "electricity", "kWh") for y in range(2019, 2027)] == [
        "DESNZ-2019", "DESNZ-2020", "DESNZ-2021", "DESNZ-2022", "DESNZ-2023", "DESNZ-2024", "DESNZ-2024",
        "DESNZ-2024"]
    assert [resolved("us1", y, "natural_gas", "therm") for y in range(2021, 2027)] == [
        "EPA-HUB-2021", "EPA-HUB-2021", "EPA-HUB-2023", "EPA-HUB-2024", "EPA-HUB-2025", "EPA-HUB-2025"]


def test_a_year_without_an_edition_names_the_nearest_and_how_to_apply_it(client):
    make_site(client, "gb1", country="GB")
    make_site(client, "us1", country="US")
    report = ingest(client, [record("gb1", "natural_gas", 1000, "kWh", period="2017-03"),
                             record("us1", "natural_gas", 10, "therm", period="2019-03")], expect=422)
    assert report["accepted"] == 0
    reasons = sorted(r["reason"] for r in report["rejects"])
    assert len(reasons) == 2
    gb, us = (next(r for r in reasons if "GB" in r), next(r for r in reasons if "for region US" in r))
    assert "in 2017" in gb and "nearest edition is DESNZ-2019" in gb and "editions=DESNZ-2019" in gb
    assert "nearest edition is EPA-HUB-2021" in us and "editions=EPA-HUB-2021" in us
    # applied on purpose, the named edition computes the row
    ingest(client, [record("gb1", "natural_gas", 1000, "kWh", period="2017-03")], editions="DESNZ-2019")
    (row,) = [r for r in audit(client, site="gb1")["rows"] if r["period_start"].startswith("2017")]
    assert (row["edition_key"], row["selection"]) == ("DESNZ-2019", "applied:national")
    assert row["kg_co2e"] == pytest.approx(183.85, rel=1e-9)
    body = problem(client.get("/api/v1/factors/resolve", params={
        "site": "gb1", "activity_type": "natural_gas", "unit": "kWh", "at": "2017-03-01T00:00:00Z", "hours": 744}), 404)
    assert "editions=DESNZ-2019" in body["detail"]

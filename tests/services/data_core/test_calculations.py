"""Emission arithmetic checked by hand against the published tables.

Every expected number below is computed here from the values printed in the cited source table
(not read from factors.csv or from the code). GWPs: AR5 100-year CH4 28, N2O 265 (EPA Hub 2025
Table 11, IPCC AR5 WG1 Table 8.A.1); AR4 CH4 25, N2O 298 (EPA Hub 2021 Table 11).
"""

from __future__ import annotations

import pytest

from tests.conftest import AUTH
from tests.services.data_core.helpers import audit, ingest, make_site, record

pytestmark = pytest.mark.integration

AR5 = {"CH4": 28.0, "N2O": 265.0}
AR4 = {"CH4": 25.0, "N2O": 298.0}
LB = 0.45359237  # kg per avoirdupois pound (exact)
US_GALLON_L = 3.785411784  # litres per US gallon (exact)


def _one_row(client, **filters):
    rows = audit(client, **filters)["rows"]
    assert len(rows) == 1, rows
    return rows[0]


def _recompute(row):
    """kg CO2e again from the audit row alone: quantity_converted x the factor's values."""
    qc = row["quantity_converted"]
    if row["co2e_kg"] is not None:
        return qc * row["co2e_kg"]
    gwp = {"AR5": AR5, "AR4": AR4}[row["gwp_set"]]
    return qc * ((row["co2_kg"] or 0) + gwp["CH4"] * (row["ch4_kg"] or 0) + gwp["N2O"] * (row["n2o_kg"] or 0))


def _check(row, expected_kg):
    assert row["kg_co2e"] == pytest.approx(expected_kg, rel=1e-9)
    assert _recompute(row) == pytest.approx(row["kg_co2e"], rel=1e-12)
    assert row["arithmetic"].endswith(f"= {row['kg_co2e']:.6g} kg CO2e")


def test_epa_2025_natural_gas_100_therms(client):
    make_site(client, "us1", country="US")
    ingest(client, [record("us1", "natural_gas", 100, "therms", period="2025-02")])
    row = _one_row(client)
    # EPA GHG Emission Factors Hub 2025, Table 1 Stationary Combustion, row "Natural Gas":
    # 53.06 kg CO2/mmBtu, 1.0 g CH4/mmBtu, 0.10 g N2O/mmBtu. 100 therms = 10 mmBtu (1 therm = 0.1 mmBtu).
    mmbtu = 100 * 0.1
    co2, ch4, n2o = mmbtu * 53.06, mmbtu * 1.0 / 1000, mmbtu * 0.10 / 1000
    expected = co2 + AR5["CH4"] * ch4 + AR5["N2O"] * n2o  # = 531.145 kg
    _check(row, expected)
    assert row["factor_id"] == "epa-hub-2025/t1/natural_gas/mmBtu" and row["gwp_set"] == "AR5"
    assert row["quantity_converted"] == pytest.approx(10.0, rel=1e-12) and row["factor_unit"] == "mmBtu"
    assert row["kg_co2"] == pytest.approx(co2) and row["kg_ch4"] == pytest.approx(ch4)
    assert row["kg_n2o"] == pytest.approx(n2o)
    assert row["scope"] == 1 and row["edition_key"] == "EPA-HUB-2025"
    assert "100 therm x 0.1 = 10 mmBtu" in row["arithmetic"] and "53.06" in row["arithmetic"]
    assert "[AR5]" in row["arithmetic"] and "531.145" in row["arithmetic"]


def test_epa_2021_natural_gas_uses_the_ar4_gwps_of_that_edition(client):
    make_site(client, "us1", country="US")
    ingest(client, [record("us1", "natural_gas", 100, "therm", period="2022-02")])  # the 2021 Hub serves 2022
    # EPA Hub 2021, Table 1, "Natural Gas": 53.06 kg CO2, 1.0 g CH4, 0.10 g N2O per mmBtu; AR4 GWPs
    expected = 10 * (53.06 + AR4["CH4"] * 1.0e-3 + AR4["N2O"] * 0.10e-3)  # = 531.148 kg
    row = _one_row(client)
    _check(row, expected)
    assert row["edition_key"] == "EPA-HUB-2021" and row["gwp_set"] == "AR4"


def test_egrid2023_camx_one_mwh(client):
    make_site(client, "ca1", country="US", grid_region="CAMX")
    ingest(client, [record("ca1", "electricity", 1, "MWh", period="2025-03")])
    # EPA Hub 2025, Table 6 Electricity (eGRID2023), subregion CAMX (WECC California), total output:
    # 436.655 lb CO2/MWh, 0.025 lb CH4/MWh, 0.003 lb N2O/MWh
    lb = 436.655 + AR5["CH4"] * 0.025 + AR5["N2O"] * 0.003
    row = _one_row(client)
    _check(row, lb * LB)  # = 198.741 kg
    assert row["factor_id"] == "epa-hub-2025/t6/electricity/CAMX" and row["scope"] == 2
    assert row["quantity_converted"] == pytest.approx(1000.0) and row["factor_unit"] == "kWh"
    assert row["kg_co2"] == pytest.approx(436.655 * LB, rel=1e-9)


def test_desnz_2024_uk_electricity_applied_on_purpose_to_2020(client):
    make_site(client, "gb1", country="GB")
    ingest(client, [record("gb1", "electricity", 1000, "kWh", period="2020-03")], editions="DESNZ-2024")
    # DESNZ GHG Conversion Factors 2024 (flat file v1.1), id 7_400_4000_5_1, UK electricity >
    # Electricity generated > Electricity: UK, kWh: 0.20705 kg CO2e/kWh
    row = _one_row(client)
    _check(row, 1000 * 0.20705)
    assert row["factor_id"] == "desnz-2024/7_400_4000_5_1" and row["selection"] == "applied:national"
    assert "(published)" in row["arithmetic"] and "0.20705" in row["arithmetic"]


def test_desnz_2024_natural_gas_kwh_gross_cv(client):
    make_site(client, "gb1", country="GB")
    ingest(client, [record("gb1", "natural_gas", 5000, "kWh (Gross CV)", period="2024-01")])
    # DESNZ 2024 id 1_100_1004_6_1, Fuels > Gaseous fuels > Natural gas, kWh (Gross CV): 0.1829 kg CO2e/kWh
    row = _one_row(client)
    _check(row, 5000 * 0.1829)
    assert row["table_ref"] == "1_100_1004_6_1"


def test_epa_supply_chain_naics_row_with_margins(client):
    make_site(client, "us1", country="US")
    ingest(client, [record("us1", "purchased_goods", 2500, "USD", period="2024-Q2", naics_code="111110")])
    # EPA Supply Chain GHG Emission Factors v1.3 (NAICS-6, 2022 USD), 111110 Soybean Farming:
    # 0.488 kg CO2e/USD without margins + 0.044 margins = 0.532 kg CO2e/USD with margins
    row = _one_row(client)
    _check(row, 2500 * (0.488 + 0.044))
    assert row["scope"] == 3 and row["category"] == 1


def test_desnz_business_travel_passenger_km(client):
    make_site(client, "gb1", country="GB")
    ingest(client, [record("gb1", "rail_travel_national", 250, "passenger.km", period="2024-05")])
    # DESNZ 2024 id 25_315_3147_11_1, Business travel- land > Rail > National rail, passenger.km:
    # 0.03546 kg CO2e per passenger.km
    row = _one_row(client)
    _check(row, 250 * 0.03546)
    assert row["scope"] == 3 and row["category"] == 6


def test_litres_of_diesel_against_a_per_gallon_factor(client):
    make_site(client, "us1", country="US")
    ingest(client, [record("us1", "vehicle_diesel", 100, "litres", period="2025-04")])
    # EPA Hub 2025, Table 2 Mobile Combustion CO2, "Diesel Fuel": 10.21 kg CO2/gallon (CO2 only)
    gallons = 100 / US_GALLON_L
    row = _one_row(client)
    _check(row, gallons * 10.21)  # = 269.72 kg
    assert row["quantity_converted"] == pytest.approx(gallons, rel=1e-12) and row["factor_unit"] == "gallon"
    assert "100 liter x 0.264172 = 26.4172 gallon" in row["arithmetic"]


def test_scope3_category_override_from_the_record(client):
    make_site(client, "gb1", country="GB")
    rows = [record("gb1", "rail_travel_national", 100, "pkm", period="2024-05", scope3_category=7)]
    ingest(client, rows)
    row = _one_row(client)
    assert row["category"] == 7
    _check(row, 100 * 0.03546)


# ---- market-based scope 2 ---------------------------------------------------------------------


def test_market_based_without_a_supplier_factor_is_the_location_figure_times_the_uncovered_share(client):
    make_site(client, "gb1", country="GB", renewable_share=0.4)
    ingest(client, [record("gb1", "electricity", 1000, "kWh", period="2024-06")])
    row = _one_row(client)
    location = 1000 * 0.20705  # DESNZ 2024 id 7_400_4000_5_1
    _check(row, location)
    assert row["kg_co2e_market"] == pytest.approx(0.6 * location, rel=1e-12)
    assert row["renewable_share"] == 0.4 and row["market_factor_id"] is None
    market = _one_row(client, method="market")
    assert market["kg_co2e_market"] == pytest.approx(0.6 * location)


def test_market_based_with_a_supplier_factor(client):
    make_site(client, "gb1", country="GB", renewable_share=0.4)
    r = client.post("/api/v1/factors", json={"activity_type": "electricity", "unit": "kWh", "site_id": "gb1",
                                             "co2e_kg": 0.1, "method": "market", "supplier": "Tariff A"},
                    headers=AUTH)
    assert r.status_code == 201, r.text
    supplier = r.json()["factor_id"]
    ingest(client, [record("gb1", "electricity", 1000, "MWh", period="2024-06")])
    row = _one_row(client)
    location = 1000 * 1000 * 0.20705
    _check(row, location)  # the location-based figure ignores the supplier factor
    assert row["market_factor_id"] == supplier
    assert row["kg_co2e_market"] == pytest.approx(1000 * 1000 * 0.1 * (1 - 0.4), rel=1e-12)

    inv = client.get("/api/v1/emissions/inventory", params={"year": 2024}).json()
    assert inv["scope2_location_t_co2e"] == pytest.approx(location / 1000, rel=1e-9)
    assert inv["scope2_market_t_co2e"] == pytest.approx(1000 * 0.1 * 0.6, rel=1e-9)
    assert inv["total_location_t_co2e"] == pytest.approx(location / 1000, rel=1e-9)
    assert inv["total_market_t_co2e"] == pytest.approx(60.0, rel=1e-9)


def test_non_electricity_scopes_have_equal_market_and_location_figures(client):
    make_site(client, "us1", country="US", renewable_share=0.5)
    ingest(client, [record("us1", "natural_gas", 100, "therm", period="2025-02")])
    row = _one_row(client)
    assert row["kg_co2e_market"] == row["kg_co2e"]

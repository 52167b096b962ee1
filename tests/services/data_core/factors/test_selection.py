"""Factor selection: the rules on small hand-made frames (unit) and on the real library through
GET /api/v1/factors/resolve (integration)."""

from __future__ import annotations

import pandas as pd
import pytest

from services.data_core.factors.selection import explain_missing, select_factors, select_market_factors
from services.data_core.units import dimensionality
from tests.conftest import AUTH
from tests.services.data_core.helpers import make_site, problem

ENERGY = dimensionality("kWh")
OPEN = pd.Timestamp("9999-12-31")


def _factor(factor_id, *, region="US", level="national", valid_from="2018-01-01", valid_to=None, edition="E1",
            activity="electricity", method="location", rank=0, naics="", dim=ENERGY):
    return {"factor_id": factor_id, "edition_key": edition, "activity_type": activity, "naics_code": naics,
            "unit_dim": dim, "unit": "kWh", "region": region, "region_level": level,
            "valid_from": pd.Timestamp(valid_from), "valid_to": pd.Timestamp(valid_to) if valid_to else OPEN,
            "method": method, "source_rank": rank}


def _factors(*rows):
    frame = pd.DataFrame(list(rows))
    frame["valid_from"] = frame["valid_from"].astype("datetime64[us]")
    frame["valid_to"] = frame["valid_to"].astype("datetime64[us]")
    return frame


def _acts(*rows):
    base = {"activity_type": "electricity", "naics_code": "", "unit_dim": ENERGY, "unit": "kWh", "site_id": "s1",
            "org_id": "o1", "country": "US", "grid_region": None, "hours": 1}
    frame = pd.DataFrame([{**base, **r} for r in rows])
    frame["period_start"] = pd.to_datetime(frame["start"], format="ISO8601").astype("datetime64[us]")
    frame["period_end"] = (frame["period_start"] + pd.to_timedelta(frame["hours"], unit="h")).astype("datetime64[us]")
    return frame.drop(columns=["start", "hours"])


def _chosen(acts, factors, **kw):
    out = select_factors(acts, factors, **kw)
    return list(zip(out["factor_id"].tolist(), out["selection"].tolist(), strict=True))


# ---- unit: the rules ---------------------------------------------------------------------------


@pytest.mark.unit
def test_period_correct_edition_by_validity():
    factors = _factors(_factor("old", valid_from="2021-01-01", valid_to="2025-01-01", edition="OLD"),
                       _factor("new", valid_from="2025-01-01", edition="NEW"))
    acts = _acts({"start": "2021-06-01"}, {"start": "2024-12-31T23:00"}, {"start": "2025-01-01"},
                 {"start": "2020-12-31"})
    chosen = _chosen(acts, factors)
    assert [c[0] for c in chosen[:3]] == ["old", "old", "new"]
    assert pd.isna(chosen[3][0]) and chosen[3][1] == ""  # before any edition: nothing


@pytest.mark.unit
def test_valid_to_is_exclusive_and_a_gap_matches_nothing():
    factors = _factors(_factor("y2019", valid_from="2019-01-01", valid_to="2020-01-01"))
    chosen = _chosen(_acts({"start": "2019-12-31T23:00"}, {"start": "2020-01-01"}), factors)
    assert chosen[0][0] == "y2019" and pd.isna(chosen[1][0])


@pytest.mark.unit
def test_applied_edition_wins_whatever_its_validity():
    factors = _factors(_factor("old", valid_to="2025-01-01", edition="OLD"),
                       _factor("new", valid_from="2025-01-01", edition="NEW"))
    acts = _acts({"start": "2023-03-01"})
    assert _chosen(acts, factors, applied_editions=["NEW"]) == [("new", "applied:national")]
    assert _chosen(acts, factors) == [("old", "national")]


@pytest.mark.unit
def test_region_priority_hourly_then_subnational_then_national_then_global():
    factors = _factors(
        _factor("hour", region="GB", level="hourly", valid_from="2019-01-01T10:00", valid_to="2019-01-01T11:00"),
        _factor("gb", region="GB"),
        _factor("camx", region="CAMX", level="subnational"),
        _factor("us", region="US"),
        _factor("world", region="GLOBAL", level="global"),
    )
    acts = _acts(
        {"country": "GB", "start": "2019-01-01T10:00"},  # one hour with an hourly factor
        {"country": "GB", "start": "2019-01-01T10:00", "hours": 24},  # longer than an hour: national
        {"country": "GB", "start": "2019-01-01T12:00"},  # an hour without an hourly factor
        {"country": "US", "grid_region": "CAMX", "start": "2022-01-01"},
        {"country": "US", "grid_region": "ERCT", "start": "2022-01-01"},  # subregion without a factor
        {"country": "FR", "start": "2022-01-01"},
    )
    assert _chosen(acts, factors) == [("hour", "hourly"), ("gb", "national"), ("gb", "national"),
                                      ("camx", "subnational"), ("us", "national"), ("world", "global")]


@pytest.mark.unit
def test_official_national_factors_before_secondary_datasets():
    factors = _factors(_factor("owid", region="GB", rank=1), _factor("desnz", region="GB", rank=0))
    assert _chosen(_acts({"country": "GB", "start": "2024-01-01"}), factors) == [("desnz", "national")]
    only_secondary = _factors(_factor("owid", region="GB", rank=1))
    assert _chosen(_acts({"country": "GB", "start": "2024-01-01"}), only_secondary) == [("owid", "national-secondary")]


@pytest.mark.unit
def test_custom_site_then_org_outrank_everything_but_market_factors_do_not_count():
    factors = _factors(
        _factor("hour", region="GB", level="hourly", valid_from="2019-01-01T10:00", valid_to="2019-01-01T11:00"),
        _factor("site-s1", region="site:s1", level="custom", edition="CUSTOM"),
        _factor("org-o1", region="org:o1", level="custom", edition="CUSTOM"),
        _factor("market-s2", region="site:s2", level="custom", edition="CUSTOM", method="market"),
        _factor("gb", region="GB"),
    )
    acts = _acts({"country": "GB", "start": "2019-01-01T10:00"},
                 {"country": "GB", "start": "2019-01-01T10:00", "site_id": "s2"},
                 {"country": "GB", "start": "2019-01-01T10:00", "site_id": "s3", "org_id": "o2"})
    assert _chosen(acts, factors, applied_editions=["E1"]) == [
        ("site-s1", "custom-site"), ("org-o1", "custom-org"), ("hour", "applied:hourly")]
    market = select_market_factors(acts, factors)
    assert pd.isna(market.iloc[0]) and market.iloc[1] == "market-s2"


@pytest.mark.unit
def test_unit_dimension_and_naics_must_match():
    mass = dimensionality("kg")
    factors = _factors(_factor("mass", dim=mass, activity="waste"),
                       _factor("n1", activity="purchased_goods", naics="111110", dim=dimensionality("USD")),
                       _factor("n2", activity="purchased_goods", naics="541511", dim=dimensionality("USD")))
    acts = _acts({"activity_type": "waste", "start": "2022-01-01"},
                 {"activity_type": "waste", "unit_dim": mass, "start": "2022-01-01"},
                 {"activity_type": "purchased_goods", "naics_code": "541511", "unit_dim": dimensionality("USD"),
                  "start": "2022-01-01"})
    assert [c[0] for c in _chosen(acts, factors)][1:] == ["mass", "n2"]
    assert pd.isna(_chosen(acts, factors)[0][0])


@pytest.mark.unit
def test_two_candidates_with_the_same_start_are_broken_deterministically():
    factors = _factors(_factor("b-factor"), _factor("a-factor"))
    assert _chosen(_acts({"start": "2022-01-01"}), factors) == [("a-factor", "national")]
    assert _chosen(_acts({"start": "2022-01-01"}), factors.iloc[::-1]) == [("a-factor", "national")]


@pytest.mark.unit
def test_selection_keeps_the_index_of_the_activities():
    factors = _factors(_factor("us"))
    acts = _acts({"start": "2022-01-01"}, {"start": "2017-01-01"}).set_axis([17, 4])
    out = select_factors(acts, factors)
    assert list(out.index) == [17, 4] and out.loc[17, "factor_id"] == "us" and pd.isna(out.loc[4, "factor_id"])


@pytest.mark.unit
def test_explain_missing_names_the_nearest_edition_before_or_after_the_gap():
    factors = _factors(_factor("e19", valid_from="2019-01-01", valid_to="2020-01-01", edition="E-2019"),
                       _factor("e21", valid_from="2021-01-01", edition="E-2021"))
    acts = _acts({"start": "2017-05-01"}, {"start": "2020-11-01"}, {"start": "2020-02-01"}).set_axis([7, 3, 5])
    reasons = explain_missing(acts, factors)  # judged once per year, from its first activity (November)
    assert list(reasons.index) == [7, 3, 5] and reasons[5] == reasons[3]
    assert "nearest edition is E-2019" in reasons[7] and "editions=E-2019" in reasons[7]
    assert "(other editions for this region: E-2021)" in reasons[7]
    assert "nearest edition is E-2021 (valid from 2021-01-01, open-ended)" in reasons[3]
    assert "editions=E-2021" in reasons[3]
    alone = explain_missing(acts.loc[[5]], factors)  # February 2020 alone: a month after E-2019 ends
    assert "nearest edition is E-2019" in alone[5]


@pytest.mark.unit
def test_explain_missing_names_activity_unit_region_year_and_hints():
    factors = _factors(_factor("old", valid_from="2021-01-01", valid_to="2025-01-01", edition="EPA-OLD"))
    acts = _acts({"start": "2019-05-01", "grid_region": "CAMX"}, {"start": "2019-05-01", "activity_type": "steam"})
    reasons = explain_missing(acts, factors)
    assert "'electricity'" in reasons.iloc[0] and "'kWh'" in reasons.iloc[0] and "CAMX/US" in reasons.iloc[0]
    assert "2019" in reasons.iloc[0] and "nearest edition is EPA-OLD (valid from 2021-01-01, until 2025-01-01)" in (
        reasons.iloc[0])
    assert "send editions=EPA-OLD" in reasons.iloc[0]
    assert "no factors for this activity type" in reasons.iloc[1]


# ---- integration: the real library through the API -------------------------------------------


def _resolve(client, site, at, activity_type="natural_gas", unit="therm", **params):
    return client.get("/api/v1/factors/resolve",
                      params={"site": site, "activity_type": activity_type, "unit": unit, "at": at, **params})


def _ok(response):
    assert response.status_code == 200, response.text
    body = response.json()
    return body["factor"]["factor_id"], body["selection"]


@pytest.mark.integration
def test_period_correct_epa_hub_for_natural_gas(client):
    make_site(client, "us1", country="US")
    assert _ok(_resolve(client, "us1", "2021-03-01T00:00:00Z")) == ("epa-hub-2021/t1/natural_gas/mmBtu", "national")
    assert _ok(_resolve(client, "us1", "2022-12-31T23:00:00Z"))[0] == "epa-hub-2021/t1/natural_gas/mmBtu"
    assert _ok(_resolve(client, "us1", "2023-03-01T00:00:00Z"))[0] == "epa-hub-2023/t1/natural_gas/mmBtu"
    assert _ok(_resolve(client, "us1", "2024-12-31T23:00:00Z"))[0] == "epa-hub-2024/t1/natural_gas/mmBtu"
    assert _ok(_resolve(client, "us1", "2025-03-01T00:00:00Z"))[0] == "epa-hub-2025/t1/natural_gas/mmBtu"
    body = _resolve(client, "us1", "2025-03-01T00:00:00Z").json()
    assert body["factor"]["edition_key"] == "EPA-HUB-2025"
    assert body["conversion"]["to"] == "mmBtu" and body["conversion"]["multiplier"] == pytest.approx(0.1, rel=1e-12)
    # a physical-unit activity gets the per-scf row of the same table
    assert _ok(_resolve(client, "us1", "2025-03-01T00:00:00Z", unit="scf"))[0] == "epa-hub-2025/t1/natural_gas/scf"


@pytest.mark.integration
def test_an_edition_applied_on_purpose(client):
    make_site(client, "us1", country="US")
    assert _ok(_resolve(client, "us1", "2023-03-01T00:00:00Z", editions="EPA-HUB-2025")) == (
        "epa-hub-2025/t1/natural_gas/mmBtu", "applied:national")
    body = problem(_resolve(client, "us1", "2023-03-01T00:00:00Z", editions="EPA-HUB-1999"), 422)
    assert "EPA-HUB-1999" in body["detail"]


@pytest.mark.integration
def test_egrid_subregion_before_the_us_average(client):
    make_site(client, "ca1", country="US", grid_region="CAMX")
    make_site(client, "us1", country="US")
    assert _ok(_resolve(client, "ca1", "2025-02-01T00:00:00Z", "electricity", "MWh")) == (
        "epa-hub-2025/t6/electricity/CAMX", "subnational")
    assert _ok(_resolve(client, "us1", "2025-02-01T00:00:00Z", "electricity", "MWh")) == (
        "epa-hub-2025/t6/electricity/US", "national")


@pytest.mark.integration
def test_gb_electricity_hourly_monthly_and_a_country_without_national_factors(client):
    make_site(client, "gb1", country="GB")
    make_site(client, "aq1", country="AQ")  # Antarctica: no national electricity factor in any edition
    factor, selection = _ok(_resolve(client, "gb1", "2019-05-01T10:00:00Z", "electricity", "kWh"))
    assert selection == "hourly" and factor.startswith("neso-hourly/")
    hourly = _resolve(client, "gb1", "2019-05-01T10:00:00Z", "electricity", "kWh").json()["factor"]
    assert hourly["valid_from"].startswith("2019-05-01T10:00")
    # a month of 2019: the official DESNZ 2019 factor outranks OWID (secondary)
    assert _ok(_resolve(client, "gb1", "2019-05-01T00:00:00Z", "electricity", "kWh", hours=744)) == (
        "desnz-2019/row-1930", "national")
    assert _ok(_resolve(client, "aq1", "2019-05-01T00:00:00Z", "electricity", "kWh", hours=744)) == (
        "owid-2025/electricity/GLOBAL/2019", "global")
    # and in 2024 the 2024 edition
    assert _ok(_resolve(client, "gb1", "2024-05-01T00:00:00Z", "electricity", "kWh", hours=744)) == (
        "desnz-2024/7_400_4000_5_1", "national")


@pytest.mark.integration
def test_a_custom_site_factor_outranks_everything(client):
    make_site(client, "ca1", country="US", grid_region="CAMX")
    r = client.post("/api/v1/factors", json={"activity_type": "electricity", "unit": "kWh", "site_id": "ca1",
                                             "co2e_kg": 0.123, "supplier": "Green Power Co"}, headers=AUTH)
    assert r.status_code == 201, r.text
    custom = r.json()["factor_id"]
    assert _ok(_resolve(client, "ca1", "2025-02-01T00:00:00Z", "electricity", "MWh")) == (custom, "custom-site")
    # even against an edition applied on purpose
    assert _ok(_resolve(client, "ca1", "2025-02-01T00:00:00Z", "electricity", "MWh", editions="OWID-2025")) == (
        custom, "custom-site")
    assert client.get(f"/api/v1/factors/{custom}").json()["co2e_kg"] == 0.123


@pytest.mark.integration
def test_a_market_supplier_factor_does_not_change_the_location_based_factor(client):
    make_site(client, "us1", country="US")
    r = client.post("/api/v1/factors", json={"activity_type": "electricity", "unit": "kWh", "site_id": "us1",
                                             "co2e_kg": 0.05, "method": "market"}, headers=AUTH)
    assert r.status_code == 201 and r.json()["method"] == "market"
    assert _ok(_resolve(client, "us1", "2025-02-01T00:00:00Z", "electricity", "kWh")) == (
        "epa-hub-2025/t6/electricity/US", "national")


@pytest.mark.integration
def test_nothing_matches_is_a_404_naming_activity_unit_region_and_period(client):
    make_site(client, "us1", country="US")
    body = problem(_resolve(client, "us1", "2019-05-01T00:00:00Z", "natural_gas", "kWh"), 404)
    for word in ("natural_gas", "kWh", "US", "2019"):
        assert word in body["detail"]
    assert (body["activity_type"], body["unit"], body["region"]) == ("natural_gas", "kWh", "US")
    assert body["period_start"].startswith("2019-05-01")
    assert "EPA-HUB-2021" in body["detail"] and "editions=EPA-HUB-2021" in body["detail"]  # the nearest edition


@pytest.mark.integration
def test_resolve_input_errors(client):
    make_site(client, "us1", country="US")
    problem(_resolve(client, "nowhere", "2025-01-01T00:00:00Z"), 404)
    assert "wombats" in problem(_resolve(client, "us1", "2025-01-01T00:00:00Z", unit="wombats"), 422)["detail"]
    problem(_resolve(client, "us1", "not-a-date"), 422)

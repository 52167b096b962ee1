"""Emission queries: totals, time series, top contributors, inventory and audit, on both dialects.

Expected values are derived from the ledger rows themselves (GET /audit) with plain Python, so each
aggregation in SQL is checked against an independent one."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import pytest

from tests.services.data_core.helpers import audit, load_mixed, problem

pytestmark = pytest.mark.integration

SITE_COUNTRY = {"us1": "US", "ca1": "US", "gb1": "GB"}
SITE_ORG = {"us1": "acme", "ca1": "acme", "gb1": "beta"}


@pytest.fixture
def ledger(client):
    load_mixed(client)
    rows = audit(client)["rows"]
    assert len(rows) == 13
    return client, rows


def _sum_by(rows, key, value="kg_co2e"):
    out: dict = defaultdict(float)
    for r in rows:
        out[key(r)] += r[value]
    return dict(out)


def _get(client, path, **params):
    r = client.get(f"/api/v1/emissions/{path}", params=params)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize(
    ("group", "key"),
    [
        ("scope", lambda r: r["scope"]),
        ("category", lambda r: r["category"]),
        ("site", lambda r: r["site_id"]),
        ("activity_type", lambda r: r["activity_type"]),
        ("country", lambda r: SITE_COUNTRY[r["site_id"]]),
        ("org", lambda r: SITE_ORG[r["site_id"]]),
    ],
)
def test_totals_by_each_group(ledger, group, key):
    client, rows = ledger
    expected = _sum_by(rows, key)
    body = _get(client, "totals", group_by=group)
    got = {r[group]: r["kg_co2e"] for r in body["rows"]}
    assert got.keys() == expected.keys()
    for k, v in expected.items():
        assert got[k] == pytest.approx(v, rel=1e-9)
    assert body["total_kg_co2e"] == pytest.approx(sum(r["kg_co2e"] for r in rows), rel=1e-9)
    assert [r["kg_co2e"] for r in body["rows"]] == sorted((r["kg_co2e"] for r in body["rows"]), reverse=True)
    assert sum(r["rows"] for r in body["rows"]) == len(rows)


def test_totals_by_two_groups_and_filters(ledger):
    client, rows = ledger
    body = _get(client, "totals", group_by="country,scope")
    expected = _sum_by(rows, lambda r: (SITE_COUNTRY[r["site_id"]], r["scope"]))
    assert {(r["country"], r["scope"]): pytest.approx(r["kg_co2e"]) for r in body["rows"]} == expected
    only = _get(client, "totals", group_by="", site="gb1", scope=2)
    assert only["total_kg_co2e"] == pytest.approx(sum(r["kg_co2e"] for r in rows
                                                      if r["site_id"] == "gb1" and r["scope"] == 2))
    year = _get(client, "totals", group_by="", start="2023-01-01T00:00:00Z", end="2024-01-01T00:00:00Z")
    assert year["total_kg_co2e"] == pytest.approx(sum(r["kg_co2e"] for r in rows if r["period_start"][:4] == "2023"))
    org = _get(client, "totals", group_by="site", org="beta")
    assert {r["site"] for r in org["rows"]} == {"gb1"}
    market = _get(client, "totals", group_by="", method="market", site="gb1", activity_type="electricity")
    location = _get(client, "totals", group_by="", site="gb1", activity_type="electricity")
    assert market["total_kg_co2e"] == pytest.approx(0.5 * location["total_kg_co2e"])  # renewable_share 0.5


def _bucket(ts: str, interval: str) -> str:
    t = datetime.fromisoformat(ts)
    if interval == "hour":
        t = t.replace(minute=0, second=0, microsecond=0)
    elif interval == "day":
        t = t.replace(hour=0, minute=0, second=0, microsecond=0)
    elif interval == "week":
        t = (t - timedelta(days=t.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    elif interval == "month":
        t = datetime(t.year, t.month, 1)
    elif interval == "quarter":
        t = datetime(t.year, 3 * ((t.month - 1) // 3) + 1, 1)
    else:
        t = datetime(t.year, 1, 1)
    return t.isoformat()


@pytest.mark.parametrize("interval", ["hour", "day", "week", "month", "quarter", "year"])
def test_timeseries_buckets(ledger, interval):
    client, rows = ledger
    expected = _sum_by(rows, lambda r: _bucket(r["period_start"], interval))
    body = _get(client, "timeseries", interval=interval)
    got = {r["period"]: r["kg_co2e"] for r in body["rows"]}
    assert got.keys() == expected.keys()
    for k, v in expected.items():
        assert got[k] == pytest.approx(v, rel=1e-9)
    assert [r["period"] for r in body["rows"]] == sorted(got)


def test_weeks_start_on_monday_and_quarters_on_their_first_month(ledger):
    client, _ = ledger
    weeks = {r["period"] for r in _get(client, "timeseries", interval="week", site="gb1",
                                       activity_type="electricity")["rows"]}
    # Wed 2019-06-05 and Sun 2019-06-09 fall in the week of Mon 2019-06-03; Mon 2019-06-10 starts a new one;
    # Tue 2019-12-31 belongs to the week of Mon 2019-12-30, and so does Wed 2020-01-01
    assert weeks == {"2019-05-13T00:00:00", "2019-06-03T00:00:00", "2019-06-10T00:00:00", "2019-12-30T00:00:00"}
    quarters = {r["period"] for r in _get(client, "timeseries", interval="quarter")["rows"]}
    assert quarters == {"2019-04-01T00:00:00", "2019-10-01T00:00:00", "2020-01-01T00:00:00",
                        "2023-01-01T00:00:00", "2024-04-01T00:00:00"}


def test_timeseries_grouped(ledger):
    client, rows = ledger
    body = _get(client, "timeseries", interval="year", group_by="scope")
    expected = _sum_by(rows, lambda r: (r["period_start"][:4] + "-01-01T00:00:00", r["scope"]))
    assert {(r["period"], r["scope"]): pytest.approx(r["kg_co2e"]) for r in body["rows"]} == expected


def test_top_contributors_with_pareto_shares(ledger):
    client, rows = ledger
    body = _get(client, "top", by="activity_type")
    expected = sorted(_sum_by(rows, lambda r: r["activity_type"]).items(), key=lambda kv: -kv[1])
    total = sum(v for _, v in expected)
    assert [r["activity_type"] for r in body["rows"]] == [k for k, _ in expected]
    cumulative = 0.0
    for got, (_, kg) in zip(body["rows"], expected, strict=True):
        assert got["share"] == pytest.approx(kg / total)
        assert got["pareto"] == (cumulative < 0.8)
        cumulative += kg / total
        assert got["cumulative_share"] == pytest.approx(cumulative)
    assert body["rows"][-1]["cumulative_share"] == pytest.approx(1.0)
    assert body["pareto_count"] == sum(r["pareto"] for r in body["rows"]) and body["contributors"] == len(expected)
    assert len(_get(client, "top", by="activity_type", limit=2)["rows"]) == 2


def test_top_change_against_the_previous_period(ledger):
    client, rows = ledger
    # [2019-06-01, 2020-06-01) against the year before it, which holds the 2019-05-15 reading
    body = _get(client, "top", by="site", start="2019-06-01T00:00:00Z", end="2020-06-01T00:00:00Z")
    now = sum(r["kg_co2e"] for r in rows if "2019-06-01" <= r["period_start"] < "2020-06-01")
    before = sum(r["kg_co2e"] for r in rows if "2018-06-01" <= r["period_start"] < "2019-06-01")
    (gb,) = body["rows"]
    assert gb["kg_co2e"] == pytest.approx(now) and gb["kg_prev"] == pytest.approx(before)
    assert gb["change_kg"] == pytest.approx(now - before)
    assert gb["change_pct"] == pytest.approx((now - before) / before * 100)


def test_inventory(ledger):
    client, rows = ledger
    inv = _get(client, "inventory", year=2023)
    in_year = [r for r in rows if r["period_start"][:4] == "2023"]
    s1 = sum(r["kg_co2e"] for r in in_year if r["scope"] == 1) / 1000
    s2 = sum(r["kg_co2e"] for r in in_year if r["scope"] == 2) / 1000
    s2m = sum(r["kg_co2e_market"] for r in in_year if r["scope"] == 2) / 1000
    s3 = sum(r["kg_co2e"] for r in in_year if r["scope"] == 3) / 1000
    assert s1 > 0 and s2 > 0 and s3 > 0
    assert inv["scope1_t_co2e"] == pytest.approx(s1, abs=1e-6)
    assert inv["scope2_location_t_co2e"] == pytest.approx(s2, abs=1e-6)
    assert inv["scope2_market_t_co2e"] == pytest.approx(s2m, abs=1e-6)
    assert inv["scope3_by_category"] == [{"category": 1, "t_co2e": pytest.approx(s3, abs=1e-6), "rows": 1}]
    assert inv["total_location_t_co2e"] == pytest.approx(s1 + s2 + s3, abs=1e-6)
    assert {e["edition_key"] for e in inv["factor_editions"]} == {"EPA-HUB-2023", "EPA-SC-1.3"}
    assert _get(client, "inventory", year=2023, org="beta")["total_location_t_co2e"] == 0
    gb = _get(client, "inventory", year=2019)
    assert gb["scope2_market_t_co2e"] == pytest.approx(gb["scope2_location_t_co2e"] * 0.5, abs=1e-6)


def test_audit_rows_sum_to_the_total_and_page(ledger):
    client, rows = ledger
    for params in ({}, {"scope": 3}, {"site": "us1"}, {"method": "market"}):
        body = audit(client, **params)
        value = "kg_co2e_market" if params.get("method") == "market" else "kg_co2e"
        assert sum(r[value] for r in body["rows"]) == pytest.approx(body["total_kg_co2e"], rel=1e-9)
        assert body["row_count"] == len(body["rows"])
        assert _get(client, "totals", group_by="", **params)["total_kg_co2e"] == pytest.approx(body["total_kg_co2e"])
    pages = audit(client, limit=5)["rows"] + audit(client, limit=5, offset=5)["rows"] + audit(client, limit=5,
                                                                                             offset=10)["rows"]
    assert [r["activity_id"] for r in pages] == [r["activity_id"] for r in rows]


def test_an_empty_ledger_answers_zero(client):
    assert _get(client, "totals")["total_kg_co2e"] == 0 and _get(client, "totals")["rows"] == []
    assert _get(client, "timeseries")["rows"] == []
    assert _get(client, "top")["rows"] == []
    assert _get(client, "inventory", year=2024)["total_market_t_co2e"] == 0


@pytest.mark.parametrize(
    ("path", "params", "words"),
    [
        ("totals", {"group_by": "planet"}, "planet"),
        ("totals", {"start": "2024-02-01T00:00:00Z", "end": "2024-01-01T00:00:00Z"}, "end"),
        ("totals", {"scope": 4}, "scope"),
        ("totals", {"method": "hopeful"}, "method"),
        ("timeseries", {"interval": "fortnight"}, "interval"),
        ("timeseries", {"group_by": "scope,planet"}, "planet"),
        ("top", {"by": "galaxy"}, "galaxy"),
        ("top", {"limit": 0}, "limit"),
        ("audit", {"start": "yesterday"}, "start"),
        ("inventory", {}, "year"),
        ("inventory", {"year": 1800}, "year"),
    ],
)
def test_bad_parameters_are_422_problems(client, path, params, words):
    body = problem(client.get(f"/api/v1/emissions/{path}", params=params), 422)
    assert words in body["detail"]


def test_an_unknown_version_is_404(client):
    body = problem(client.get("/api/v1/emissions/totals", params={"version": 99}), 404)
    assert "99" in body["detail"]

"""CSV and XLSX exports carry the same numbers as the JSON answers."""

from __future__ import annotations

import io

import openpyxl
import pandas as pd
import pytest

from tests.services.data_core.helpers import load_mixed

pytestmark = pytest.mark.integration

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
QUERIES = [
    ("totals", {"group_by": "site"}, "site"),
    ("timeseries", {"interval": "month"}, "period"),
    ("top", {"by": "activity_type"}, "activity_type"),
    ("audit", {}, "activity_id"),
]


@pytest.fixture
def loaded(client):
    load_mixed(client)
    return client


def _export(client, path, fmt, **params):
    r = client.get(f"/api/v1/emissions/{path}", params={**params, "format": fmt})
    assert r.status_code == 200, r.text
    return r


def _read(response, fmt):
    if fmt == "csv":
        assert response.headers["content-type"].startswith("text/csv")
        assert response.headers["content-disposition"].endswith('.csv"')
        return pd.read_csv(io.StringIO(response.text))
    assert response.headers["content-type"] == XLSX
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames[0] == "data"
    return pd.read_excel(io.BytesIO(response.content), sheet_name="data")


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize(("path", "params", "key"), QUERIES)
def test_exports_match_the_json(loaded, fmt, path, params, key):
    rows = loaded.get(f"/api/v1/emissions/{path}", params=params).json()["rows"]
    frame = _read(_export(loaded, path, fmt, **params), fmt)
    assert len(frame) == len(rows) > 0
    by_key = {str(r[key]): r["kg_co2e"] for r in rows}
    exported = dict(zip(frame[key].astype(str), frame["kg_co2e"], strict=True))
    assert exported.keys() == by_key.keys()
    for k, v in by_key.items():
        assert exported[k] == pytest.approx(v, rel=1e-12)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_inventory_export(loaded, fmt):
    inv = loaded.get("/api/v1/emissions/inventory", params={"year": 2023}).json()
    frame = _read(_export(loaded, "inventory", fmt, year=2023), fmt)
    lines = dict(zip(frame["line"], frame["t_co2e"], strict=False))
    assert lines["Scope 1"] == pytest.approx(inv["scope1_t_co2e"])
    assert lines["Scope 2 (location-based)"] == pytest.approx(inv["scope2_location_t_co2e"])
    assert lines["Scope 2 (market-based)"] == pytest.approx(inv["scope2_market_t_co2e"])
    assert lines["Scope 3 total"] == pytest.approx(inv["scope3_t_co2e"])
    assert lines["Total (market-based scope 2)"] == pytest.approx(inv["total_market_t_co2e"])
    (cat,) = frame[frame["line"] == "Scope 3"].to_dict("records")
    assert int(cat["category"]) == 1 and cat["t_co2e"] == pytest.approx(inv["scope3_by_category"][0]["t_co2e"])


def test_xlsx_has_an_about_sheet_with_the_query(loaded):
    r = _export(loaded, "totals", "xlsx", group_by="scope", method="market")
    about = pd.read_excel(io.BytesIO(r.content), sheet_name="about")
    meta = dict(zip(about["key"], about["value"].astype(str), strict=True))
    assert meta["method"] == "market" and meta["ledger_version"] == "1"


def test_empty_export_and_bad_format(client):
    r = _export(client, "totals", "csv", group_by="site")
    assert r.status_code == 200
    r = client.get("/api/v1/emissions/totals", params={"format": "pdf"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")


def test_xlsx_drops_control_characters_that_worksheets_cannot_hold(client):
    from tests.services.data_core.helpers import ingest, make_site, record

    make_site(client, "gb1", country="GB")
    ingest(client, [{**record("gb1", timestamp="2019-06-01T10:00:00Z"), "meter": "main\x1e\x07meter"}])
    frame = _read(_export(client, "audit", "xlsx"), "xlsx")
    assert frame["meter"].tolist() == ["mainmeter"]
    assert str(frame["activity_id"].iloc[0]) == str(client.get("/api/v1/emissions/audit").json()["rows"][0]["activity_id"])

"""CSV and XLSX exports escape cells a spreadsheet would run as formulas (issue #15, item 8; OWASP CSV
injection): a meter name like ``=HYPERLINK(...)`` uploaded in an activity file comes back with a leading
single quote in both formats, the XLSX cell is a string (not a formula), and numbers, negative ones
included, stay numbers."""

from __future__ import annotations

import io

import httpx
import openpyxl
import pandas as pd
import pytest

from services.common.datacore import DataCoreClient
from services.data_core.exports import escape_formulas, frame_response
from services.lib.hotspots.scan import read_residuals
from tests.conftest import AUTH
from tests.services.data_core.helpers import ingest, make_site, record

pytestmark = pytest.mark.integration

# uploaded as meter names (ingestion trims surrounding whitespace, so tab and CR are checked on a frame below)
HOSTILE = ['=HYPERLINK("http://127.0.0.1/x","open")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)"]


def _cells(response: httpx.Response, fmt: str, column: str) -> list[object]:
    if fmt == "csv":
        return list(pd.read_csv(io.StringIO(response.text), keep_default_na=False)[column])
    sheet = openpyxl.load_workbook(io.BytesIO(response.content))["data"]
    header = [c.value for c in sheet[1]]
    col = header.index(column)
    cells = [row[col] for row in sheet.iter_rows(min_row=2)]
    assert all(c.data_type == "s" for c in cells), [(c.value, c.data_type) for c in cells]  # strings, no formulas
    return [c.value for c in cells]


@pytest.fixture
def hostile(client):
    make_site(client, "s1", country="GB")
    records = [record(meter=m, timestamp=f"2020-03-0{i + 1}T10:00:00Z") for i, m in enumerate(HOSTILE)]
    ingest(client, records)
    return client


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_uploaded_formula_comes_back_escaped_from_the_audit_export(hostile, fmt):
    r = hostile.get("/api/v1/emissions/audit", params={"format": fmt, "limit": 100}, headers=AUTH)
    assert r.status_code == 200, r.text
    meters = _cells(r, fmt, "meter")
    assert sorted(meters) == sorted("'" + m for m in HOSTILE)
    if fmt == "xlsx":
        sheet = openpyxl.load_workbook(io.BytesIO(r.content))["data"]
        assert not any(c.data_type == "f" for row in sheet.iter_rows() for c in row)


def test_residuals_csv_is_escaped_and_the_hotspot_scan_reads_the_names_back(hostile):
    body = {"model_name": "m", "model_version": "1", "predictions": [
        {"site": "s1", "meter": m, "activity_type": "electricity", "period_start": f"2020-03-0{i + 1}T10:00:00Z",
         "expected": 90.0} for i, m in enumerate(HOSTILE)]}
    assert hostile.put("/api/v1/predictions", json=body, headers=AUTH).status_code == 200
    r = hostile.get("/api/v1/residuals", params={"format": "csv"}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert sorted(_cells(r, "csv", "meter")) == sorted("'" + m for m in HOSTILE)
    dc = DataCoreClient("http://testserver", None, http=hostile)
    frame = read_residuals(dc, ["s1"], pd.Timestamp("2020-03-01", tz="UTC"), pd.Timestamp("2020-04-01", tz="UTC"))
    assert sorted(frame["meter"]) == sorted(HOSTILE)


@pytest.mark.unit
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_numbers_stay_numbers_and_only_text_is_escaped(fmt):
    frame = pd.DataFrame({"name": ["=1+1", "plain", "-x", None], "kg": [-1.5, 2.0, -3.0, 0.0],
                          "mixed": pd.Series([-5, "@x", "\tx", "+y"], dtype=object)})
    response = frame_response(frame, fmt=fmt, name="t", meta={"note": "=evil()"})
    if fmt == "csv":
        back = pd.read_csv(io.BytesIO(response.body))
        assert list(back["name"].fillna("")) == ["'=1+1", "plain", "'-x", ""]
        assert list(back["kg"]) == [-1.5, 2.0, -3.0, 0.0]
        assert list(back["mixed"]) == ["-5", "'@x", "'\tx", "'+y"]  # the number -5 is not quoted
        return
    book = openpyxl.load_workbook(io.BytesIO(response.body))
    rows = list(book["data"].iter_rows(min_row=2, values_only=True))
    assert [r[0] for r in rows] == ["'=1+1", "plain", "'-x", None]
    assert [r[1] for r in rows] == [-1.5, 2.0, -3.0, 0.0]
    assert [r[2] for r in rows] == [-5, "'@x", "'\tx", "'+y"]
    about = {r[0]: r[1] for r in book["about"].iter_rows(min_row=2, values_only=True)}
    assert about["note"] == "'=evil()"
    assert escape_formulas(frame)["kg"].dtype == float


@pytest.mark.unit
def test_a_carriage_return_or_tab_at_the_start_is_escaped():
    frame = pd.DataFrame({"t": ["\rCR", "\tTAB", "mid\r"]})
    assert list(escape_formulas(frame)["t"]) == ["'\rCR", "'\tTAB", "mid\r"]

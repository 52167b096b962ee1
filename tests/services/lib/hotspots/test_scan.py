"""One scan over the data core's client: residuals read in kWh as the data core serves them (the export's
quoting of formula-like meter names taken off), emissions per site and type for kg per kWh, detection;
the data core is a fake transport that records what was asked."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pandas as pd
import pytest

from services.common.datacore import DataCoreClient, UpstreamProblem
from services.lib.hotspots.scan import (
    RESIDUAL_COLUMNS,
    emissions_by,
    extent,
    read_residuals,
    scan_sites,
    unescape_cell,
    utc,
    with_intensity,
)

pytestmark = pytest.mark.unit
START, END = utc("2020-01-01"), utc("2020-01-08")
HEADER = "site,meter,activity_type,period_start,actual,unit,expected,lower,upper,model_name,model_version\n"


def residuals_csv(hours: int = 7 * 24, excess: tuple[int, int] | None = None, meter: str = "main") -> str:
    rows = []
    for h in range(hours):
        ts = (START + pd.Timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%S")
        actual = 20.0 + (30.0 if excess and excess[0] <= h < excess[1] else 0.0)
        rows.append(f"b1,{meter},electricity,{ts},{actual},kWh,20.0,18.0,22.0,carbon-baseline,3\n")
    return HEADER + "".join(rows)


def fake(csv: str, totals: list[list[object]] | None = None, status: int = 200) -> tuple[DataCoreClient, list]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if status != 200:
            return httpx.Response(status, json={"type": "about:blank", "title": "Bad", "status": status,
                                                "detail": "bad window", "field": "end"})
        if request.url.path == "/api/v1/residuals":
            return httpx.Response(200, text=csv, headers={"content-type": "text/csv"})
        if request.url.path == "/api/v1/emissions/totals":
            return httpx.Response(200, json={"rows": totals or []})
        if request.url.path == "/api/v1/readings/extent":
            return httpx.Response(200, json={"first": "2020-01-01T00:00:00Z", "last": None, "sites": ["b1", "b2"]})
        return httpx.Response(404, json={"status": 404, "title": "Not found", "detail": "no"})

    http = httpx.Client(base_url="http://dc", transport=httpx.MockTransport(handler))
    return DataCoreClient("http://dc", "t", http=http), seen


def test_unescape_cell_takes_off_only_the_exports_quote() -> None:
    assert unescape_cell("'=HYPERLINK(1)") == "=HYPERLINK(1)" and unescape_cell("'-2+3") == "-2+3"
    assert unescape_cell("'plain") == "'plain" and unescape_cell("'") == "'" and unescape_cell(5) == 5


def test_residuals_are_read_in_kwh_with_meter_names_as_stored() -> None:
    dc, seen = fake(residuals_csv(hours=3, meter="'=SUM(A1)"))
    frame = read_residuals(dc, ["b1", "b2"], START, END, ["electricity"])
    assert list(frame.columns) == RESIDUAL_COLUMNS and len(frame) == 3
    assert set(frame["meter"]) == {"=SUM(A1)"} and frame["actual"].tolist() == [20.0] * 3
    assert frame["timestamp"].dt.tz is not None and frame["model_version"].tolist() == ["3"] * 3
    params = seen[0].url.params
    assert params.get_list("site") == ["b1", "b2"] and params.get_list("activity_type") == ["electricity"]
    assert params["format"] == "csv" and utc(params["start"]) == START and utc(params["end"]) == END


def test_no_residuals_is_an_empty_frame_and_no_emissions_request() -> None:
    dc, seen = fake(HEADER)
    assert read_residuals(dc, ["b1"], START, END).columns.tolist() == RESIDUAL_COLUMNS
    result = scan_sites(dc, ["b1"], START, END)
    assert result == {"rows": 0, "series": 0, "hotspots": [], "skipped": []}
    assert [r.url.path for r in seen] == ["/api/v1/residuals", "/api/v1/residuals"]


def test_extent_and_emission_totals() -> None:
    dc, seen = fake(HEADER, totals=[["b1", "electricity", 100.0, 7, 0.1]])
    assert extent(dc) == (utc("2020-01-01"), None, ["b1", "b2"])
    kg = emissions_by(dc, ["b1"], START, END, "site,activity_type")
    assert kg.to_dict("records") == [{"site": "b1", "activity_type": "electricity", "kg_co2e": 100.0}]
    assert seen[-1].url.params["group_by"] == "site,activity_type"


def test_intensity_is_the_windows_kg_over_its_kwh() -> None:
    residuals = pd.DataFrame({"site": ["b1", "b1", "b2"], "activity_type": ["electricity"] * 3,
                              "actual": [10.0, 30.0, 0.0]})
    kg = pd.DataFrame({"site": ["b1", "b2"], "activity_type": ["electricity"] * 2, "kg_co2e": [8.0, 1.0]})
    out = with_intensity(residuals, kg)
    assert out["kg_per_kwh"].iloc[:2].tolist() == [0.2, 0.2] and np.isnan(out["kg_per_kwh"].iloc[2])


def test_a_scan_finds_sustained_excess_with_its_emissions() -> None:
    dc, _ = fake(residuals_csv(excess=(100, 130)), totals=[["b1", "electricity", 1000.0, 168, 1.0]])
    result = scan_sites(dc, ["b1"], START, END)
    assert result["rows"] == 7 * 24 and result["series"] == 1
    found = [h for h in result["hotspots"] if h["kind"] == "above_expected"]
    assert len(found) == 1 and found[0]["excess_kwh"] > 0 and found[0]["excess_kg"] > 0
    assert found[0]["model_version"] == "3" and json.dumps(result)  # JSON as the engine takes it


def test_a_refused_read_is_the_data_cores_problem() -> None:
    dc, _ = fake(HEADER, status=422)
    with pytest.raises(UpstreamProblem) as caught:
        read_residuals(dc, ["b1"], START, END)
    assert caught.value.status == 422 and caught.value.extensions["field"] == "end"

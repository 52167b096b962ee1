"""One hotspot scan of a set of sites over a window, as plain functions over the data core's client.

The Prefect flow ``hotspot-scan`` calls these per chunk of sites; the orchestration engine's event path
calls them for the sites of one ingest. Reading: actual against expected per hour, in kWh as the data core
serves them (``GET /api/v1/residuals?format=csv``) and the emissions of the same window
(``GET /api/v1/emissions/totals``) for the kg CO2e per kWh of each site and activity type, which turns
excess energy into excess emissions. Detection is :mod:`services.lib.hotspots.detect`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pandas as pd

from services.common.contracts import unescape_cell
from services.common.datacore import DataCoreClient, window_params
from services.lib.hotspots.config import DetectionConfig
from services.lib.hotspots.detect import detect
from services.lib.hotspots.pareto import pareto

RESIDUAL_COLUMNS = ["site", "meter", "activity_type", "timestamp", "actual", "expected", "lower", "upper",
                    "model_version"]

def utc(value: datetime | str | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def extent(dc: DataCoreClient) -> tuple[pd.Timestamp | None, pd.Timestamp | None, list[str]]:
    """First and last hour of hourly readings in the data core and the sites that have them."""
    body = dc.extent()
    first = utc(body["first"]) if body["first"] else None
    last = utc(body["last"]) if body["last"] else None
    return first, last, list(body["sites"])


def read_residuals(dc: DataCoreClient, sites: list[str], start: pd.Timestamp, end: pd.Timestamp,
                   activity_types: list[str] | None = None) -> pd.DataFrame:
    """Actual, expected and interval per (site, meter, activity type, hour), in kWh (the data core's unit)."""
    frame = dc.csv("/api/v1/residuals", window_params(sites, activity_types or [], start, end),
                   dtype={"site": str, "meter": str, "model_version": str}, keep_default_na=False,
                   na_values={"expected": [""], "lower": [""], "upper": [""], "actual": [""], "model_version": [""]})
    if frame.empty:
        return pd.DataFrame(columns=RESIDUAL_COLUMNS)
    frame["meter"] = frame["meter"].map(unescape_cell)  # the export quotes names a spreadsheet would run
    out = frame.assign(timestamp=pd.to_datetime(frame["period_start"], utc=True))
    out["model_version"] = out["model_version"].astype(object).where(out["model_version"].notna(), None)
    return out[RESIDUAL_COLUMNS]


def emissions_by(dc: DataCoreClient, sites: Iterable[str], start: pd.Timestamp, end: pd.Timestamp,
                 group_by: str) -> pd.DataFrame:
    rows = dc.emissions("totals", window_params(sites, (), start, end, group_by=group_by))["rows"]
    columns = [*group_by.split(","), "kg_co2e"]
    return pd.DataFrame(rows, columns=[*columns, "rows", "t_co2e"])[columns]


def with_intensity(residuals: pd.DataFrame, kg: pd.DataFrame) -> pd.DataFrame:
    """Add ``kg_per_kwh`` per (site, activity type): the window's emissions over its metered kWh."""
    if residuals.empty:
        return residuals.assign(kg_per_kwh=pd.Series(dtype=float))
    kwh = residuals.groupby(["site", "activity_type"], as_index=False)["actual"].sum()
    both = kwh.merge(kg, left_on=["site", "activity_type"], right_on=["site", "activity_type"], how="left")
    both["kg_per_kwh"] = (both["kg_co2e"] / both["actual"]).where(both["actual"] > 0)
    return residuals.merge(both[["site", "activity_type", "kg_per_kwh"]], on=["site", "activity_type"], how="left")


def scan_sites(dc: DataCoreClient, sites: list[str], start: pd.Timestamp, end: pd.Timestamp, *,
               as_of: pd.Timestamp | None = None, config: DetectionConfig | None = None,
               activity_types: list[str] | None = None) -> dict[str, Any]:
    """Hotspots of these sites in [start, end): the JSON the orchestration engine takes."""
    residuals = read_residuals(dc, sites, start, end, activity_types)
    kg = emissions_by(dc, sites, start, end, "site,activity_type") if not residuals.empty else \
        pd.DataFrame(columns=["site", "activity_type", "kg_co2e"])
    frame = with_intensity(residuals, kg)
    found = detect(frame, as_of=as_of or end, config=config or DetectionConfig())
    return {"rows": len(frame), "series": int(frame.groupby(["site", "meter", "activity_type"]).ngroups)
            if not frame.empty else 0, "hotspots": [h.to_dict() for h in found]}


def pareto_hotspots(dc: DataCoreClient, start: pd.Timestamp, end: pd.Timestamp) -> list[dict[str, Any]]:
    """The (site, category) pairs making up 80 % of emissions in [start, end) and the ones that grew
    most against the period of the same length before."""
    previous_start = start - (end - start)
    current = emissions_by(dc, [], start, end, "site,category").rename(columns={"kg_co2e": "kg"})
    previous = emissions_by(dc, [], previous_start, start, "site,category").rename(columns={"kg_co2e": "kg"})
    found = pareto(current, previous if not previous.empty else None, period_start=start.to_pydatetime(),
                   period_end=end.to_pydatetime())
    return [h.to_dict() for h in found]

"""One hotspot scan of a set of sites over a window, as plain functions over the data core's HTTP API.

The Prefect flow ``hotspot-scan`` calls these per chunk of sites; the orchestration engine's event path
calls them for the sites of one ingest. Reading: actual against expected per hour
(``GET /api/v1/residuals?format=csv``, converted to kWh with pint) and the emissions of the same window
(``GET /api/v1/emissions/totals``) for the kg CO2e per kWh of each site and activity type, which turns
excess energy into excess emissions. Detection is :mod:`services.hotspots.detect`.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import httpx
import pandas as pd

from services.data_core.exports import unescape_cell
from services.data_core.units import conversion_factor
from services.hotspots.detect import DetectionConfig, detect, pareto

RESIDUAL_COLUMNS = ["site", "meter", "activity_type", "timestamp", "actual", "expected", "lower", "upper",
                    "model_version"]


def client(base_url: str, token: str, timeout: float = 300.0) -> httpx.Client:
    """An HTTP client of one of the platform's services that sends ``token`` (the API_TOKEN) on every
    request, reads included."""
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout,
                        trust_env=False)


def utc(value: datetime | str | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _params(sites: Iterable[str], start: pd.Timestamp, end: pd.Timestamp, **extra: Any) -> list[tuple[str, Any]]:
    params: list[tuple[str, Any]] = [("start", start.isoformat()), ("end", end.isoformat())]
    params.extend(("site", s) for s in sites)
    params.extend(extra.items())
    return params


def extent(dc: httpx.Client) -> tuple[pd.Timestamp | None, pd.Timestamp | None, list[str]]:
    """First and last hour of hourly readings in the data core and the sites that have them."""
    response = dc.get("/api/v1/readings/extent")
    response.raise_for_status()
    body = response.json()
    first = utc(body["first"]) if body["first"] else None
    last = utc(body["last"]) if body["last"] else None
    return first, last, list(body["sites"])


def read_residuals(dc: httpx.Client, sites: list[str], start: pd.Timestamp, end: pd.Timestamp,
                   activity_types: list[str] | None = None) -> pd.DataFrame:
    """Actual, expected and interval per (site, meter, activity type, hour), in kWh."""
    params = _params(sites, start, end, format="csv")
    params.extend(("activity_type", t) for t in activity_types or [])
    response = dc.get("/api/v1/residuals", params=params)
    response.raise_for_status()
    frame = pd.read_csv(io.BytesIO(response.content), dtype={"site": str, "meter": str, "model_version": str},
                        keep_default_na=False, na_values={"expected": [""], "lower": [""], "upper": [""],
                                                          "actual": [""], "model_version": [""]})
    if frame.empty:
        return pd.DataFrame(columns=RESIDUAL_COLUMNS)
    frame["meter"] = frame["meter"].map(unescape_cell)  # the export quotes names a spreadsheet would run
    factors = {u: conversion_factor(str(u), "kWh") for u in frame["unit"].unique()}
    scale = frame["unit"].map(factors).astype(float)
    out = frame.assign(timestamp=pd.to_datetime(frame["period_start"], utc=True),
                       actual=frame["actual"] * scale)
    # expected values are stored in kWh by the predict flow
    out["model_version"] = out["model_version"].astype(object).where(out["model_version"].notna(), None)
    return out[RESIDUAL_COLUMNS]


def emissions_by(dc: httpx.Client, sites: list[str], start: pd.Timestamp, end: pd.Timestamp,
                 group_by: str) -> pd.DataFrame:
    response = dc.get("/api/v1/emissions/totals", params=_params(sites, start, end, group_by=group_by))
    response.raise_for_status()
    rows = response.json()["rows"]
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


def scan_sites(dc: httpx.Client, sites: list[str], start: pd.Timestamp, end: pd.Timestamp, *,
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


def pareto_hotspots(dc: httpx.Client, start: pd.Timestamp, end: pd.Timestamp) -> list[dict[str, Any]]:
    """The (site, category) pairs making up 80 % of emissions in [start, end) and the ones that grew
    most against the period of the same length before."""
    previous_start = start - (end - start)
    current = emissions_by(dc, [], start, end, "site,category").rename(columns={"kg_co2e": "kg"})
    previous = emissions_by(dc, [], previous_start, start, "site,category").rename(columns={"kg_co2e": "kg"})
    found = pareto(current, previous if not previous.empty else None, period_start=start.to_pydatetime(),
                   period_end=end.to_pydatetime())
    return [h.to_dict() for h in found]

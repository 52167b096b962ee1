"""Gold answers of the free-form questions that rest on consumption (energy, demand, energy intensity),
computed from the raw files only: the Cambridge archive's wide hourly CSVs, its building metadata and the
demo's activity samples. Nothing here reads the platform, so a platform bug cannot move the gold.

Conventions (fixed with the questions, before the parser was changed):
* Periods are UTC, half-open: "March 2019" = [2019-03-01, 2019-04-01); a day range "a..b" includes b.
  An hourly reading belongs to the period of its start hour.
* A reading longer than the period asked about (the US office's annual electricity bill) is prorated by
  time (as ``/readings?prorate=true`` does); one inside the period counts whole.
* "all" = every site of the organisation that has the activity; "tag:<tag>" = the sites the demo gives that tag
  (``demo_sites``: university and cambridge = the 40 buildings, floors:<n>, fleet, office) that have the activity.
  (Fixed with the held-out set: "tag:university" had left out b35's gas, which is billed, not hourly.)
* Demand: average kW = mean of the hourly kWh over the hours with a reading; peak kW = their maximum.
* Energy intensity: kWh / gross internal area (m2) of the building metadata.
* A meter billed monthly: the demo sends b35's gas as calendar-month (UTC) bills, each the sum of the month's
  hourly readings of the archive (``services.data_core.demo.BILLED``, issue #17). Its gold is therefore those
  bills, computed here from the archive, and prorated by time like any reading longer than the period asked
  (the rule above); it has no hourly demand. (Fixed after the first scored runs: the gold took b35's hours,
  against its own proration rule, for sub-month periods of the whole estate's gas.)
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

from services.data_core.demo import BILLED, demo_sites  # which meter the demo bills monthly; the sites' tags

REPO = Path(__file__).resolve().parents[3]
BUILDINGS = REPO / "data" / "buildings_cambridge"
SAMPLES = [REPO / "data" / "demo" / "gb_sample.csv", REPO / "data" / "demo" / "us_sample.csv"]
CARRIERS = {"electricity": "electricity", "natural_gas": "gas"}
UNITS = {"kWh": 1.0, "MWh": 1e-3, "GWh": 1e-6}


@cache
def archive(activity: str) -> pd.DataFrame:
    """Wide hourly kWh of the archive (index = UTC hour start, one column per building) of 2019-2020."""
    frames = [pd.read_csv(BUILDINGS / f"{CARRIERS[activity]}_hourly_kwh_{y}.csv", index_col="datetime_utc",
                          parse_dates=True) for y in (2019, 2020)]
    return pd.concat(frames).sort_index()


@cache
def hourly(activity: str) -> pd.DataFrame:
    """The archive's hourly kWh as the demo sends them: the billed building's column left out (its bills are in
    :func:`long_readings`)."""
    wide = archive(activity)
    billed = BILLED[0] if BILLED[1] == CARRIERS[activity] else None
    return wide.drop(columns=[billed]) if billed in wide.columns else wide


def bills(activity: str) -> pd.DataFrame:
    """The billed building's calendar-month (UTC) bills from the archive: site, start, end, kwh."""
    series = archive(activity)[BILLED[0]].dropna()
    per_month = series.groupby(series.index.to_period("M")).sum()
    start = per_month.index.to_timestamp()
    return pd.DataFrame({"site": BILLED[0], "start": start, "end": (per_month.index + 1).to_timestamp(),
                         "kwh": per_month.to_numpy(float)})


@cache
def long_readings(activity: str) -> pd.DataFrame:
    """Readings that are not hourly (the samples), with start and end: site, start, end, kwh."""
    rows = []
    for path in SAMPLES:
        df = pd.read_csv(path, dtype=str)
        df = df[(df["activity_type"] == activity) & (df["unit"] == "kWh")]
        for period in df["period"].unique():
            p = pd.Period(period.replace("-Q", "Q") if "-Q" in period else period)
            sub = df[df["period"] == period]
            rows.append(pd.DataFrame({"site": sub["site"], "start": p.start_time, "end": p.end_time.ceil("h"),
                                      "kwh": sub["quantity"].astype(float)}))
    if BILLED[1] == CARRIERS[activity]:
        rows.append(bills(activity))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["site", "start", "end", "kwh"])


def period_bounds(period: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    if ".." in period:
        a, b = period.split("..")
        return pd.Timestamp(a), pd.Timestamp(b) + pd.Timedelta(days=1)
    p = pd.Period(period.replace("-Q", "Q"))
    return p.start_time, (p + 1).start_time


@cache
def areas() -> dict[str, float]:
    meta = pd.read_csv(BUILDINGS / "building_metadata.csv")
    return dict(zip(meta["building_id"], meta["gross_internal_area_m2"], strict=True))


def sites_of(spec: Any, activity: str) -> list[str]:
    """The sites of a ``sites`` spec that have readings of ``activity``: "all", "tag:<tag>" (the tags the demo gives
    its sites: university, cambridge, floors:<n>, fleet, office) or a list."""
    cambridge = [c for c in hourly(activity).columns]
    billed = sorted(set(long_readings(activity)["site"]) - set(cambridge))
    if spec == "all":
        return cambridge + billed
    if isinstance(spec, str) and spec.startswith("tag:"):
        tag = spec.split(":", 1)[1]
        return [str(s["id"]) for s in demo_sites() if tag in s["tags"]  # type: ignore[operator]
                and s["id"] in set(cambridge) | set(billed)]
    return list(spec)


def energy_by_site(activity: str, sites: list[str], period: str) -> pd.Series:
    """kWh per site in the period (hourly readings whole, longer readings prorated by time)."""
    start, end = period_bounds(period)
    wide = hourly(activity)
    in_period = wide.loc[(wide.index >= start) & (wide.index < end)]
    out = in_period.reindex(columns=[s for s in sites if s in wide.columns]).sum(min_count=1)
    longr = long_readings(activity)
    longr = longr[longr["site"].isin(sites)]
    if not longr.empty:
        overlap = (longr["end"].clip(upper=end) - longr["start"].clip(lower=start)).dt.total_seconds().clip(lower=0)
        share = overlap / (longr["end"] - longr["start"]).dt.total_seconds()
        extra = (longr["kwh"] * share).groupby(longr["site"]).sum()
        out = out.add(extra[extra > 0], fill_value=0.0)
    return out.dropna()


def demand(activity: str, site: str, period: str, stat: str) -> float:
    start, end = period_bounds(period)
    series = hourly(activity)[site]
    series = series[(series.index >= start) & (series.index < end)].dropna()
    return float(series.max() if stat == "peak" else series.mean())


def gold(want: dict[str, Any]) -> Any:
    """The gold of one consumption question (None if its gold rests on the ledger, not on raw files)."""
    answer = want.get("answer", "value")
    measure = want.get("measure")
    if measure not in ("energy", "demand", "intensity") or (measure == "intensity" and want.get("of") != "energy"):
        return None
    activity = want["activity"]
    scale = UNITS.get(want.get("unit", "kWh"), 1.0)
    if measure == "demand":
        return demand(activity, want["sites"][0], want["period"], want["stat"])
    sites = sites_of(want["sites"], activity)
    if answer == "compare":
        periods = want["period"] if isinstance(want["period"], list) else [want["period"]]
        if len(periods) == 2:
            a, b = (energy_by_site(activity, sites, p).sum() * scale for p in periods)
            return {"values": [a, b], "change_pct": (b - a) / a * 100.0}
        values = energy_by_site(activity, sites, periods[0]) * scale
        return {"values": [float(values.get(s, float("nan"))) for s in sites]}
    if answer == "rank":
        ranked = energy_by_site(activity, sites, want["period"]).sort_values(ascending=want["order"] == "bottom")
        return [(s, float(v) * scale) for s, v in ranked.head(want["n"]).items()]
    if answer == "breakdown":
        if want["by"] == "site":
            return {s: float(v) * scale for s, v in energy_by_site(activity, sites, want["period"]).items()}
        freq = {"month": "M", "quarter": "Q"}[want["by"]]
        start, end = period_bounds(want["period"])
        parts = pd.period_range(start, end - pd.Timedelta(hours=1), freq=freq)
        return {str(p): float(energy_by_site(activity, sites, str(p)).sum()) * scale for p in parts}
    total = float(energy_by_site(activity, sites, want["period"]).sum())
    if measure == "intensity":
        return total / areas()[sites[0]]
    return total * scale

"""Prefect flow ``fit-reference``: fit and store the reference (M&V) baseline of every hourly series of some
sites (issue #18; :mod:`services.lib.hotspots.reference_model`, :mod:`services.lib.hotspots.reference_scan`).

The reference changes only through this flow: an explicit (re-)baseline on a period (``--start``/``--end``),
or ``--pending``: the series whose hotspot a person accepted as the new normal (verdict ``new_normal``) are
refit on ``--days`` days from that hotspot's start. ``hotspot-scan`` then detects lasting faults against it.

    python -m flows.fit_reference --start 2019-01-01 --end 2019-07-01
    python -m flows.fit_reference --pending --days 90
    python -m flows.fit_reference --pending --new-only     # what the daily deployment runs

``--new-only`` fits only the series that have no reference yet (a new site or meter), each on its own first
``--days`` days of readings; a stored reference is never touched by it, so the schedule cannot move one.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

import pandas as pd
from prefect import flow

from flows.common import run_logger, service_client
from services.lib.hotspots.reference_scan import fit_references
from services.lib.hotspots.scan import extent, read_residuals, utc


@flow(name="fit-reference", log_prints=True)
def fit_reference(start: datetime | None = None, end: datetime | None = None, sites: list[str] | None = None,
                  pending: bool = False, days: int = 90, new_only: bool = False) -> dict[str, Any]:
    """Fit the reference of ``sites`` (all with hourly readings when empty) on [start, end) (default: the
    first ``days`` days of readings), or with ``pending`` the series waiting for a re-baseline, or with
    ``new_only`` the series without a reference (each on its own first ``days`` days)."""
    log = run_logger()
    stored: list[dict[str, Any]] = []
    with service_client("data_core") as dc:
        first, last, all_sites = extent(dc)
        if first is None or last is None:
            print("fit-reference: no hourly readings")
            return {"stored": 0, "series": []}
        if pending:
            waiting = [b for b in dc.get("/api/v1/reference-baselines", params=[("site", s) for s in sites or []])
                       ["baselines"] if b["rebaseline_from"]]
            for b in waiting:
                t0 = utc(b["rebaseline_from"])
                t1 = min(t0 + pd.Timedelta(days=days), last + pd.Timedelta(hours=1))
                rows = read_residuals(dc, [b["site"]], t0, t1, [b["activity_type"]])
                rows = rows[rows["meter"] == b["meter"]]
                stored += fit_references(dc, rows, t0, t1, reason="new_normal")
        if new_only:
            stored += _fit_new(dc, sites or all_sites, first, last, days)
        elif not pending:
            t0 = utc(start) if start else first
            t1 = utc(end) if end else min(t0 + pd.Timedelta(days=days), last + pd.Timedelta(hours=1))
            for site in sites or all_sites:  # one site at a time: memory stays one site's period
                stored += fit_references(dc, read_residuals(dc, [site], t0, t1), t0, t1,
                                         reason="rebaseline" if start else "initial")
    series = [f"{b['site']}/{b['meter']}/{b['activity_type']}" for b in stored]
    log.info("fit-reference: %d series stored", len(series))
    print(f"fit-reference: {len(series)} reference baselines stored")
    return {"stored": len(series), "series": series}


def _fit_new(dc: Any, sites: list[str], first: pd.Timestamp, last: pd.Timestamp, days: int) -> list[dict[str, Any]]:
    """The series of ``sites`` without a stored reference, each fit on its first ``days`` days (one site read at a
    time; a series with less than that is fit once it has them, on a later run)."""
    known = {(b["site"], b["meter"], b["activity_type"])
             for b in dc.get("/api/v1/reference-baselines", params=[("site", s) for s in sites])["baselines"]}
    stored: list[dict[str, Any]] = []
    for site in sites:
        rows = read_residuals(dc, [site], first, last + pd.Timedelta(hours=1))
        if rows.empty:
            continue
        series = pd.MultiIndex.from_frame(rows[["site", "meter", "activity_type"]].astype(str))
        rows = rows[~series.isin(list(known))] if known else rows
        for (_s, _m, _a), grp in rows.groupby(["site", "meter", "activity_type"], sort=True):
            t0 = grp["timestamp"].min()
            t1 = t0 + pd.Timedelta(days=days)
            if grp["timestamp"].max() < t1 - pd.Timedelta(hours=1):
                continue  # not yet `days` days of readings: a later run fits it
            stored += fit_references(dc, grp[grp["timestamp"] < t1], t0, t1, reason="initial")
    return stored


def main() -> None:
    parser = argparse.ArgumentParser(description="Fit and store reference (M&V) baselines.")
    parser.add_argument("--start")
    parser.add_argument("--end")
    parser.add_argument("--site", action="append")
    parser.add_argument("--pending", action="store_true")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--new-only", action="store_true")
    args = parser.parse_args()
    print(json.dumps(fit_reference(start=args.start, end=args.end, sites=args.site, pending=args.pending,
                                   days=args.days, new_only=args.new_only), default=str))


if __name__ == "__main__":
    main()

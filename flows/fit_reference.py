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
from services.common.datacore import window_params
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


KEYS = ["site", "meter", "activity_type"]
HOUR, DAY = pd.Timedelta(hours=1), pd.Timedelta(days=1)


def _fit_new(dc: Any, sites: list[str], first: pd.Timestamp, last: pd.Timestamp, days: int) -> list[dict[str, Any]]:
    """The series of ``sites`` without a stored reference, each fit on its first ``days`` days; a series with
    less than that is fit once it has them, on a later run.

    One site at a time, and only windows of it are read (``start``/``end`` of ``/residuals``), never its whole
    history: its first hour (one row), its first ``days`` days from there and its last day (the series
    reporting now). More only for an unknown series that starts later than that first window: the rest of its
    first ``days`` days, or, for one first seen in the last day, one-day looks back in steps of ``days`` days
    to the step it began in, then that step and the ``days`` days after it (:func:`_later_windows`)."""
    known = {(b["site"], b["meter"], b["activity_type"])
             for b in dc.get("/api/v1/reference-baselines", params=[("site", s) for s in sites])["baselines"]}
    end, span = last + HOUR, pd.Timedelta(days=days)
    stored: list[dict[str, Any]] = []
    for site in sites:
        t0 = _first_hour(dc, site, first, end)
        if t0 is None or t0 + span > end:
            continue  # no readings, or fewer than `days` days of them
        rows = _unknown(read_residuals(dc, [site], t0, t0 + span), known)
        starts = rows.groupby(KEYS)["timestamp"].min()
        late = starts[(starts > t0) & (starts + span <= end)]  # their first days reach past the window read
        windows = [(t0 + span, late.max() + span, sorted(set(late.index.get_level_values("activity_type"))))] \
            if len(late) else []
        if t0 + span < end:
            now = _unknown(read_residuals(dc, [site], max(t0 + span, end - DAY), end), known)
            windows += _later_windows(dc, site, set(_series(now)) - set(starts.index), t0 + span, end, span, known)
        for w0, w1, types in windows:
            rows = pd.concat([rows, _unknown(read_residuals(dc, [site], w0, w1, types), known)], ignore_index=True)
        for (_s, _m, _a), grp in rows.groupby(KEYS, sort=True):
            g0 = grp["timestamp"].min()
            g1 = g0 + span
            if grp["timestamp"].max() < g1 - HOUR:
                continue  # not yet `days` days of readings: a later run fits it
            stored += fit_references(dc, grp[grp["timestamp"] < g1], g0, g1, reason="initial")
    return stored


def _later_windows(dc: Any, site: str, series: set[tuple[str, str, str]], floor: pd.Timestamp, end: pd.Timestamp,
                   span: pd.Timedelta, known: set[tuple[str, str, str]]) -> list[tuple[Any, Any, list[str]]]:
    """Windows that hold the first ``span`` of ``series`` (unknown series reporting now that began after
    ``floor``): a one-day look at ``end - k * span`` (k = 1, 2, ...) tells which are still there; one that was
    there at step k - 1 but not at step k began between them, and is read from step k to ``span`` after
    step k - 1 (a series not there at step 1 is younger than ``span``: not read)."""
    out: list[tuple[Any, Any, list[str]]] = []
    here, k = set(series), 1
    while here:
        at = end - k * span
        seen = set() if at < floor else set(_series(_unknown(
            read_residuals(dc, [site], at, at + DAY, sorted({a for (_s, _m, a) in here})), known)))
        began = here - seen
        if k > 1 and began:
            out.append((max(at, floor), at + 2 * span, sorted({a for (_s, _m, a) in began})))
        here, k = here & seen, k + 1
    return out


def _first_hour(dc: Any, site: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.Timestamp | None:
    """The first hour of ``site`` with a residual (the answer's first row: it is ordered by hour)."""
    frame = dc.csv("/api/v1/residuals", window_params([site], [], start, end, limit=1), usecols=["period_start"])
    return None if frame.empty else utc(frame["period_start"].iloc[0])


def _series(rows: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_frame(rows[KEYS].astype(str))


def _unknown(rows: pd.DataFrame, known: set[tuple[str, str, str]]) -> pd.DataFrame:
    """The rows of the series without a stored reference."""
    return rows[~_series(rows).isin(list(known))] if known and len(rows) else rows


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

"""Prefect flow ``monthly-bills``: expected values and hotspots of meters billed monthly.

A bill is a reading of 20 days or more (a monthly or quarterly bill; the hourly grid never sees it). For each
(site, meter, activity type) with bills:

1. the site's station weather (``GET /api/v1/sites/{id}/weather``) gives hourly temperature; each bill is
   judged by the degree-day model (2P, 3PH, 3PC, 5P change-point models of ASHRAE Guideline 14, the
   whole-facility model of IPMVP Option C) fitted on the meter's bills of the year before it
   (:mod:`services.lib.expected.bills`), with a 99 % prediction interval (the level chosen on
   ``bench/monthly.py``'s tune split). A site without weather gets the 2P model (its mean daily use) and says so;
2. the expected values, intervals and models are stored in the data core (``PUT /api/v1/bills/expected``);
3. each bill above its interval is an ``above_expected`` hotspot (:func:`services.lib.hotspots.monthly.bill_hotspots`)
   that goes to the orchestration engine (``POST /api/v1/results``) as hotspot-scan's do: stored as an episode
   of that bill, alerts raised by the rules, broadcast; re-running changes nothing (``unchanged``).

A site whose bills or weather cannot be read or whose bills cannot be fitted is skipped and reported (the run's
``skipped``, the artifact ``monthly-bills-skipped``, a warning in the log); the rest of the run completes. A
service that is down fails the run after the tasks' retries, and so does a run in which every site was skipped.

    python -m flows.monthly_bills --site b7
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.common import SERVICE_RETRIES, EverySiteSkipped, report_skips, service_client
from services.lib.expected.bills import LEVEL, judge_bills
from services.lib.hotspots.monthly import bill_hotspots


@task(name="bill-sites", cache_policy=NO_CACHE, **SERVICE_RETRIES)
def bill_sites(sites: list[str] | None) -> list[str]:
    """The sites with bills (of ``sites`` when given)."""
    with service_client("data_core") as dc:
        return sorted({b["site"] for b in dc.bills(sites or [])})


@task(name="judge-bills", cache_policy=NO_CACHE, **SERVICE_RETRIES)
def judge_chunk(sites: list[str], level: float) -> dict[str, Any]:
    """Judge and store the bills of a chunk of sites; their hotspots as JSON."""
    with service_client("data_core") as dc:
        judged = judge_bills(dc, sites, level=level)
    hotspots = [h.model_dump(mode="json") for h in bill_hotspots(judged["rows"], level=level)]
    return {"sites": sites, "bills": judged["bills"], "meters": judged["meters"], "stored": judged["stored"],
            "judged": sum(r["expected"] is not None for r in judged["rows"]), "hotspots": hotspots,
            "skipped": judged["skipped"]}


@task(name="publish-bill-hotspots", cache_policy=NO_CACHE, **SERVICE_RETRIES)
def publish(body: dict[str, Any]) -> dict[str, Any]:
    with service_client("orchestration") as oe:
        return dict(oe.post("/api/v1/results", json=body))


@flow(name="monthly-bills", log_prints=True)
def monthly_bills(sites: list[str] | None = None, chunk_size: int = 25, level: float = LEVEL) -> dict[str, Any]:
    """Judge the bills of ``sites`` (default: every site with bills), store their expected values and publish
    the bills above their interval as hotspots."""
    if chunk_size < 1 or not 0 < level < 1:
        raise ValueError("chunk_size must be at least 1 and level in (0, 1)")
    site_list = bill_sites(sites)
    summary: dict[str, Any] = {"sites": len(site_list), "meters": 0, "bills": 0, "judged": 0, "stored": 0,
                               "hotspots": 0, "alerts_raised": 0, "level": level,
                               "counts": {"created": 0, "updated": 0, "closed": 0, "unchanged": 0}, "skipped": []}
    if not site_list:
        print("monthly-bills: no site has bills")
        report_skips([], key="monthly-bills-skipped", what="monthly-bills")
        return summary
    found: list[dict[str, Any]] = []
    for i in range(0, len(site_list), chunk_size):  # a chunk of sites is a few hundred bills: one task each
        result = judge_chunk(site_list[i : i + chunk_size], level)
        for key in ("meters", "bills", "judged", "stored"):
            summary[key] += result[key]
        summary["skipped"].extend(result["skipped"])
        if result["hotspots"]:
            # a bill's episode is over when the bill is: stored closed, so no hourly scan closes or continues it
            outcome = publish({"scan_id": f"bills:{result['sites'][0]}", "hotspots": result["hotspots"],
                               "scope": {"sites": result["sites"], "kinds": ["above_expected"],
                                         "close_missing": False}})
            for key, value in outcome["counts"].items():
                summary["counts"][key] = summary["counts"].get(key, 0) + value
            summary["alerts_raised"] += outcome["alerts"]["created"]
            found.extend(result["hotspots"])
    summary["hotspots"] = len(found)
    report_skips(summary["skipped"], key="monthly-bills-skipped", what="monthly-bills")
    if summary["skipped"] and summary["stored"] == 0 and set(site_list) <= {s["site"] for s in summary["skipped"]}:
        first = summary["skipped"][0]
        raise EverySiteSkipped(f"monthly-bills: every site was skipped ({len(site_list)}); first: {first['site']} "
                               f"at {first['stage']}: {first['reason']}")
    _artifact(found, summary)
    print(f"monthly-bills: {summary['sites']} sites, {summary['meters']} meters, {summary['bills']} bills, "
          f"{summary['judged']} judged, {len(found)} above their {level:.0%} interval ({summary['counts']}), "
          f"{summary['alerts_raised']} alerts raised, {len(summary['skipped'])} skipped")
    return summary


def _artifact(found: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    rows = [{"site": h["site"], "meter": h.get("meter") or "", "type": h.get("activity_type") or "",
             "from": h["period_start"], "to": h["period_end"], "severity": h["severity"],
             "actual_kwh": h["evidence"].get("actual_kwh"), "expected_kwh": h["evidence"].get("expected_kwh"),
             "upper_kwh": h["evidence"].get("upper_kwh"), "model": h["evidence"].get("model"),
             "excess_kg": None if h.get("excess_kg") is None else round(h["excess_kg"], 1)} for h in found]
    create_table_artifact(key="monthly-bills", table=rows or [{"result": "no bill above its interval"}],
                          description=f"Bills above their degree-day expectation: {len(found)} of {summary['judged']} "
                                      f"judged ({summary['bills']} bills, {summary['meters']} meters).")


def main() -> None:
    parser = argparse.ArgumentParser(description="Judge monthly bills against their degree-day expectation.")
    parser.add_argument("--site", action="append")
    parser.add_argument("--level", type=float, default=LEVEL)
    args = parser.parse_args()
    print(json.dumps(monthly_bills(sites=args.site, level=args.level), default=str))


if __name__ == "__main__":
    main()

"""Prefect flow ``hotspot-scan``: find hotspots over a window, store and broadcast them, ask for
recommendations.

1. Window: ``lookback_days`` up to ``end`` (default: the last hour of hourly readings in the data core, so
   that a silent meter is judged against the others and historical demo data scans as if live).
2. Expected values of that window are filled first (the ``fill-expected`` flow as a subflow; with the ML
   engine down it retries, then fails: nothing is half-stored and the next run repeats the scan).
3. Sites are split into chunks; each chunk is one task (``scan-chunk``: residuals -> detection, plain
   Python in :mod:`services.lib.hotspots`) on the chosen task runner: threads (default), or a Dask cluster
   with the settings ``TASK_RUNNER=dask`` and ``DASK_ADDRESS`` (unset: a local cluster of 2 worker
   processes); the hotspots are the same either way. How to run a cluster: docs/scale-out.md.
4. Each chunk's hotspots go to the orchestration engine (``POST /api/v1/results``), which stores them
   through the data core (an ongoing episode is updated, one that ended is closed), raises alerts and
   broadcasts. Pareto and growth hotspots of the window follow.
5. Pending recommendation requests (one per new hotspot, queued by the data core) go to the chatbot
   service (``RAG_SERVICE_URL``); while it is absent or down they stay queued for the next run.
6. A table artifact lists the hotspots found.

A site whose data cannot be predicted, read or scanned (a half-hourly file, a reading of infinity or a
negative one in the store, the data core refusing its request) is left out and the rest of its chunk is
scanned as without it: the run returns it in ``skipped`` (site, stage, reason), logs a warning for it and
lists it in the table artifact ``hotspot-scan-skipped``; its open hotspots are not closed by this run. A
service that is down still fails the run (after the tasks' retries), and so does a run in which every site
was skipped.

Re-running on the same data changes nothing: every step is an upsert or an idempotent request.

    python -m flows.hotspot_scan --lookback-days 28
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any, Literal

import pandas as pd
from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.common import (
    SERVICE_RETRIES,
    EverySiteSkipped,
    FlowSettings,
    make_task_runner,
    report_skips,
    run_logger,
    service_client,
)
from flows.predict_expected import fill_expected
from services.common.datacore import DataCoreClient, TokenRefused, UpstreamProblem, seg
from services.lib.hotspots.scan import extent, pareto_hotspots, scan_sites, utc

DETECTED_KINDS = ["above_expected", "spike", "level_shift", "level_shift_up", "level_shift_down", "silent_meter",
                  "stuck_meter"]


@task(name="scan-chunk", cache_policy=NO_CACHE, **SERVICE_RETRIES)
def scan_chunk(sites: list[str], start: str, end: str) -> dict[str, Any]:
    with service_client("data_core") as dc:
        found = scan_sites(dc, sites, utc(start), utc(end), as_of=utc(end))
    return {"sites": sites, **found}


@task(name="publish-hotspots", cache_policy=NO_CACHE, **SERVICE_RETRIES)
def publish(body: dict[str, Any]) -> dict[str, Any]:
    with service_client("orchestration") as oe:
        return dict(oe.post("/api/v1/results", json=body))


@task(name="pareto", cache_policy=NO_CACHE, **SERVICE_RETRIES)
def find_pareto(start: str, end: str) -> list[dict[str, Any]]:
    with service_client("data_core") as dc:
        return pareto_hotspots(dc, utc(start), utc(end))


@task(name="request-recommendations", cache_policy=NO_CACHE)
def request_recommendations(limit: int = 50) -> dict[str, int]:
    """Send queued requests to the chatbot service (``RAG_SERVICE_URL``); each answer is stored and
    broadcast through the orchestration engine. A failure leaves the request queued (with the error and
    attempt count)."""
    out = {"pending": 0, "answered": 0, "failed": 0}
    rag_url = FlowSettings().rag_service_url  # type: ignore[call-arg]
    with service_client("data_core") as dc:
        queue = dc.get("/api/v1/recommendations", {"status": "pending", "limit": limit})["recommendations"]
    out["pending"] = len(queue)
    if not queue or not rag_url:
        if queue:
            run_logger().info("%d recommendation requests queued; RAG_SERVICE_URL is not set", len(queue))
        return out
    with service_client("rag_service", timeout=120.0) as rag, service_client("orchestration") as oe:
        for item in queue:
            hotspot = item["hotspot"]
            body = _ask(rag, hotspot, out)
            oe.post(f"/api/v1/recommendations/{seg(hotspot['id'])}", json=body)
            if body["status"] == "pending":
                break  # the service is down: the rest waits for the next run
    return out


def _ask(rag: DataCoreClient, hotspot: dict[str, Any], out: dict[str, int]) -> dict[str, Any]:
    """The chatbot's answer for one hotspot as the recommendation to store: ready, failed (refused for good:
    unknown site, bad hotspot) or still pending (down, busy or timed out)."""
    try:
        content = rag.post("/api/recommendations", json={"hotspot": hotspot})
    except (UpstreamProblem, TokenRefused) as exc:
        if exc.response.status_code not in (408, 429):
            out["refused"] = out.get("refused", 0) + 1
            return {"status": "failed", "error": f"{exc.response.status_code}: {exc.response.text[:300]}"}
        error: Exception = exc
    except Exception as exc:  # noqa: BLE001 - the chatbot being down keeps the request queued
        error = exc
    else:
        out["answered"] += 1
        return {"status": "ready", "content": content}
    out["failed"] += 1
    return {"status": "pending", "error": f"{type(error).__name__}: {str(error)[:300]}"}


@flow(name="scan-chunks")
def scan_chunks(chunks: list[list[str]], start: str, end: str) -> list[dict[str, Any]]:
    """One task per chunk of sites, on the task runner the parent chose."""
    futures = [scan_chunk.submit(chunk, start, end) for chunk in chunks]
    return [f.result() for f in futures]


def _window(start: datetime | None, end: datetime | None, lookback_days: int,
            sites: list[str] | None) -> tuple[pd.Timestamp, pd.Timestamp, list[str]]:
    with service_client("data_core") as dc:
        first, last, known = extent(dc)
    if end is None:
        end_ts = (last + pd.Timedelta(hours=1)) if last is not None else pd.Timestamp.now(tz="UTC").floor("h")
    else:
        end_ts = utc(end)
    start_ts = utc(start) if start is not None else end_ts - pd.Timedelta(days=lookback_days)
    return start_ts, end_ts, sorted(sites) if sites else known


@flow(name="hotspot-scan", log_prints=True)
def hotspot_scan(start: datetime | None = None, end: datetime | None = None, lookback_days: int = 28,
                 sites: list[str] | None = None, chunk_size: int = 10,
                 task_runner: Literal["thread", "dask"] | None = None, fill_first: bool = True,
                 include_pareto: bool = True) -> dict[str, Any]:
    """Scan ``sites`` (default: every site with hourly readings) over [start, end). The services, the Dask
    scheduler (``task_runner="dask"``: ``DASK_ADDRESS``) and the token come from settings."""
    if chunk_size < 1 or lookback_days < 1:
        raise ValueError("chunk_size and lookback_days must be at least 1")
    start_ts, end_ts, site_list = _window(start, end, lookback_days, sites)
    if end_ts <= start_ts:
        raise ValueError("end must be after start")
    window = {"start": start_ts.isoformat(), "end": end_ts.isoformat()}
    summary: dict[str, Any] = {**window, "sites": len(site_list), "chunks": 0, "rows": 0, "hotspots": 0,
                               "counts": {"created": 0, "updated": 0, "closed": 0, "unchanged": 0},
                               "alerts_raised": 0, "skipped": []}
    if not site_list:
        print("hotspot-scan: no sites with hourly readings")
        return summary
    if fill_first:
        filled = fill_expected(start=start_ts.to_pydatetime(), end=end_ts.to_pydatetime(), sites=sites,
                               max_readings=1_000_000)
        summary["filled"], summary["skipped"] = filled["stored"], list(filled["skipped"])
    chunks = [site_list[i : i + chunk_size] for i in range(0, len(site_list), chunk_size)]
    results = scan_chunks.with_options(task_runner=make_task_runner(task_runner))(chunks, window["start"],
                                                                                  window["end"])
    found: list[dict[str, Any]] = []
    scan_skips: list[dict[str, Any]] = []
    for result in results:
        scan_skips.extend(result["skipped"])
        body = {"scan_id": f"scan:{window['start']}:{window['end']}:{result['sites'][0]}", "hotspots": result["hotspots"],
                "scope": _scope(result, window)}
        _tally(summary, publish(body))
        summary["rows"] += result["rows"]
        found.extend(result["hotspots"])
    summary["chunks"] = len(chunks)
    filled_skips = len(summary["skipped"])  # the fill subflow logged those
    summary["skipped"].extend(scan_skips)
    report_skips(summary["skipped"], key="hotspot-scan-skipped", what="hotspot-scan", logged=filled_skips)
    if scan_skips and summary["rows"] == 0 and set(site_list) <= {s["site"] for s in scan_skips}:
        raise EverySiteSkipped(f"hotspot-scan: every site was skipped ({len(site_list)}); first: "
                               f"{scan_skips[0]['site']} at {scan_skips[0]['stage']}: {scan_skips[0]['reason']}")
    if include_pareto and not sites:
        top = find_pareto(window["start"], window["end"])
        body = {"scan_id": f"pareto:{window['start']}:{window['end']}", "hotspots": top,
                "scope": {"kinds": ["pareto", "growth"], **window, "close_missing": True}}
        _tally(summary, publish(body))
        found.extend(top)
    summary["hotspots"] = len(found)
    summary["recommendations"] = request_recommendations()
    _artifact(found, summary)
    print(f"hotspot-scan {window['start']}..{window['end']}: {len(site_list)} sites in {len(chunks)} chunks, "
          f"{summary['rows']} hourly rows, {len(found)} hotspots ({summary['counts']}), "
          f"{summary['alerts_raised']} alerts raised, {len(summary['skipped'])} skipped")
    return summary


def _scope(result: dict[str, Any], window: dict[str, str]) -> dict[str, Any]:
    """The scope of a chunk's result: its open hotspots that the scan did not find are closed, except those of
    a site it skipped (wholly or one meter: not seen is not gone). With every site of the chunk skipped
    nothing is closed (an empty list of sites would mean every site)."""
    skipped = {s["site"] for s in result["skipped"]}
    seen = [s for s in result["sites"] if s not in skipped]
    return {"sites": seen or result["sites"], "kinds": DETECTED_KINDS, **window, "close_missing": bool(seen)}


def _tally(summary: dict[str, Any], outcome: dict[str, Any]) -> None:
    for key, value in outcome["counts"].items():
        summary["counts"][key] = summary["counts"].get(key, 0) + value
    summary["alerts_raised"] += outcome["alerts"]["created"]


def _artifact(found: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    order = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    rows = [{"kind": h["kind"], "site": h["site"], "meter": h.get("meter") or "", "type": h.get("activity_type") or "",
             "from": h["period_start"], "to": h["period_end"], "ongoing": h.get("ongoing", False),
             "severity": h["severity"], "excess_kwh": round(h.get("excess_kwh") or 0.0, 1),
             "excess_kg": None if h.get("excess_kg") is None else round(h["excess_kg"], 1)}
            for h in sorted(found, key=lambda h: (order.get(h["severity"], 9), -(h.get("excess_kg") or 0.0)))]
    create_table_artifact(key="hotspot-scan", table=rows or [{"result": "no hotspots"}],
                          description=f"Hotspots {summary['start']} .. {summary['end']}: {len(found)} found "
                                      f"({summary['counts']}); {summary['alerts_raised']} alerts raised.")


def main() -> None:
    parser = argparse.ArgumentParser(description="Scan for hotspots and publish them.")
    parser.add_argument("--start")
    parser.add_argument("--end")
    parser.add_argument("--lookback-days", type=int, default=28)
    parser.add_argument("--site", action="append")
    parser.add_argument("--task-runner", choices=["thread", "dask"])
    args = parser.parse_args()
    result = hotspot_scan(start=args.start, end=args.end, lookback_days=args.lookback_days, sites=args.site,
                          task_runner=args.task_runner)
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()

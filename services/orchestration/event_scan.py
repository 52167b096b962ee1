"""The event path: an ingest of hourly readings is judged at once, not at the next scheduled scan.

For the sites and hours of one ``ingestion.committed`` event: fill the expected values of its pending
readings (the expected-value library the predict flow wraps, :mod:`services.lib.expected`, called directly), then scan those sites over the ingested
hours plus ``context`` hours before (sustained rules need the run-up). A bulk load is judged on its last
``max_hours`` only (the scheduled scan covers the rest), which bounds the cost of the event path. The result goes the same way as
a scheduled scan's (``results.store_scan``), except that it does not close hotspots it did not see (the
hourly scan, which sees the whole window, does); an episode it sees end in the new readings is closed.

An ingest that spans at least a bill's length (``BILL_DAYS``: a monthly bill does) also has the bills of its
sites judged against their degree-day expectation (:func:`services.lib.expected.bills.judge_bills`, the
``monthly-bills`` flow's function); the bills it brought (ending after its start) that are above their interval
are hotspots of the same result. The hourly grid never sees a bill, so a bill alone yields no hourly hotspot.

A site of the event whose data cannot be predicted, read or scanned is left out (``skipped``: site, stage,
reason, :class:`~services.common.contracts.SiteSkip`) and logged; the other sites' hotspots are stored and
broadcast as without it. A data core or ML engine that is down still fails the event scan (the scheduled scan
covers it).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import pandas as pd

from services.common.contracts import SiteSkip
from services.common.datacore import DataCoreClient
from services.lib.expected import fill_page, list_pending, new_summary, predict_with, store_with
from services.lib.expected.bills import LEVEL, judge_bills
from services.lib.expected.fill import PAGE
from services.lib.hotspots.monthly import bill_hotspots
from services.lib.hotspots.scan import scan_sites, utc

log = logging.getLogger(__name__)
METERED = ("electricity", "natural_gas")
BILL_DAYS = 20  # the shortest reading that is a bill (GET /api/v1/bills' default min_days)


def targeted_scan(event: dict[str, Any], *, data_core_url: str, ml_engine_url: str, token: str,
                  context_hours: int, max_hours: int = 72) -> dict[str, Any] | None:
    types = [t for t in event.get("activity_types") or [] if t in METERED]
    sites = list(event.get("sites") or [])
    if not types or not sites or not event.get("period_start") or not event.get("period_end"):
        return None
    start, end = utc(event["period_start"]), utc(event["period_end"])
    ingested = start
    start = max(start, end - pd.Timedelta(hours=max_hours))  # a year-long load: its last hours only
    summary = new_summary()
    window_start = start - pd.Timedelta(hours=context_hours)
    # the engine's own addresses and token (its settings); the same functions the flow's tasks wrap
    with DataCoreClient(data_core_url, token) as dc, \
            DataCoreClient(ml_engine_url, token, service="ml-engine") as ml:
        pending = list_pending(dc, start.isoformat(), end.isoformat(), sites, types, PAGE)
        summary["pending"] = len(pending)
        fill_page(pending, summary, predict=partial(predict_with, ml, logger=log), store=partial(store_with, dc))
        found = scan_sites(dc, sites, window_start, end, as_of=end, activity_types=types)
        bills: dict[str, Any] = {"rows": [], "skipped": []}
        if end - ingested >= pd.Timedelta(days=BILL_DAYS):
            bills = judge_bills(dc, sites, activity_types=types)
    hotspots = [h for h in found["hotspots"] if utc(h["period_end"]) > start]
    hotspots += [h.model_dump(mode="json") for h in bill_hotspots(bills["rows"], level=LEVEL)
                 if utc(h.period_end) > ingested]
    skipped = [*summary["skipped"], *found["skipped"], *bills["skipped"]]
    for skip in skipped:
        log.warning("event scan %s: %s skipped at %s: %s", event.get("event_id"),
                    SiteSkip.model_validate(skip).label(), skip["stage"], skip["reason"])
    log.info("event scan", extra={"event_id": event.get("event_id"), "sites": len(sites), "filled": summary["stored"],
                                  "hotspots": len(hotspots), "skipped": len(skipped)})
    return {"scan_id": f"event:{event.get('event_id')}", "hotspots": hotspots,
            "scope": {"sites": sites, "start": window_start.isoformat(), "end": end.isoformat(),
                      "close_missing": False},
            "filled": summary["stored"], "rows": found["rows"], "skipped": skipped}

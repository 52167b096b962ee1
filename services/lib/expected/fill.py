"""Expected values of hourly readings that lack one, as plain functions over the common clients.

:func:`list_pending` asks the data core which hourly readings have no expected value
(``GET /api/v1/predictions/pending``), :func:`predict_with` asks the ML engine for one site's expected values
and intervals (``POST /api/v1/predict``, history from the data core), :func:`store_with` stores them next to
the actuals (``PUT /api/v1/predictions``, an upsert per hour) and :func:`fill_page` does one page of pending
readings with a ``predict`` and a ``store`` callable. The Prefect flow ``fill-expected``
(``flows/predict_expected.py``) passes its retried tasks; the orchestration engine's event path passes these
functions bound to its own clients (``partial(predict_with, ml)``).

Errors are the common client's: :class:`~services.common.errors.ServiceUnavailable` when a service is down
or failing (worth a retry; a refused token too, never retried), :class:`~services.common.datacore.UpstreamProblem`
for a 4xx answer. A failure about one site's data (a 4xx answer about it, an answer that does not fit it:
:func:`~services.common.contracts.site_fault`) leaves that site and activity type out of the page and reports
it in ``summary["skipped"]`` (:class:`~services.common.contracts.SiteSkip`); the rest of the page is filled.
A service that is down fails the page as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pandas as pd

from services.common.contracts import SiteSkip, fault_reason, site_fault
from services.common.datacore import DataCoreClient, UpstreamProblem

PAGE = 100_000  # the data core lists at most this many pending readings per request
PREDICT_CHUNK = 5_000  # timestamps per ML-engine request
STORE_CHUNK = 20_000  # predictions per data-core request
PENDING_COLUMNS = ["site", "meter", "activity_type", "period_start", "quantity", "unit"]

Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]
Predict = Callable[[str, str, list[str]], "dict[str, Any] | None"]
Store = Callable[[str, str, list[dict[str, Any]]], int]

log = logging.getLogger(__name__)


def new_summary() -> dict[str, Any]:
    """The running totals :func:`fill_page` adds to."""
    return {"pending": 0, "stored": 0, "multi_meter_hours": 0, "model_versions": [], "skipped": [],
            "unpredictable": []}


def list_pending(dc: DataCoreClient, start: str | None, end: str | None, sites: list[str],
                 activity_types: list[str], limit: int) -> pd.DataFrame:
    """Hourly readings without an expected value (the data core's ``GET /api/v1/predictions/pending``)."""
    params: list[tuple[str, Any]] = [("limit", limit)]
    params.extend(("activity_type", t) for t in activity_types)
    params.extend(("site", s) for s in sites)
    params.extend((k, v) for k, v in (("start", start), ("end", end)) if v)
    return pd.DataFrame(dc.get("/api/v1/predictions/pending", params)["readings"], columns=PENDING_COLUMNS)


def predict_with(ml: DataCoreClient, site: str, activity_type: str, timestamps: list[str], *,
                 logger: Logger | None = None) -> dict[str, Any] | None:
    """Expected values of one site's hours from the ML engine (a :class:`DataCoreClient` with
    ``service="ml-engine"``). When the ML engine refuses this site's request (a 4xx about it: a site or
    activity type the model does not know, timestamps it cannot take; no retry helps), ``{"refused": reason}``.
    A service that is down, a refused token or a rate limit raise (the task retries or fails)."""
    try:
        answer = ml.post("/api/v1/predict", json={"site": site, "activity_type": activity_type,
                                                  "timestamps": timestamps})
    except UpstreamProblem as exc:
        if not site_fault(exc):
            raise
        (logger or log).info("the ML engine cannot predict %s/%s: %s", site, activity_type, exc.detail)
        return {"refused": fault_reason(exc)}
    return dict(answer)


def store_with(dc: DataCoreClient, model_name: str, model_version: str, rows: list[dict[str, Any]]) -> int:
    """Store expected values (kWh) next to the actuals (``PUT /api/v1/predictions``, an upsert per hour)."""
    stored = 0
    for i in range(0, len(rows), STORE_CHUNK):
        answer = dc.put("/api/v1/predictions", json={"model_name": model_name, "model_version": model_version,
                                                     "unit": "kWh", "predictions": rows[i : i + STORE_CHUNK]})
        stored += int(answer["stored"])
    return stored


def fill_page(pending: pd.DataFrame, summary: dict[str, Any], *, predict: Predict, store: Store) -> int:
    """Predict and store one page of pending readings (a :func:`list_pending` frame); adds to ``summary``
    (:func:`new_summary`) and returns how many expected values were stored. Hours metered by several meters
    of one site are counted and left for review (the model predicts a site's total per hour). A site and
    activity type whose prediction or store fails on its data is left out and added to ``summary["skipped"]``
    (what was stored of it before stays: every store is an upsert); a service that is down raises."""
    if pending.empty:
        return 0
    per_hour = pending.groupby(["site", "activity_type", "period_start"])["meter"].transform("size")
    summary["multi_meter_hours"] += int((per_hour > 1).sum())
    single = pending[per_hour == 1]
    stored = 0
    for (site, activity_type), rows in single.groupby(["site", "activity_type"], sort=True):
        done, skip = _fill_series(str(site), str(activity_type), rows, summary, predict=predict, store=store)
        stored += done
        if skip is not None:
            summary["skipped"].append(skip.model_dump())
    summary["stored"] += stored
    return stored


def _fill_series(site: str, activity_type: str, rows: pd.DataFrame, summary: dict[str, Any], *, predict: Predict,
                 store: Store) -> tuple[int, SiteSkip | None]:
    """One site and activity type of a page: (stored, the skip when its data made a step fail)."""
    stamps = rows["period_start"].tolist()
    meters = dict(zip(rows["period_start"], rows["meter"], strict=True))
    stored = 0
    for i in range(0, len(stamps), PREDICT_CHUNK):
        chunk = stamps[i : i + PREDICT_CHUNK]
        try:
            answer = predict(site, activity_type, chunk)
            if answer is None or "refused" in answer:
                reason = (answer or {}).get("refused") or "the model cannot predict it"
                return stored, SiteSkip.of(site, "predict", reason, activity_type=activity_type)
            pairs = list(zip(chunk, answer["predictions"], strict=True))
            rows_out = [{"site": site, "meter": meters[stamp], "activity_type": activity_type, "period_start": stamp,
                         "expected": p["expected"], "lower": p["lower"], "upper": p["upper"]}
                        for stamp, p in pairs if p.get("expected") is not None]
            _note_unpredictable(summary, site, activity_type, pairs)
            model = answer["model"]
            name, version = str(model["name"]), str(model["version"])
        except Exception as exc:
            if not site_fault(exc):
                raise
            return stored, SiteSkip.of(site, "predict", exc, activity_type=activity_type)
        try:
            stored += store(name, version, rows_out)
        except Exception as exc:
            if not site_fault(exc):
                raise
            return stored, SiteSkip.of(site, "store", exc, activity_type=activity_type)
        if version not in summary["model_versions"]:
            summary["model_versions"].append(version)
    return stored, None


def _note_unpredictable(summary: dict[str, Any], site: str, activity_type: str,
                        pairs: list[tuple[str, dict[str, Any]]]) -> None:
    """Hours the engine answered without an expected value (a new site before it has the history the fleet
    model needs): they stay pending, and the summary says how many, why, and the first hour filled."""
    missing = [(stamp, p) for stamp, p in pairs if p.get("expected") is None]
    if not missing:
        return
    filled = [stamp for stamp, p in pairs if p.get("expected") is not None]
    entry = next((e for e in summary["unpredictable"] if (e["site"], e["activity_type"]) == (site, activity_type)),
                 None)
    if entry is None:
        entry = {"site": site, "activity_type": activity_type, "hours": 0, "first": missing[0][0], "last": "",
                 "reason": missing[0][1].get("reason") or "the model cannot predict these hours yet",
                 "first_filled": None}
        summary["unpredictable"].append(entry)
    entry["hours"] += len(missing)
    entry["last"] = max(entry["last"], missing[-1][0])
    if filled and entry["first_filled"] is None:
        entry["first_filled"] = min(filled)

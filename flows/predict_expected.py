"""Prefect flow ``fill-expected``: the expected value of every hourly reading that lacks one.

Asks the data core which hourly readings have no expected value (``GET /api/v1/predictions/pending``),
asks the ML engine for each site's expected values and intervals (``POST /api/v1/predict``, history from
the data core), and stores them next to the actuals (``PUT /api/v1/predictions``, an upsert per hour).

When the ML engine is down the predict task retries and the run fails; the readings stay pending and the
next run fills them: nothing is lost, and re-running changes nothing that is already filled.

    python -m flows.predict_expected --start 2020-01-01 --end 2020-03-15
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingContextError

from flows.common import SERVICE_RETRIES, service_client

PAGE = 100_000  # the data core lists at most this many pending readings per request


RETRIES = SERVICE_RETRIES
PREDICT_CHUNK = 5_000  # timestamps per ML-engine request
STORE_CHUNK = 20_000   # predictions per data-core request



def run_logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The flow run's logger inside a run; a module logger when the same code runs outside Prefect (the
    orchestration engine's event path calls these functions directly)."""
    try:
        return get_run_logger()  # type: ignore[return-value]
    except MissingContextError:
        return logging.getLogger(__name__)


def _iso(value: datetime | str | None) -> str | None:
    if value is None:
        return None
    ts = pd.Timestamp(value)
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).isoformat()


def list_pending(dc: httpx.Client, start: str | None, end: str | None, sites: list[str], activity_types: list[str],
                 limit: int) -> pd.DataFrame:
    """Hourly readings without an expected value (the data core's ``GET /api/v1/predictions/pending``)."""
    params: list[tuple[str, str | int | float | bool | None]] = [("limit", limit)]
    params.extend(("activity_type", t) for t in activity_types)
    params.extend(("site", s) for s in sites)
    params.extend((k, v) for k, v in (("start", start), ("end", end)) if v)
    response = dc.get("/api/v1/predictions/pending", params=params)
    response.raise_for_status()
    rows = response.json()["readings"]
    return pd.DataFrame(rows, columns=["site", "meter", "activity_type", "period_start", "quantity", "unit"])


def predict_with(ml: httpx.Client, site: str, activity_type: str, timestamps: list[str]) -> dict[str, Any] | None:
    """Expected values of one site's hours; None when the model does not know the site (no retry helps)."""
    response = ml.post("/api/v1/predict", json={"site": site, "activity_type": activity_type, "timestamps": timestamps})
    if response.status_code == 422 and response.json().get("field") in ("site", "activity_type"):
        run_logger().warning("model cannot predict %s/%s: %s", site, activity_type, response.json()["detail"])
        return None
    response.raise_for_status()
    return dict(response.json())


def store_with(dc: httpx.Client, model_name: str, model_version: str, rows: list[dict[str, Any]]) -> int:
    """Store expected values next to the actuals (``PUT /api/v1/predictions``, an upsert per hour)."""
    stored = 0
    for i in range(0, len(rows), STORE_CHUNK):
        response = dc.put("/api/v1/predictions", json={
            "model_name": model_name, "model_version": model_version, "unit": "kWh",
            "predictions": rows[i : i + STORE_CHUNK]})
        response.raise_for_status()
        stored += response.json()["stored"]
    return stored


# The tasks: domain parameters only; each opens its client from the settings of the process that runs it
@task(name="pending-readings", cache_policy=NO_CACHE, **RETRIES)
def pending_readings(start: str | None, end: str | None, sites: list[str], activity_types: list[str],
                     limit: int) -> pd.DataFrame:
    with service_client("data_core") as dc:
        return list_pending(dc, start, end, sites, activity_types, limit)


@task(name="predict-site", cache_policy=NO_CACHE, **RETRIES)
def predict_site(site: str, activity_type: str, timestamps: list[str]) -> dict[str, Any] | None:
    with service_client("ml_engine") as ml:
        return predict_with(ml, site, activity_type, timestamps)


@task(name="store-predictions", cache_policy=NO_CACHE, **RETRIES)
def store_predictions(model_name: str, model_version: str, rows: list[dict[str, Any]]) -> int:
    with service_client("data_core") as dc:
        return store_with(dc, model_name, model_version, rows)


@flow(name="fill-expected", log_prints=True)
def fill_expected(start: datetime | None = None, end: datetime | None = None, sites: list[str] | None = None,
                  activity_types: list[str] | None = None, max_readings: int = 100_000) -> dict[str, Any]:
    """Fill expected values for up to ``max_readings`` pending hourly readings (oldest first). The data core
    and the ML engine are ``DATA_CORE_URL`` and ``ML_ENGINE_URL`` (settings, never parameters)."""
    summary: dict[str, Any] = {"pending": 0, "stored": 0, "skipped_sites": [], "multi_meter_hours": 0,
                               "model_versions": []}
    types = activity_types or ["electricity", "natural_gas"]
    while summary["pending"] < max_readings:
        pending = pending_readings(_iso(start), _iso(end), sites or [], types,
                                   min(PAGE, max_readings - summary["pending"]))
        summary["pending"] += len(pending)
        stored = _fill_page(pending, summary)
        if len(pending) < PAGE or stored == 0:
            break  # everything listed, or only readings this model cannot predict are left
    print(f"fill-expected: {summary['stored']} of {summary['pending']} pending readings filled "
          f"(models {summary['model_versions']}); skipped {summary['skipped_sites'] or 'none'}")
    return summary


Predict = Callable[[str, str, list[str]], "dict[str, Any] | None"]
Store = Callable[[str, str, list[dict[str, Any]]], int]


def _fill_page(pending: pd.DataFrame, summary: dict[str, Any], *, predict: Predict | None = None,
               store: Store | None = None) -> int:
    """Predict and store one page of pending readings. Inside a flow the calls are Prefect tasks (retried,
    visible in the UI); the event path passes plain functions bound to its own clients
    (``partial(predict_with, ml)``). The tasks are looked up when called, so that ``with_options``
    replacements (tests: no retry delay) take effect."""
    predict = predict or predict_site
    store = store or store_predictions
    if pending.empty:
        return 0
    # the model predicts a site's total per hour; hours metered by several meters are left for review
    per_hour = pending.groupby(["site", "activity_type", "period_start"])["meter"].transform("size")
    summary["multi_meter_hours"] += int((per_hour > 1).sum())
    single = pending[per_hour == 1]
    stored = 0
    for (site, activity_type), rows in single.groupby(["site", "activity_type"], sort=True):
        stamps = rows["period_start"].tolist()
        meters = dict(zip(rows["period_start"], rows["meter"], strict=True))
        for i in range(0, len(stamps), PREDICT_CHUNK):
            chunk = stamps[i : i + PREDICT_CHUNK]
            answer = predict(str(site), str(activity_type), chunk)
            if answer is None:
                summary["skipped_sites"].append(f"{site}/{activity_type}")
                break
            rows_out = [{"site": site, "meter": meters[stamp], "activity_type": activity_type, "period_start": stamp,
                         "expected": p["expected"], "lower": p["lower"], "upper": p["upper"]}
                        for stamp, p in zip(chunk, answer["predictions"], strict=True)]
            model = answer["model"]
            stored += store(model["name"], model["version"], rows_out)
            if model["version"] not in summary["model_versions"]:
                summary["model_versions"].append(model["version"])
    summary["stored"] += stored
    return stored


def main() -> None:
    parser = argparse.ArgumentParser(description="Fill expected values of pending hourly readings.")
    parser.add_argument("--start")
    parser.add_argument("--end")
    parser.add_argument("--max-readings", type=int, default=100_000)
    args = parser.parse_args()
    result = fill_expected(start=args.start, end=args.end, max_readings=args.max_readings)
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()

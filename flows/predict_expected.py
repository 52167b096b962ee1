"""Prefect flow ``fill-expected``: the expected value of every hourly reading that lacks one.

Asks the data core which hourly readings have no expected value (``GET /api/v1/predictions/pending``),
asks the ML engine for each site's expected values and intervals (``POST /api/v1/predict``, history from
the data core), and stores them next to the actuals (``PUT /api/v1/predictions``, an upsert per hour): the
library :mod:`services.lib.expected`, wrapped in retried Prefect tasks.

When the ML engine is down the predict task retries and the run fails; the readings stay pending and the
next run fills them: nothing is lost, and re-running changes nothing that is already filled.

A site whose own data makes its prediction or store fail (the ML engine refuses it: an unknown site, timestamps
it cannot take; an answer that does not fit; the data core refuses its values) is left out: the run returns it
in ``skipped`` (site, activity type, stage, reason), logs a warning for it and lists it in the table artifact
``fill-expected-skipped``; every other site is filled and the run completes. Its readings stay pending.

A site the model was not trained on is predicted by the fleet model (#17) from its first hour with the history
it needs (7 days of readings in the 28 days before the hour's day); its earlier hours come back without an
expected value and a reason per hour: the run fills the rest, reports them in ``unpredictable`` (site, type,
hours, reason, first hour filled) and leaves them pending (each run asks once; the run neither fails nor
loops on them).

    python -m flows.predict_expected --start 2020-01-01 --end 2020-03-15
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

import pandas as pd
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.common import SERVICE_RETRIES, report_skips, run_logger, service_client
from services.common.contracts import SiteSkip
from services.lib.expected import fill_page, list_pending, new_summary, predict_with, store_with
from services.lib.expected.fill import PAGE

RETRIES = SERVICE_RETRIES


def _iso(value: datetime | str | None) -> str | None:
    if value is None:
        return None
    ts = pd.Timestamp(value)
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).isoformat()


# The tasks: domain parameters only; each opens its client from the settings of the process that runs it
# (services/lib/expected does the work)
@task(name="pending-readings", cache_policy=NO_CACHE, **RETRIES)
def pending_readings(start: str | None, end: str | None, sites: list[str], activity_types: list[str],
                     limit: int) -> pd.DataFrame:
    with service_client("data_core") as dc:
        return list_pending(dc, start, end, sites, activity_types, limit)


@task(name="predict-site", cache_policy=NO_CACHE, **RETRIES)
def predict_site(site: str, activity_type: str, timestamps: list[str]) -> dict[str, Any] | None:
    with service_client("ml_engine") as ml:
        return predict_with(ml, site, activity_type, timestamps, logger=run_logger())


@task(name="store-predictions", cache_policy=NO_CACHE, **RETRIES)
def store_predictions(model_name: str, model_version: str, rows: list[dict[str, Any]]) -> int:
    with service_client("data_core") as dc:
        return store_with(dc, model_name, model_version, rows)


@flow(name="fill-expected", log_prints=True)
def fill_expected(start: datetime | None = None, end: datetime | None = None, sites: list[str] | None = None,
                  activity_types: list[str] | None = None, max_readings: int = 100_000) -> dict[str, Any]:
    """Fill expected values for up to ``max_readings`` pending hourly readings (oldest first). The data core
    and the ML engine are ``DATA_CORE_URL`` and ``ML_ENGINE_URL`` (settings, never parameters)."""
    summary = new_summary()
    types = activity_types or ["electricity", "natural_gas"]
    while summary["pending"] < max_readings:
        pending = pending_readings(_iso(start), _iso(end), sites or [], types,
                                   min(PAGE, max_readings - summary["pending"]))
        summary["pending"] += len(pending)
        # the tasks are looked up here, at call time, so that with_options replacements (tests) take effect
        stored = fill_page(pending, summary, predict=predict_site, store=store_predictions)
        if len(pending) < PAGE or stored == 0:
            break  # everything listed, or only readings this model cannot predict are left
    report_skips(summary["skipped"], key="fill-expected-skipped", what="fill-expected")
    skipped = sorted({SiteSkip.model_validate(s).label() for s in summary["skipped"]})
    for entry in summary["unpredictable"]:  # a new site: its first hours, before the history the model needs
        print(f"fill-expected: {entry['site']}/{entry['activity_type']}: {entry['hours']} hour(s) from "
              f"{entry['first']} not predictable yet ({entry['reason']}); they stay pending"
              + (f"; filled from {entry['first_filled']} on" if entry["first_filled"] else ""))
    print(f"fill-expected: {summary['stored']} of {summary['pending']} pending readings filled "
          f"(models {summary['model_versions']}); skipped {', '.join(skipped) or 'none'}")
    return summary


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

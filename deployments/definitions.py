"""Every flow as a Prefect deployment with its schedule (issue #4; the flows of issue #3 first).

| deployment                        | flow            | schedule (Europe/London)             |
|-----------------------------------|-----------------|--------------------------------------|
| ``ingest/ingest``                 | ingest          | every 5 minutes                      |
| ``fill-expected/predict``         | fill-expected   | hourly at :05                        |
| ``hotspot-scan/hotspot-scan``     | hotspot-scan    | hourly at :15, and on demand         |
| ``train-baseline/train-baseline`` | train-baseline  | weekly, Monday 03:00                 |
| ``monthly-bills/monthly-bills``   | monthly-bills   | daily at 04:30                       |
| ``fit-reference/fit-reference``   | fit-reference   | daily at 04:00                       |

``python -m deployments.serve`` registers them and runs their scheduled and manual runs (a Prefect
runner: ``make up`` starts it). Trigger one by hand with
``prefect deployment run 'fill-expected/predict'`` or from the Prefect UI.
"""

from __future__ import annotations

from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron, Interval

from flows.fit_reference import fit_reference
from flows.hotspot_scan import hotspot_scan
from flows.ingest import ingest
from flows.monthly_bills import monthly_bills
from flows.predict_expected import fill_expected
from flows.train_baseline import train_baseline

TIMEZONE = "Europe/London"
TAGS = ["carbon-nexus"]


def build() -> list[RunnerDeployment]:
    return [
        ingest.to_deployment(
            name="ingest",
            schedules=[Interval(300, timezone=TIMEZONE)],
            parameters={},
            description="Files dropped in INGEST_DIR (default var/inbox) and the INGEST_SOURCES patterns into the "
                        "data core (idempotent per file content); done/ and failed/ keep each file with its report.",
            tags=[*TAGS, "ingest"],
        ),
        hotspot_scan.to_deployment(
            name="hotspot-scan",
            schedules=[Cron("15 * * * *", timezone=TIMEZONE)],
            parameters={"lookback_days": 28, "chunk_size": 10},
            description="Hotspots over the last lookback_days of readings (above expectation, spikes, level "
                        "shifts, silent or stuck meters, Pareto and growth), stored and broadcast through the "
                        "orchestration engine; alerts by rule; recommendation requests queued. Run it on demand "
                        "with sites=[...] for a targeted scan.",
            tags=[*TAGS, "hotspots"],
        ),
        fill_expected.to_deployment(
            name="predict",
            schedules=[Cron("5 * * * *", timezone=TIMEZONE)],
            parameters={"max_readings": 100_000},
            description="Expected values (and intervals) from the ML engine for hourly readings that have "
                        "none yet, stored next to the actuals; oldest first, up to max_readings per run.",
            tags=[*TAGS, "ml"],
        ),
        train_baseline.to_deployment(
            name="train-baseline",
            schedules=[Cron("0 3 * * 1", timezone=TIMEZONE)],
            parameters={"max_iter": 600},
            description="Retrain carbon-baseline on the data core's readings (holdout = last 28 days unless "
                        "a window is given); the champion alias moves only if the new model beats it.",
            tags=[*TAGS, "ml"],
        ),
        monthly_bills.to_deployment(
            name="monthly-bills",
            schedules=[Cron("30 4 * * *", timezone=TIMEZONE)],
            parameters={"chunk_size": 25},
            description="Meters billed monthly (readings of 20 days or more): each bill's expected value and 99 % "
                        "interval from the degree-day model (ASHRAE Guideline 14 / IPMVP Option C) fitted on the "
                        "meter's bills of the year before it and the site's station weather, stored next to the "
                        "bill; bills above their interval become hotspots and alerts as hotspot-scan's do.",
            tags=[*TAGS, "hotspots"],
        ),
        fit_reference.to_deployment(
            name="fit-reference",
            schedules=[Cron("0 4 * * *", timezone=TIMEZONE)],
            parameters={"pending": True, "new_only": True, "days": 90},
            description="Reference (M&V) baselines for hotspot-scan's lasting faults: every series without one "
                        "is fit on its first `days` days, and the series a person accepted as the new normal are "
                        "refit from that hotspot's start; a stored reference changes only so (or by an explicit "
                        "run with start/end).",
            tags=[*TAGS, "hotspots"],
        ),
    ]

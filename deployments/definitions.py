"""Every flow as a Prefect deployment with its schedule (issue #4; the flows of issue #3 first).

| deployment                     | flow             | schedule (Europe/London)   |
|--------------------------------|------------------|----------------------------|
| ``fill-expected/predict``      | fill-expected    | hourly at :05              |
| ``train-baseline/train-baseline`` | train-baseline | weekly, Monday 03:00       |

``python -m deployments.serve`` registers them and runs their scheduled and manual runs (a Prefect
runner: ``make up`` starts it). Trigger one by hand with
``prefect deployment run 'fill-expected/predict'`` or from the Prefect UI.
"""

from __future__ import annotations

from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron

from flows.predict_expected import fill_expected
from flows.train_baseline import train_baseline

TIMEZONE = "Europe/London"
TAGS = ["carbon-nexus"]


def build() -> list[RunnerDeployment]:
    return [
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
    ]

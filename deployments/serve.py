"""Register the deployments and execute their runs: ``python -m deployments.serve``.

A Prefect runner (``prefect.serve``) polling the server at ``PREFECT_API_URL``. With
``PREFECT_RUNNER_SERVER_ENABLE=true`` it answers ``/health`` on ``PREFECT_RUNNER_SERVER_PORT``.

It first scrubs secrets Prefect stored before they stopped travelling as run parameters
(:mod:`deployments.scrub`: idempotent, and cheap when there is nothing left).
"""

from __future__ import annotations

import asyncio
import logging

from prefect import serve

from deployments import scrub
from deployments.definitions import build
from services.common.settings import apply_offline_env

log = logging.getLogger("deployments.serve")


def main() -> None:
    apply_offline_env()
    try:
        counts = asyncio.run(scrub.run())
        print(f"scrub of stored runs: {counts}", flush=True)
    except Exception as exc:  # noqa: BLE001 - the runner still starts; python -m deployments.scrub reports it
        log.warning("scrub of stored runs failed (%s); run python -m deployments.scrub", type(exc).__name__)
    serve(*build(), limit=2)  # two flow runs at a time on two cores


if __name__ == "__main__":
    main()

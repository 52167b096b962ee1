"""Register the deployments and execute their runs: ``python -m deployments.serve``.

A Prefect runner (``prefect.serve``) polling the server at ``PREFECT_API_URL``. With
``PREFECT_RUNNER_SERVER_ENABLE=true`` it answers ``/health`` on ``PREFECT_RUNNER_SERVER_PORT``.
"""

from __future__ import annotations

from prefect import serve

from deployments.definitions import build
from services.common.settings import apply_offline_env


def main() -> None:
    apply_offline_env()
    serve(*build(), limit=2)  # two flow runs at a time on two cores


if __name__ == "__main__":
    main()

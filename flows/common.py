"""What the flows share: the retry policy for calls to the platform's services, their settings, the client
of each service (:class:`~services.common.datacore.DataCoreClient`) and the run logger.

Secrets, addresses and paths never travel as flow, subflow, task or deployment parameters (Prefect stores
parameters in plain text, and a Dask task runner pickles task arguments to its scheduler): a task opens
its client with :func:`service_client`, which reads the service's URL and the ``API_TOKEN`` from
:class:`FlowSettings` in the process that runs it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import httpx
from prefect import get_run_logger
from prefect.exceptions import MissingContextError
from pydantic_settings import SettingsConfigDict

from services.common.contracts import SiteSkip
from services.common.datacore import DataCoreClient, TokenRefused
from services.common.errors import ServiceUnavailable
from services.common.paths import repo_root
from services.common.settings import ServiceSettings

REPO_ROOT = repo_root()


def transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry when a service is unreachable, slow or failing (5xx: the client's ``ServiceUnavailable``); a 4xx
    answer (``UpstreamProblem``), a refused token or a bug in our own code will not change on retry."""
    try:
        state.result()
    except TokenRefused:
        return False
    except ServiceUnavailable:
        return True
    except httpx.HTTPStatusError as exc:
        return exc.response.status_code >= 500
    except httpx.TransportError:
        return True
    except Exception:  # noqa: BLE001 - anything else is not transient
        return False
    return False


def run_logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The flow run's logger inside a run; a module logger when the same code runs outside Prefect."""
    try:
        return get_run_logger()  # type: ignore[return-value]
    except MissingContextError:
        return logging.getLogger(__name__)


# 3 retries after 2, 10 and 30 s: rides out a service restart, gives up on a real outage
SERVICE_RETRIES: dict[str, Any] = {"retries": 3, "retry_delay_seconds": [2, 10, 30], "retry_condition_fn": transient}


class FlowSettings(ServiceSettings):
    """Where the flows find the platform's services (environment variables, optionally ``.env``)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    data_core_url: str = "http://127.0.0.1:8002"
    ml_engine_url: str = "http://127.0.0.1:8001"
    orchestration_url: str = "http://127.0.0.1:8003"
    rag_service_url: str | None = None
    # ingest: the drop folder (files land in inbox/, move to done/ or failed/) and extra sources
    # (paths or glob patterns of CSV/XLSX files; re-reading a file that did not change changes nothing)
    ingest_dir: Path = REPO_ROOT / "var" / "inbox"
    ingest_sources: list[str] = []
    # task runner of the chunked flows: "thread" (in the flow's process) or "dask" (DASK_ADDRESS, or a
    # local cluster when unset)
    task_runner: Literal["thread", "dask"] = "thread"
    dask_address: str | None = None


Service = Literal["data_core", "ml_engine", "orchestration", "rag_service"]
SERVICE_NAMES: dict[str, str] = {"data_core": "data-core", "ml_engine": "ml-engine", "orchestration": "orchestration",
                                 "rag_service": "rag"}


def service_client(service: Service, timeout: float = 300.0) -> DataCoreClient:
    """The checked client of one of the platform's services (the data core's typed client; the same class
    named after the ML engine, the orchestration engine or the chatbot service for those): its URL and the
    ``API_TOKEN`` (sent on every request, reads included) from :class:`FlowSettings`."""
    settings = FlowSettings()  # type: ignore[call-arg]
    url = getattr(settings, f"{service}_url")
    if not url:
        raise ValueError(f"{service.upper()}_URL is not set")
    return DataCoreClient(url, settings.api_token.get_secret_value(), timeout=timeout, service=SERVICE_NAMES[service])


def make_task_runner(kind: str | None = None, workers: int = 2) -> Any:
    """The task runner a chunked flow uses: threads here, or a Dask cluster (``prefect-dask``) at
    ``DASK_ADDRESS`` (a local cluster when unset). ``kind`` None: ``TASK_RUNNER``."""
    settings = FlowSettings()  # type: ignore[call-arg]
    kind = kind or settings.task_runner
    address = settings.dask_address
    if kind == "dask":
        from prefect_dask import DaskTaskRunner

        if address:
            return DaskTaskRunner(address=address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True,
                                              "dashboard_address": None})
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=workers)


class EverySiteSkipped(RuntimeError):
    """No site of a run could be handled: the run fails (a fault of the platform or of the code more likely
    than of every site's data at once)."""


def report_skips(skipped: list[dict[str, Any]], *, key: str, what: str, logged: int = 0) -> None:
    """Make the sites a run left out visible: one warning per skip in the run's log (but the first ``logged``,
    which a subflow logged already) and a table artifact ``key`` of them all (site, activity type, meter,
    stage, reason; "no site skipped" when there is none). ``what`` names the run in its description."""
    from prefect.artifacts import create_table_artifact

    skips = [SiteSkip.model_validate(s) for s in skipped]
    logger = run_logger()
    for skip in skips[logged:]:
        logger.warning("%s skipped at %s: %s", skip.label(), skip.stage, skip.reason)
    rows = [{"site": s.site, "type": s.activity_type, "meter": s.meter, "stage": s.stage, "reason": s.reason}
            for s in skips]
    sites = len({s.site for s in skips})
    create_table_artifact(key=key, table=rows or [{"result": "no site skipped"}],
                          description=f"{what}: {sites} site(s) left out ({len(skips)} skip(s)); the other sites "
                                      "were handled as without them.")

"""The hotspot scan through a local Dask cluster of 2 worker processes (prefect-dask's DaskTaskRunner, chosen by
the ``TASK_RUNNER`` setting) finds exactly the hotspots of the default task runner: real data core, ML engine
and orchestration engine on 127.0.0.1 (test_hotspot_scan's ``services``: the buildings with an injected
excess and a stuck meter), a temporary Prefect API. Then the same through ``DASK_ADDRESS``: a scheduler and two
workers started with the ``dask`` command line, as docs/scale-out.md says to run a cluster."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.harness import BIN, REPO, Service
from tests.conftest import free_port
from tests.flows.test_hotspot_scan import (
    EXCESS,
    STUCK,
    WINDOW,
    services,  # noqa: F401 - the fixture dask_services builds on
)
from tests.ml_fixtures import FLOW_SITES

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def dask_services(services):  # type: ignore[no-untyped-def]  # noqa: F811 - the imported fixture
    return services


def _chunks() -> list[list[str]]:
    return [sorted(FLOW_SITES)[i : i + 2] for i in range(0, len(FLOW_SITES), 2)]


def _found(results: list[dict[str, Any]]) -> list[str]:
    """Every hotspot and skip of a scan, whole, as sorted JSON (equal lists: identical hotspots)."""
    return sorted(json.dumps(h, sort_keys=True, default=str) for r in results for h in r["hotspots"] + r["skipped"])


def test_the_scan_on_a_two_worker_dask_cluster_finds_identical_hotspots(prefect_harness, dask_services,
                                                                        monkeypatch) -> None:
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    from flows.common import make_task_runner
    from flows.hotspot_scan import hotspot_scan, scan_chunks

    first = hotspot_scan(**WINDOW, chunk_size=2, include_pareto=False)  # default runner; fills expected values
    assert first["counts"]["created"] > 0
    chunks = _chunks()
    default = make_task_runner()
    assert isinstance(default, ThreadPoolTaskRunner)
    threads = _found(scan_chunks.with_options(task_runner=default)(chunks, WINDOW["start"], WINDOW["end"]))

    monkeypatch.setenv("TASK_RUNNER", "dask")  # a setting, never a flow parameter
    monkeypatch.delenv("DASK_ADDRESS", raising=False)
    runner = make_task_runner()
    assert isinstance(runner, DaskTaskRunner)
    assert runner.cluster_kwargs["n_workers"] == 2 and runner.cluster_kwargs["processes"] is True
    dask = _found(scan_chunks.with_options(task_runner=runner)(chunks, WINDOW["start"], WINDOW["end"]))

    assert dask == threads
    hotspots = [json.loads(h) for h in dask]
    assert any(h.get("kind") == "above_expected" and h.get("site") == EXCESS[0] for h in hotspots)
    assert any(h.get("kind") == "stuck_meter" and h.get("site") == STUCK[0] for h in hotspots)

    # the whole flow with the setting: the same hotspots, so nothing is created or updated
    again = hotspot_scan(**WINDOW, chunk_size=2, include_pareto=False)
    assert again["rows"] == first["rows"] and again["skipped"] == first["skipped"]
    assert again["counts"]["created"] == 0 and again["counts"]["updated"] == 0
    assert again["counts"]["unchanged"] == first["counts"]["created"]


@pytest.fixture
def dask_cluster(dask_services, tmp_path: Path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """``dask scheduler`` and ``dask worker --nworkers 2`` as processes on 127.0.0.1 (the workers get this
    process's environment: the services' URLs and the token, and this checkout's code first on the path)."""
    from distributed import Client

    port, http = free_port(), free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = str(BIN / "dask")
    env = {"PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    procs = [Service("dask scheduler", [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                        "--dashboard-address", f"127.0.0.1:{http}"], tmp_path / "scheduler.log", env)]
    try:
        procs[0].wait_healthy(f"http://127.0.0.1:{http}/health", timeout=60)
        procs.append(Service("dask workers", [dask, "worker", address, "--nworkers", "2", "--nthreads", "1",
                                              "--no-dashboard", "--host", "127.0.0.1"], tmp_path / "workers.log", env))
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for proc in reversed(procs):
            proc.stop(20)


def test_dask_address_sends_the_scan_to_an_existing_cluster(prefect_harness, dask_services, dask_cluster,
                                                            monkeypatch) -> None:
    from distributed import Client, get_task_stream
    from prefect_dask import DaskTaskRunner

    from flows.common import make_task_runner
    from flows.hotspot_scan import hotspot_scan, scan_chunks

    first = hotspot_scan(**WINDOW, chunk_size=2, include_pareto=False)  # default runner; fills expected values
    threads = _found(scan_chunks.with_options(task_runner=make_task_runner())(_chunks(), WINDOW["start"],
                                                                               WINDOW["end"]))
    monkeypatch.setenv("TASK_RUNNER", "dask")
    monkeypatch.setenv("DASK_ADDRESS", dask_cluster)
    runner = make_task_runner()
    assert isinstance(runner, DaskTaskRunner) and runner.address == dask_cluster
    with Client(dask_cluster) as client, get_task_stream(client=client) as stream:
        dask = _found(scan_chunks.with_options(task_runner=runner)(_chunks(), WINDOW["start"], WINDOW["end"]))
    ran = [t for t in stream.data if "scan" in str(t.get("key"))]
    assert dask == threads and dask
    assert len(ran) >= len(_chunks()), f"the cluster ran {len(ran)} scan tasks: {stream.data[:3]}"
    again = hotspot_scan(**WINDOW, chunk_size=2, include_pareto=False)
    assert again["counts"]["created"] == 0 and again["counts"]["updated"] == 0
    assert again["counts"]["unchanged"] == first["counts"]["created"]

"""The hotspot scan through a local Dask cluster of 2 worker processes (prefect-dask's DaskTaskRunner, chosen by
the ``TASK_RUNNER`` setting) finds exactly the hotspots of the default task runner: real data core, ML engine
and orchestration engine on 127.0.0.1 (test_hotspot_scan's ``services``: the buildings with an injected
excess and a stuck meter), a temporary Prefect API."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.flows.test_hotspot_scan import EXCESS, STUCK, WINDOW
from tests.flows.test_hotspot_scan import services  # noqa: F401 - the fixture dask_services builds on
from tests.ml_fixtures import FLOW_SITES

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def dask_services(services):  # type: ignore[no-untyped-def]  # noqa: F811 - the imported fixture
    return services


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
    chunks = [sorted(FLOW_SITES)[i : i + 2] for i in range(0, len(FLOW_SITES), 2)]
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

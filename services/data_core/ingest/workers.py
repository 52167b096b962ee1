"""Where chunk computations run: a pool of worker processes (default one), or this process.

One pool per process, shared by every app instance (tests build many), started lazily with the
``spawn`` method (no fork of a threaded server) and warmed up so the first request does not pay for
the imports.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from concurrent.futures import Executor, Future, ProcessPoolExecutor

from services.data_core.ingest.compute import ChunkJob, ChunkResult, compute_chunk, warm_up

log = logging.getLogger(__name__)
_lock = threading.Lock()
_pools: dict[int, ProcessPoolExecutor] = {}


class InProcess(Executor):
    """Runs the job at once in the calling thread (``INGEST_WORKERS=0``, or an in-memory database
    that another process cannot open)."""

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        future: Future[object] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed back through the future, as a pool would
            future.set_exception(exc)
        return future


def executor(workers: int, database_url: str) -> Executor:
    in_memory = database_url.startswith("sqlite") and database_url.rstrip("/").endswith(("sqlite:", ":memory:"))
    if workers <= 0 or in_memory:
        return InProcess()
    with _lock:
        pool = _pools.get(workers)
        if pool is None:
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
            for future in [pool.submit(warm_up) for _ in range(workers)]:
                future.result()
            _pools[workers] = pool
            log.info("ingest workers started", extra={"workers": workers})
        return pool


def submit(pool: Executor, job: ChunkJob) -> Future[ChunkResult]:
    return pool.submit(compute_chunk, job)

"""Flows run against a temporary Prefect API (prefect_test_harness), started once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.services.ml_engine.conftest import (  # noqa: F401
    cambridge_csv,
    engine_settings,
    flow_env,
    loaded_data_core,
    registered_store,
    slice_series,
    store_uri,
    tracking_uri,
)
from tests.services.orchestration.conftest import make_stack  # noqa: F401


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield

"""Flows run against a temporary Prefect API (the session's ``prefect_harness``, tests/conftest.py)."""

from __future__ import annotations

from tests.services.orchestration.conftest import make_stack  # noqa: F401

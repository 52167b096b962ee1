"""Property-based API testing of the ML engine with schemathesis: whatever schema-shaped (or
schema-violating) input arrives, no operation answers 5xx (a model is loaded, so 503 is not expected)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from services.ml_engine.app import create_app
from services.ml_engine.settings import MLEngineSettings
from tests.conftest import TOKEN, send_case

pytestmark = pytest.mark.integration

_OPENAPI = create_app(MLEngineSettings(api_token=TOKEN, environment="test", log_json=False)).openapi()
schema = schemathesis.openapi.from_dict(_OPENAPI)


# the served model as a parameter: it also gives each operation its own test id (without a parameter,
# schemathesis gives all of them one id, and pytest-xdist would run only one of them)
@pytest.mark.parametrize("served", ["champion"])
@schema.parametrize()
@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_no_operation_answers_5xx(case, engine, served):
    response = send_case(case, engine)
    case.validate_response(response, checks=[not_a_server_error])

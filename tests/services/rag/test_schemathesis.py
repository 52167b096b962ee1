"""Property-based API testing of the chatbot with schemathesis: whatever schema-shaped (or schema-violating)
input arrives at any operation (chat, stream, recommendations, knowledge base), nothing answers 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from services.rag.app import create_app
from services.rag.settings import RagSettings
from tests.conftest import TOKEN, send_case

pytestmark = pytest.mark.integration

_OPENAPI = create_app(RagSettings(api_token=TOKEN, environment="test", log_json=False)).openapi()  # type: ignore[call-arg]
schema = schemathesis.openapi.from_dict(_OPENAPI)


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_no_operation_answers_5xx(case, rag):  # type: ignore[no-untyped-def]
    response = send_case(case, rag)
    case.validate_response(response, checks=[not_a_server_error])

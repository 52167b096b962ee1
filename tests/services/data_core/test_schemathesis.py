"""Property-based API testing with schemathesis: no operation of the data core answers 5xx, whatever
schema-shaped (or schema-violating) input it gets. Runs on both dialects (the ``client`` fixture)."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, reject, settings
from schemathesis.checks import not_a_server_error

from services.data_core.app import create_app
from services.data_core.settings import DataCoreSettings
from tests.conftest import AUTH, TOKEN
from tests.services.data_core.helpers import ingest, make_site, record

pytestmark = pytest.mark.integration


# the OpenAPI document needs no database: build it from an app that is never started
_OPENAPI = create_app(DataCoreSettings(api_token=TOKEN, database_url="sqlite://", environment="test",
                                       log_json=False)).openapi()
schema = schemathesis.openapi.from_dict(_OPENAPI)


@pytest.fixture
def seeded(client):
    make_site(client, "s1", country="GB")
    ingest(client, [record("s1", timestamp="2019-06-01T10:00:00Z")])
    return client


def _encodable(part):
    """httpx encodes multipart parts from bytes or text only; generated parts can be numbers or null."""
    if isinstance(part, tuple):
        return (part[0], _encodable(part[1]), *part[2:])
    return part if isinstance(part, bytes | str) else str(part)


@schema.parametrize()
@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_no_operation_answers_5xx(case, seeded):
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=AUTH)
    kwargs.pop("cookies", None)  # the API uses none; per-request cookies are deprecated in httpx
    if isinstance(kwargs.get("data"), bytes | str):
        kwargs["content"] = kwargs.pop("data")
    if kwargs.get("files"):
        kwargs["files"] = [(name, _encodable(part)) for name, part in kwargs["files"]]
    try:
        response = seeded.request(kwargs.pop("method"), kwargs.pop("url"), **kwargs)
    except httpx.InvalidURL:
        reject()  # longer than any HTTP client sends (httpx refuses it), so not a case for the server
    response.request.read()  # a streamed multipart body, so that the check can show the request
    case.validate_response(response, checks=[not_a_server_error])


def test_text_the_database_cannot_store_is_a_422(client):
    # PostgreSQL text cannot hold NUL; SQLite can. Either way the answer is not a 5xx.
    r = client.post("/api/v1/organisations", json={"id": "acme", "name": "A\u0000B"}, headers=AUTH)
    assert r.status_code in (201, 422), r.text
    if r.status_code == 422:
        assert r.headers["content-type"].startswith("application/problem+json")

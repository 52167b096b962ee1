"""What the flows share: the retry condition over the common client's errors, and each service's client."""

from __future__ import annotations

import httpx
import pytest

from flows.common import REPO_ROOT, service_client, transient
from services.common.datacore import DataCoreClient, TokenRefused, UpstreamProblem
from services.common.errors import ServiceUnavailable

pytestmark = pytest.mark.unit


class State:
    def __init__(self, exc: BaseException | None) -> None:
        self.exc = exc

    def result(self) -> None:
        if self.exc is not None:
            raise self.exc


def response(status: int) -> httpx.Response:
    return httpx.Response(status, json={"status": status, "title": "x", "detail": "x", "field": "site"},
                          request=httpx.Request("POST", "http://svc/x"))


@pytest.mark.parametrize(("exc", "retry"), [
    (ServiceUnavailable("the ml-engine is unreachable: ConnectError"), True),  # down or 5xx
    (UpstreamProblem(response(422)), False),  # "the model cannot predict this site": no retry helps
    (UpstreamProblem(response(409)), False),
    (TokenRefused(response(401)), False),  # a deployment fault
    (httpx.ConnectError("refused"), True),
    (httpx.HTTPStatusError("x", request=response(503).request, response=response(503)), True),
    (ValueError("a bug"), False),
    (None, False),
])
def test_transient(exc: BaseException | None, retry: bool) -> None:
    assert transient(None, None, State(exc)) is retry


def test_service_clients_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", "flow-token")
    monkeypatch.setenv("ML_ENGINE_URL", "http://127.0.0.1:8101/")
    monkeypatch.delenv("RAG_SERVICE_URL", raising=False)
    with service_client("ml_engine") as ml:
        assert isinstance(ml, DataCoreClient) and ml.service == "ml-engine"
        assert ml.base_url == "http://127.0.0.1:8101" and ml.http.headers["authorization"] == "Bearer flow-token"
    with service_client("data_core") as dc:
        assert dc.service == "data-core"
    with pytest.raises(ValueError, match="RAG_SERVICE_URL"):
        service_client("rag_service")
    assert (REPO_ROOT / "flows" / "common.py").is_file()

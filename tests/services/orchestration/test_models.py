"""``GET /models``: the ML engine's registered versions and what it serves; any failure of the ML engine is
a 503 problem naming it."""

from __future__ import annotations

import pytest


@pytest.mark.integration
def test_models_merges_the_registered_versions_with_what_the_engine_serves(make_stack) -> None:
    from fastapi import FastAPI

    from tests.conftest import LiveServer

    fake = FastAPI()  # the two reads of the ML engine the dashboard needs, as services/ml_engine/app.py answers
    registered = {"name": "carbon-baseline", "alias": "champion", "served": {"version": "4"},
                  "registry": {"reachable": True}, "versions": [{"version": "4", "aliases": ["champion"]}]}
    fake.get("/api/v1/models")(lambda: registered)
    fake.get("/version")(lambda: {"mlflow": "2.x", "model": {"version": "4"}})
    with LiveServer(fake) as ml:
        stack = make_stack(ml_engine_url=ml.url)
        body = stack.http.get("/api/v1/models").json()
    assert body == {"registered": registered, "serving": {"mlflow": "2.x", "model": {"version": "4"}}}




@pytest.mark.parametrize(("answer", "detail"), [(lambda r: __import__("httpx").Response(404, json={"detail": "no"}),
                                                 "answered /version with 404"),
                                                (lambda r: __import__("httpx").Response(200, text="<html>"),
                                                 "not JSON")])
def test_an_ml_engine_error_or_a_non_json_answer_is_503(answer, detail) -> None:
    import asyncio

    import httpx

    from services.common.datacore import AsyncDataCoreClient
    from services.common.errors import ServiceUnavailable
    from services.orchestration.routes.models import ml_get

    async def call() -> None:
        ml = AsyncDataCoreClient("http://ml", None, service="ml-engine",
                                 http=httpx.AsyncClient(base_url="http://ml", transport=httpx.MockTransport(answer)))
        await ml_get(ml, "/version")

    with pytest.raises(ServiceUnavailable, match=detail) as caught:
        asyncio.run(call())
    assert caught.value.extensions["service"] == "ml-engine"

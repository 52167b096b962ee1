"""The optional language-model path: with LLM_BASE_URL the same haystack Agent runs on an OpenAI-compatible
chat endpoint with the same tools, and citations come from its tool calls. No model weights exist here, so
the endpoint is a scripted OpenAI-compatible server (it asks for one tool call, then answers from the tool's
result), which exercises the real OpenAIChatGenerator, tool calling and citation collection."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import FastAPI

from tests.conftest import AUTH, LiveServer

pytestmark = pytest.mark.integration


def scripted_llm(seen: list[dict[str, Any]]) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    def completions(body: dict[str, Any]) -> dict[str, Any]:
        seen.append(body)
        tool_results = [m for m in body["messages"] if m["role"] == "tool"]
        if not tool_results:
            message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [{
                "id": "call_1", "type": "function", "function": {
                    "name": "emissions_totals",
                    "arguments": json.dumps({"scope": [2], "start": "2020-03-01", "end": "2020-04-01"})}}]}
            finish = "tool_calls"
        else:
            total = json.loads(tool_results[-1]["content"])["result"]["total_t_co2e"]
            message = {"role": "assistant", "content": f"Scope 2 in March 2020 was {total:.3f} t CO2e [Q1]."}
            finish = "stop"
        return {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}

    return app


def test_an_openai_compatible_model_uses_the_same_tools_and_citations(kb: Any, demo_data_core: str,
                                                                     rag_settings_factory: Any) -> None:
    from fastapi.testclient import TestClient

    from services.rag.app import create_app

    seen: list[dict[str, Any]] = []
    with LiveServer(scripted_llm(seen)) as llm:
        settings = rag_settings_factory(data_core_url=demo_data_core, llm_base_url=f"{llm.url}/v1", llm_model="scripted")
        with TestClient(create_app(settings, kb=kb), headers=AUTH) as client:
            health = client.get("/api/health").json()
            assert health["checks"]["knowledge_base"]["detail"]["answers"] == "llm"
            r = client.post("/api/chat", json={"message": "What were our scope 2 emissions in March 2020?"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mode"] == "llm" and body["tools_called"][0]["name"] == "emissions_totals"
    q1 = body["citations"][0]
    assert q1["ref"] == "Q1" and q1["endpoint"] == "/api/v1/emissions/totals" and q1["params"]["scope"] == [2]
    assert f"{q1['result']['total_t_co2e']:.3f}" in body["answer"]
    # the model was offered every tool and told to cite
    offered = {t["function"]["name"] for t in seen[0]["tools"]}
    assert {"emissions_totals", "search_knowledge_base", "recommend_actions"} <= offered
    assert "cite" in seen[0]["messages"][0]["content"].lower()


def test_a_language_model_that_does_not_answer_is_a_503_problem(kb: Any, demo_data_core: str,
                                                              rag_settings_factory: Any) -> None:
    """LLM_BASE_URL pointing at nothing: the chat answers a problem (503) that names the setting, never a 500,
    and the session is released (the next question is not refused as busy)."""
    import socket

    from fastapi.testclient import TestClient

    from services.rag.app import create_app

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = rag_settings_factory(data_core_url=demo_data_core, llm_base_url=f"http://127.0.0.1:{port}/v1",
                                    llm_model="absent", llm_timeout_seconds=2)
    with TestClient(create_app(settings, kb=kb), headers=AUTH) as client:
        sid = client.post("/api/chat/sessions").json()["session_id"]
        for question in ("What were our scope 2 emissions in March 2020?", "And in April 2020?"):
            r = client.post("/api/chat", json={"message": question, "session_id": sid})
            assert r.status_code == 503, r.text  # the second is not a 409: the session was released
            assert r.headers["content-type"].startswith("application/problem+json")
            assert "LLM_BASE_URL" in r.json()["detail"]

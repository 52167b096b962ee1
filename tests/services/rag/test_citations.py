"""Citations: queries numbered in the order an answer uses them (the same query keeps its number), documents
cited by id once, tool results read back from the Agent's messages, and a language model's calls numbered
as its system prompt says."""

from __future__ import annotations

import json

import pytest
from haystack.dataclasses import ChatMessage, ToolCall

from services.rag.citations import Refs, citations_from_results, collect_tool_results, kb_citation

pytestmark = pytest.mark.unit


def test_refs_number_queries_and_keep_documents_once() -> None:
    refs = Refs()
    a = {"type": "query", "endpoint": "/a", "url": "http://dc/a"}
    assert refs.query(a, {"total": 1}) == "Q1"
    assert refs.query({"type": "query", "endpoint": "/b", "url": "http://dc/b"}) == "Q2"
    assert refs.doc("heat-pumps", "Heat pumps", "moves heat") == "heat-pumps"
    assert refs.query(a) == "Q1" and refs.doc("heat-pumps", "Heat pumps") == "heat-pumps"
    assert [i["ref"] for i in refs.items] == ["Q1", "Q2", "heat-pumps"]
    assert refs.items[0]["result"] == {"total": 1} and "result" not in refs.items[1]
    assert refs.items[2] == kb_citation("heat-pumps", "Heat pumps", "moves heat")
    assert refs.items[2]["url"] == "/api/kb/heat-pumps"


def test_tool_results_after_the_last_question_are_read_back() -> None:
    call = ToolCall(tool_name="emissions_totals", arguments={"scope": [2]}, id="c1")
    old = ChatMessage.from_tool(json.dumps({"old": True}), origin=call)
    messages = [ChatMessage.from_user("first"), ChatMessage.from_assistant(tool_calls=[call]), old,
                ChatMessage.from_user("second"), ChatMessage.from_assistant(tool_calls=[call]),
                ChatMessage.from_tool(json.dumps({"result": 1}), origin=call),
                ChatMessage.from_tool("not json", origin=call, error=True)]
    assert collect_tool_results(messages) == [("emissions_totals", {"scope": [2]}, {"result": 1}, False),
                                              ("emissions_totals", {"scope": [2]}, "not json", True)]


def test_a_models_calls_are_cited_in_order_with_their_further_queries() -> None:
    q = {"type": "query", "endpoint": "/totals", "url": "u1"}
    baselines = [{"type": "query", "endpoint": "/hotspot", "url": "u2"}, {"type": "query", "url": "u3"},
                 {"type": "kb", "id": "x"}]
    results = [("emissions_totals", {}, {"result": {"t": 1}, "citation": q}, False),
               ("emissions_totals", {}, "failed", True),
               ("recommend_actions", {}, {"citations": baselines,
                                          "actions": [{"id": "heat-pumps", "title": "Heat pumps", "summary": "s"}]},
                False),
               ("search_knowledge_base", {}, {"documents": [
                   {"id": "heat-pumps", "title": "Heat pumps", "snippet": "again", "section": "Cost"},
                   {"id": "led", "title": "LED lighting", "snippet": "bright", "section": "What it is"}]}, False)]
    items = citations_from_results(results)  # type: ignore[arg-type]
    assert [i["ref"] for i in items] == ["Q1", "Q2", "Q2b", "heat-pumps", "led"]
    assert items[0]["result"] == {"t": 1} and items[3]["snippet"] == "s" and items[4]["section"] == "What it is"

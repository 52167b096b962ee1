"""The grounded composer as a haystack chat generator: a question becomes tool calls whose message keeps the
slots, the tool results become the answer (streamed word by word), and a follow-up reads the previous
answer's slots."""

from __future__ import annotations

import json
from typing import Any

import pytest
from haystack.dataclasses import ChatMessage, StreamingChunk

from services.rag.composer import GroundedComposer, previous_slots, to_message
from services.rag.period import month_period
from services.rag.plan import Answer, Calls
from services.rag.question import Slots
from tests.services.rag.conftest import ACTS, SITES, YM

pytestmark = pytest.mark.unit


class FakeDataCore:
    def sites(self) -> dict[str, dict[str, Any]]:
        return SITES

    def activity_types(self) -> list[str]:
        return ACTS

    def year_months(self) -> list[tuple[int, int]]:
        return YM


def composer() -> GroundedComposer:
    return GroundedComposer(FakeDataCore(), kb=None)  # type: ignore[arg-type]


def test_a_question_becomes_tool_calls_and_their_results_the_answer() -> None:
    user = ChatMessage.from_user("which sites do we have?")
    (planned,) = composer().run(messages=[user])["replies"]
    assert [c.tool_name for c in planned.tool_calls] == ["list_sites"]
    assert planned.meta["step"] == 1 and planned.meta["slots"]["intent"] == "list_sites"
    result = {"result": [{"id": "b2"}], "citation": {"type": "query", "endpoint": "/api/v1/sites", "url": "u"}}
    tool = ChatMessage.from_tool(json.dumps(result), origin=planned.tool_calls[0])
    chunks: list[StreamingChunk] = []
    (answer,) = composer().run(messages=[user, planned, tool], streaming_callback=chunks.append)["replies"]
    assert answer.text == "The organisation has 1 sites: b2 [Q1]."
    assert answer.meta["citations"][0]["ref"] == "Q1" and not answer.meta["declined"]
    assert "".join(c.content for c in chunks) == answer.text and len(chunks) == 7


def test_a_follow_up_keeps_the_previous_answers_slots() -> None:
    earlier = to_message(Answer("b2 gas in 2019: ..."), Slots(intent="totals", sites=["b2"], measure="emissions",
                                                              activity_types=["natural_gas"],
                                                              periods=[month_period(2019, 3)]))
    messages = [ChatMessage.from_user("b2 gas emissions in 2019"), earlier, ChatMessage.from_user("and b5?")]
    assert previous_slots(messages) == Slots.from_dict(earlier.meta["slots"])
    (planned,) = composer().run(messages=messages)["replies"]
    assert planned.tool_calls[0].arguments["site"] == ["b5"]
    assert planned.tool_calls[0].arguments["activity_type"] == ["natural_gas"]


def test_replies_as_messages() -> None:
    calls = to_message(Calls([("site_alerts", {"site": None})], step=2), Slots(intent="alerts"))
    assert calls.tool_calls[0].arguments == {} and calls.meta["step"] == 2  # None arguments are left out
    declined = to_message(Answer("no", declined=True), Slots())
    assert declined.meta == {"slots": Slots().to_dict(), "declined": True, "citations": [], "facts": [],
                             "kind": "decline", "restated": None}

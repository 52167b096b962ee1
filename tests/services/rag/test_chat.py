"""Chat sessions (bounded, server-issued, one question at a time; the limits themselves are in
tests/security/test_limits.py) and the stream filter that shows the user only the answer's text."""

from __future__ import annotations

import pytest
from haystack.dataclasses import ChatMessage, StreamingChunk, ToolCallDelta

from services.common.errors import Conflict
from services.rag.chat import Sessions, _only_text

pytestmark = pytest.mark.unit


def test_a_session_keeps_its_last_turns_and_is_busy_while_answering() -> None:
    sessions = Sessions(max_sessions=2, ttl_seconds=3600, max_turns=1)
    session = sessions.begin(None)
    assert session.new and session.busy
    with pytest.raises(Conflict):
        sessions.begin(session.id)
    turns = [ChatMessage.from_user("q1"), ChatMessage.from_assistant("a1"), ChatMessage.from_user("q2"),
             ChatMessage.from_assistant("a2")]
    sessions.end(session, turns)
    again = sessions.begin(session.id)
    assert again is session and not again.new and [m.text for m in again.messages] == ["q2", "a2"]
    sessions.end(again)  # an answer that failed keeps the conversation as it was
    assert [m.text for m in session.messages] == ["q2", "a2"] and not session.busy


def test_an_unknown_id_gets_a_new_session_and_the_oldest_is_dropped() -> None:
    sessions = Sessions(max_sessions=2, ttl_seconds=3600)
    first = sessions.create()
    assert sessions.begin("not-issued").id != "not-issued"
    sessions.create()
    assert len(sessions) == 2 and sessions.begin(first.id).id != first.id


def test_the_stream_shows_only_text() -> None:
    shown: list[str] = []
    forward = _only_text(lambda chunk: shown.append(chunk.content))
    assert forward is not None and _only_text(None) is None
    forward(StreamingChunk(content="Hello "))
    forward(StreamingChunk(content="", tool_calls=[ToolCallDelta(index=0, tool_name="list_sites")], index=0))
    forward(StreamingChunk(content="world"))
    assert shown == ["Hello ", "world"]

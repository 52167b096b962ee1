"""The grounded composer: the default "language model" of the chatbot, with no weights.

It is a haystack chat generator, driven by a haystack ``Agent`` exactly like a real model: on the user's
message it plans tool calls (:mod:`services.rag.plan` over the question read by
:mod:`services.rag.question`), the Agent invokes the tools, and on the tool results it writes the answer
(:mod:`services.rag.render`). It writes only what the results contain: numbers from the data-core queries
(cited ``[Q1]``...) and passages of the knowledge base (cited ``[doc-id]``). What it cannot answer it
declines (:mod:`services.rag.scope`), saying what it can answer instead.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from haystack import component
from haystack.dataclasses import ChatMessage, StreamingChunk, ToolCall

from services.rag.citations import collect_tool_results
from services.rag.datacore import DataCoreClient
from services.rag.kb import KnowledgeBase
from services.rag.plan import Answer, Reply, answer_meta, plan
from services.rag.question import Slots
from services.rag.render import render


def to_message(reply: Reply, slots: Slots) -> ChatMessage:
    """The assistant message of a reply; its meta keeps the slots (the next turn's context)."""
    if isinstance(reply, Answer):
        reply = answer_meta(reply, slots)
        return ChatMessage.from_assistant(reply.text, meta={"slots": slots.to_dict(), "declined": reply.declined,
                                                            "citations": reply.citations, "facts": reply.facts,
                                                            "kind": reply.kind, "restated": reply.restated})
    tool_calls = [ToolCall(tool_name=name, arguments={k: v for k, v in args.items() if v is not None},
                           id=uuid.uuid4().hex[:12]) for name, args in reply.calls]
    return ChatMessage.from_assistant(tool_calls=tool_calls, meta={"slots": slots.to_dict(), "step": reply.step})


def previous_slots(messages: list[ChatMessage]) -> Slots | None:
    """The slots of the previous answer in the conversation (before the last message)."""
    for m in reversed(messages[:-1]):
        if m.is_from("assistant") and m.meta.get("slots") and not m.tool_calls:
            return Slots.from_dict(m.meta["slots"])
    return None


@component
class GroundedComposer:
    """A chat generator without a model: plans tool calls from the question, then composes the answer
    from the tool results only."""

    def __init__(self, dc: DataCoreClient, kb: KnowledgeBase) -> None:
        self.dc = dc
        self.kb = kb

    @component.output_types(replies=list[ChatMessage])
    def run(self, messages: list[ChatMessage], tools: Any = None, streaming_callback: Any = None,
            generation_kwargs: dict[str, Any] | None = None) -> dict[str, list[ChatMessage]]:
        results = collect_tool_results(messages)
        user = next((m for m in reversed(messages) if m.is_from("user")), None)
        question = (user.text or "") if user else ""
        planning = next((m for m in reversed(messages) if m.is_from("assistant") and m.tool_calls
                         and m.meta.get("slots")), None) if results else None
        if not results or planning is None:
            slots, reply = plan(question, previous_slots(messages), self.dc, self.kb)
        else:
            slots = Slots.from_dict(planning.meta["slots"])
            reply = render(slots, results, int(planning.meta.get("step", 1)), kb=self.kb, site_ids=self.dc.sites)
        message = to_message(reply, slots)
        if streaming_callback is not None and message.text:
            for piece in re.findall(r"\S+\s*", message.text):
                streaming_callback(StreamingChunk(content=piece))
        return {"replies": [message]}

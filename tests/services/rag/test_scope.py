"""What the chatbot declines: requests of another kind, and questions with no word of the domain that
nothing in the knowledge base is close to (or, without the embedding model, any such question)."""

from __future__ import annotations

import pytest

from services.rag.scope import CAPABILITIES, DECLINE_DENSE, out_of_scope

pytestmark = pytest.mark.unit


class FakeKb:
    def __init__(self, dense: float | None) -> None:
        self.dense = dense
        self.asked: list[str] = []

    def dense_top_score(self, question: str) -> float | None:
        self.asked.append(question)
        return self.dense


def test_a_word_of_the_domain_is_in_scope_without_asking_the_knowledge_base() -> None:
    kb = FakeKb(None)
    assert not out_of_scope("How do we cut boiler gas at night?", kb)  # type: ignore[arg-type]
    assert not out_of_scope("What is the GWP of R-410A?", kb)  # type: ignore[arg-type]
    assert kb.asked == []


def test_requests_of_another_kind_are_declined_even_when_close() -> None:
    assert out_of_scope("Tell me a joke", FakeKb(0.99))  # type: ignore[arg-type]
    assert out_of_scope("Book a meeting room for Tuesday", FakeKb(0.99))  # type: ignore[arg-type]
    # a word of the domain wins over an off-topic one ("marketing" of green tariffs is still about tariffs)
    assert not out_of_scope("marketing claims about our tariff", FakeKb(0.0))  # type: ignore[arg-type]


def test_otherwise_the_knowledge_base_decides() -> None:
    assert not out_of_scope("what should the team discuss on Monday", FakeKb(DECLINE_DENSE + 0.01))  # type: ignore[arg-type]
    assert out_of_scope("who painted the mona lisa", FakeKb(DECLINE_DENSE - 0.01))  # type: ignore[arg-type]
    assert out_of_scope("who painted the mona lisa", FakeKb(None))  # type: ignore[arg-type]  # BM25 only
    assert not out_of_scope("who painted the mona lisa", FakeKb(0.2), decline_dense=0.1)  # type: ignore[arg-type]


def test_a_decline_says_what_can_be_answered() -> None:
    assert "ledger" in CAPABILITIES and "knowledge base" in CAPABILITIES

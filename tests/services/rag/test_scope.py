"""Out of scope by meaning (issue #19): a logistic regression over the question's embedding, trained on the
examples of services/rag/data/scope_examples.yaml, its threshold set on their tune split. A word of the domain
does not let a question through; the questions here are not in the examples (nor in tests/eval)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from services.rag import scope
from services.rag.scope import CAPABILITIES, choose_threshold, classifier_for, load_examples, out_of_scope

pytestmark = pytest.mark.unit


def test_the_examples_are_many_varied_and_split(kb: Any) -> None:
    texts, labels, tune = load_examples()
    assert len(texts) >= 300 and 0.4 < labels.mean() < 0.6 and len(set(texts)) == len(texts)
    assert len(scope.kb_topics(kb)) > 100  # and what the knowledge base covers, for training
    assert 0.2 < tune.mean() < 0.3 and set(labels[tune]) == {0, 1}


def test_the_threshold_separates_the_tune_split() -> None:
    p_in, p_out = np.array([0.01, 0.05, 0.2, 0.3, 0.9]), np.array([0.6, 0.8, 0.95, 0.97])
    assert choose_threshold(p_in, p_out, max_in_declined=0.2) == pytest.approx(0.5)  # all out, 0.9 in declined
    assert choose_threshold(p_in, p_out, max_in_declined=0.0) == pytest.approx(0.9)  # just above 0.9: two out kept
    assert choose_threshold(np.array([0.1, 0.2]), np.array([0.3]), max_in_declined=0.0) == pytest.approx(0.5)


@pytest.mark.parametrize("question", [
    "Which hotel in Vienna has the nicest spa?", "The bathroom tap leaks, what washer do I need?",
    "Suggest a present for my manager's leaving do", "What is the boiling point of ethanol?",
    "Book two train seats to Leeds for Friday", "Which electric bike should I buy for commuting?",
])
def test_requests_of_another_kind_are_declined_even_with_a_domain_word(kb: Any, question: str) -> None:
    assert out_of_scope(question, kb)


@pytest.mark.parametrize("question", [
    "How many MWh of gas did building 40 burn in autumn 2019?", "Rank the sites by scope 1 in 2020",
    "What is a location-based emission factor?", "Ways to cut the night-time electricity baseload",
    "Which emission factor applies to petrol cars?", "Carbon per square metre for b2 last year",
])
def test_questions_of_the_domain_are_kept(kb: Any, question: str) -> None:
    assert not out_of_scope(question, kb)


def test_the_classifier_is_trained_once_and_reports_its_tune_figures(kb: Any) -> None:
    c = classifier_for(kb)
    assert c is classifier_for(kb) and c.model is not None
    assert 0.5 <= c.model.threshold < 1.0 and c.model.tune_in_declined <= scope.MAX_IN_DECLINED
    assert c.model.tune_out_declined >= 0.8


def test_without_the_embedding_model_nothing_is_declined_as_out_of_scope() -> None:
    class NoModel:
        model = None

    assert scope.ScopeClassifier(NoModel()).out_of_scope("tell me a joke") is False  # type: ignore[arg-type]
    assert "energy use" in CAPABILITIES and "emissions" in CAPABILITIES


def test_a_complete_data_question_needs_the_tuned_threshold_an_open_one_the_looser_one(kb: Any) -> None:
    """Two thresholds, both set on the tune split of the examples: a question the reader found a measure and a
    period in is declined only above the strict one; any other one above the open one (a looser precision bar)."""
    c = classifier_for(kb)
    assert c.model is not None and 0.5 <= c.model.open_threshold < c.model.threshold
    assert c.model.open_in_declined <= scope.OPEN_MAX_IN_DECLINED and c.model.open_out_declined >= 0.85
    between = "Which hotel should I book in Rome?"
    p = c.p_out(between)
    assert p is not None
    saved = (c.model.threshold, c.model.open_threshold)
    try:
        c.model.threshold, c.model.open_threshold = min(p + 0.01, 0.999), max(p - 0.01, 0.0)
        assert c.out_of_scope(between) and not c.out_of_scope(between, data_question=True)
    finally:
        c.model.threshold, c.model.open_threshold = saved


@pytest.mark.parametrize("question", [
    "Which country burns the most coal?", "How much does a new heat pump cost for a semi-detached house?",
    "What share of French electricity is nuclear?", "Who built the first wind turbine?",
])
def test_world_energy_facts_are_declined(kb: Any, question: str) -> None:
    """Energy and climate facts about the world, not the organisation's data nor the method (requests to act on
    the organisation's buildings: services/rag/action.py, tests/services/rag/test_action.py)."""
    assert out_of_scope(question, kb)

"""Requests to act (issue #19): an instruction to operate, book, buy, pay or send something particular is
declined, a general measure phrased as an instruction and a data question are not. None of these questions is
in tests/eval."""

from __future__ import annotations

from typing import Any

import pytest

from services.rag.action import action_request
from services.rag.plan import Answer, plan
from services.rag.question import parse
from tests.services.rag.conftest import ACTS, SITES, YM
from tests.services.rag.test_plan import FakeDataCore

pytestmark = pytest.mark.unit


def act(q: str) -> bool:
    return action_request(q, parse(q, sites=SITES, activity_types=ACTS, year_months=YM))


@pytest.mark.parametrize("question", [
    "Please switch the lights in b33 off at 7pm", "Could you shut down the boiler at b2 for the weekend?",
    "Book me a hotel in Cardiff for Thursday", "Email our energy broker tomorrow about the renewal",
    "Order 12 new thermostats for the b5 plant room", "Can you pay b91's electricity invoice this week?",
    "Reset the meter in the boiler room", "Cancel my train to York", "Buy a new kettle for the staff room",
    "Book a venue for the sustainability away day",
])
def test_a_request_to_act_on_something_particular_is_one(question: str) -> None:
    assert act(question)


@pytest.mark.parametrize("question", [
    "switch off idle engines after two minutes", "replace old fluorescent tubes with LEDs",
    "Order b2, b5 and b33 by gas use in 2020", "Change in b5's gas use from 2019 to 2020",
    "Show b33's electricity month by month for 2020", "How do we turn the heating down at b2 without complaints?",
    "Give me the peak demand of b0 in January 2020", "Open alerts at b33",
])
def test_measures_phrased_as_instructions_and_data_questions_are_not(question: str) -> None:
    assert not act(question)


def test_a_request_to_act_is_declined_before_any_query(kb: Any) -> None:
    _s, reply = plan("Turn the chiller in b91 off tonight", None, FakeDataCore(), kb)  # type: ignore[arg-type]
    assert isinstance(reply, Answer) and reply.declined and reply.kind == "decline" and "can't do that" in reply.text

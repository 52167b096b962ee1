"""Reading questions: intent, scopes, methods and follow-ups (the cases a wrong reading would turn into a
silently wrong number). Periods are in test_period.py, sites and activities in test_entities.py."""

from __future__ import annotations

import pytest

from services.rag.question import Slots, merge_follow_up, parse
from tests.services.rag.conftest import ACTS, SITES, YM

pytestmark = pytest.mark.unit

def p(q: str) -> Slots:
    return parse(q, sites=SITES, activity_types=ACTS, year_months=YM)


@pytest.mark.parametrize(("question", "scopes"), [
    ("scope 1 and 2 in 2020", [1, 2]), ("scopes 1, 2 and 3", [1, 2, 3]), ("scope 1 + 2", [1, 2]),
    ("scope two emissions", [2]),
])
def test_scopes(question: str, scopes: list[int]) -> None:
    assert p(question).scopes == scopes


def test_a_question_reads_its_sites_periods_and_dates() -> None:
    s = p("why is building 33 on alert?")
    assert s.sites == ["b33"] and s.intent == "alerts"
    q = p("b2 gas emissions in March 2020 vs 2019-02-29")
    assert q.sites == ["b2"] and q.activity_types == ["natural_gas"] and q.invalid_dates == ["2019-02-29"]
    assert [x.label for x in q.periods] == ["March 2020"]


def test_greetings_and_top_questions() -> None:
    assert p("hello").intent == "greeting"
    top = p("top 3 sites in 2020")
    assert top.intent == "top" and top.top_n == 3
    assert p("which site emitted the most in 2020?").intent == "top"
    assert p("which sites do we have?").intent == "list_sites"


def test_slots_survive_the_round_trip_through_a_message() -> None:
    s = p("b2 gas emissions in Q1 2020")
    again = Slots.from_dict(s.to_dict())
    assert again.to_dict() == s.to_dict() and again.periods[0].label == "Q1 2020"


def test_data_questions_worded_like_definitions_still_get_numbers() -> None:
    assert p("What is b33's gas consumption in 2020?").intent == "totals"
    assert p("What are the scope 1 emissions of b33 in 2020?").intent == "totals"
    assert p("What is scope 2?").intent == "kb"


def test_follow_ups_keep_and_replace_the_right_slots() -> None:
    gas_2019 = p("b2 gas emissions in 2019")
    april = merge_follow_up(p("And in April?"), gas_2019)
    assert [x.label for x in april.periods] == ["April 2019"] and april.sites == ["b2"]
    scope2 = merge_follow_up(p("And scope 2?"), gas_2019)
    assert scope2.scopes == [2] and scope2.activity_types == [] and scope2.sites == ["b2"]
    org = merge_follow_up(p("And the total for the organisation?"), gas_2019)
    assert org.sites == []
    alerts = merge_follow_up(p("Are there any alerts?"), gas_2019)
    assert alerts.intent == "alerts" and alerts.sites == []
    other = merge_follow_up(p("what about b33?"), gas_2019)
    assert other.sites == ["b33"] and other.activity_types == ["natural_gas"] and other.intent == "totals"
    no_site = merge_follow_up(p("What should we do about it?"), p("What were total emissions in 2020?"))
    assert no_site.intent == "kb"  # no site to recommend for: measures in general
    unrelated = merge_follow_up(p("What is scope 2?"), gas_2019)
    assert unrelated.intent == "kb"


def test_location_versus_market_is_not_a_comparison_of_years() -> None:
    s = p("compare scope 2 location vs market in 2020")
    assert s.intent == "totals" and s.both_methods and [x.label for x in s.periods] == ["2020"]

"""Reading questions: periods, sites, scopes, activities and follow-ups (the cases a wrong reading would turn
into a silently wrong number)."""

from __future__ import annotations

from typing import Any

import pytest

from services.rag.parse import Slots, merge_follow_up, parse

pytestmark = pytest.mark.unit

SITES: dict[str, dict[str, Any]] = {f"b{i}": {"name": f"Building b{i}"} for i in (0, 2, 5, 33, 91)} | {
    "us-liaison": {"name": "US liaison office"}, "estates-fleet": {"name": "Estates vehicle fleet"}}
ACTS = ["electricity", "natural_gas", "vehicle_diesel", "vehicle_gasoline", "air_travel_short_haul",
        "air_travel_long_haul", "rail_travel_national", "hotel_stay", "freight_hgv", "purchased_goods"]
YM = [(y, m) for y in (2019, 2020) for m in range(1, 13)]


def p(q: str) -> Slots:
    return parse(q, sites=SITES, activity_types=ACTS, year_months=YM)


@pytest.mark.parametrize(("question", "start", "end"), [
    ("emissions in March 2020", "2020-03-01", "2020-04-01"),
    ("emissions in March", "2020-03-01", "2020-04-01"),  # the newest March with data
    ("in March of 2019 what did b2 emit", "2019-03-01", "2019-04-01"),
    ("Q4 2019 emissions", "2019-10-01", "2020-01-01"),
    ("quarter 4 of 2019 emissions", "2019-10-01", "2020-01-01"),
    ("emissions in the first half of 2020", "2020-01-01", "2020-07-01"),
    ("emissions from dec 2019 to jan 2020", "2019-12-01", "2020-02-01"),
    ("emissions between march and may 2020", "2020-03-01", "2020-06-01"),
    ("emissions on 2020-03-15", "2020-03-15", "2020-03-16"),
    ("emissions on 5 March 2020", "2020-03-05", "2020-03-06"),
    ("emissions in 2019-2020", "2019-01-01", "2021-01-01"),
    ("emissions since March 2020", "2020-03-01", "2021-01-01"),
    ("year to March 2020 emissions", "2020-01-01", "2020-04-01"),
    ("emissions last month", "2020-12-01", "2021-01-01"),
    ("emissions over the last 12 months", "2020-01-01", "2021-01-01"),
    ("emissions last year", "2020-01-01", "2021-01-01"),  # the newest year with data, named in the answer
])
def test_periods(question: str, start: str, end: str) -> None:
    periods = p(question).periods
    assert len(periods) == 1, [x.label for x in periods]
    assert periods[0].start.isoformat()[:10] == start and periods[0].end.isoformat()[:10] == end


def test_may_as_a_verb_and_months_inside_words_are_not_periods() -> None:
    assert p("how may we cut gas at b2?").periods == []
    assert p("what marches up our scope 1?").periods == []


def test_an_impossible_date_is_refused_not_read_as_no_period() -> None:
    assert p("b2 emissions on 2019-02-29").invalid_dates == ["2019-02-29"]
    assert p("b2 emissions on 31 april 2020").invalid_dates


@pytest.mark.parametrize(("question", "scopes"), [
    ("scope 1 and 2 in 2020", [1, 2]), ("scopes 1, 2 and 3", [1, 2, 3]), ("scope 1 + 2", [1, 2]),
    ("scope two emissions", [2]),
])
def test_scopes(question: str, scopes: list[int]) -> None:
    assert p(question).scopes == scopes


def test_sites_known_unknown_and_not_sites() -> None:
    s = p("why is building 33 on alert?")
    assert s.sites == ["b33"] and s.intent == "alerts"
    assert p("what about b999?").unknown_sites == ["b999"]
    assert p("emissions of site London in 2020").unknown_sites == ["london"]
    assert p("the Paris office emissions 2020").unknown_sites == ["paris"]
    assert p("emissions by site 2020").unknown_sites == []
    assert p("emissions of the estates vehicle fleet in 2020").sites == ["estates-fleet"]


def test_activities_most_specific_wins() -> None:
    assert p("long-haul flight emissions in 2020").activity_types == ["air_travel_long_haul"]
    assert p("what did the diesel vans emit?").activity_types == ["vehicle_diesel"]
    assert sorted(p("flights in 2019").activity_types) == ["air_travel_long_haul", "air_travel_short_haul"]
    assert p("heating emissions of b2").activity_types == ["natural_gas"]
    assert p("business travel in 2019").category == 6


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

"""The question model of issue #19: what a question measures, how it aggregates, which sites and periods, and
what is asked back; the restatement an answer starts with. Phrasings are written for these tests (not from
tests/eval)."""

from __future__ import annotations

from typing import Any

import pytest

from services.rag.question import Slots, merge_follow_up, parse
from services.rag.restate import co2e, energy, kind_of, num, restated
from tests.services.rag.conftest import ACTS, SITES, YM

pytestmark = pytest.mark.unit
TAGGED = SITES | {"b7": {"name": "Building b7", "tags": ["labs"]}, "b8": {"name": "Building b8", "tags": ["labs"]}}


def p(q: str) -> Slots:
    return parse(q, sites=TAGGED, activity_types=ACTS, year_months=YM)


@pytest.mark.parametrize(("question", "measure", "extra"), [
    ("kilowatt hours of electricity consumed by b5 in May 2020", "energy", {"unit": "kWh"}),
    ("b2's gas burn for 2019 in GWh", "energy", {"unit": "GWh", "activity_types": ["natural_gas"]}),
    ("maximum electric load at b33 in Q4 2019", "demand", {"stat": "peak"}),
    ("typical kW drawn by b0's gas supply in 2020", "demand", {"stat": "avg", "activity_types": ["natural_gas"]}),
    ("kg of CO2e from b91 during June 2019", "emissions", {"unit": "kg"}),
    ("how many tonnes did rail trips emit in 2020", "emissions", {"unit": "t"}),
    ("kWh per m2 of b5 for 2019", "intensity", {"intensity_of": "energy"}),
    ("kg CO2e per square metre at b2 in 2020", "intensity", {"intensity_of": "emissions"}),
    ("which emission factor is applied to petrol in 2020?", "factor", {}),
])
def test_the_measure_and_its_unit(question: str, measure: str, extra: dict[str, Any]) -> None:
    s = p(question)
    assert s.measure == measure, question
    for key, value in extra.items():
        assert getattr(s, key) == value, (question, key)


@pytest.mark.parametrize(("question", "intent", "extra"), [
    ("the two buildings with the smallest gas use in 2019", "top", {"order": "bottom", "top_n": 2}),
    ("which building drew the most electricity in March 2020?", "top", {"order": "top", "top_n": 1}),
    ("rank every site by scope 2 emissions for 2020, top 6", "top", {"top_n": 6, "by_what": "site"}),
    ("b0 electricity month by month in 2019", "breakdown", {"by_what": "month"}),
    ("quarterly gas use of b2 in 2020", "breakdown", {"by_what": "quarter"}),
    ("2020 emissions per site", "breakdown", {"by_what": "site"}),
    ("b5 against b33 electricity use in 2020", "compare", {"sites": ["b5", "b33"]}),
    ("gas at b2 and b5 together in 2019", "totals", {"sites": ["b2", "b5"]}),
    ("did b0 use more gas in 2020 than in 2019?", "compare", {}),
])
def test_the_aggregation(question: str, intent: str, extra: dict[str, Any]) -> None:
    s = p(question)
    assert s.intent == intent, question
    for key, value in extra.items():
        assert getattr(s, key) == value, (question, key)


def test_sites_by_tag_by_name_or_all() -> None:
    labs = p("electricity of the labs-tagged buildings in 2019")
    assert labs.tag == "labs" and labs.sites == ["b7", "b8"] and not labs.all_sites
    office = p("what did the US office emit in 2020?")
    assert office.sites == ["us-liaison"]
    estate = p("gas use of the estate in 2020")
    assert estate.all_sites and estate.sites == []
    for q in ("how much gas did our labs buildings burn in 2019?", "electricity of the sites in the labs group, 2020",
              "the whole labs estate's emissions in 2020"):  # a tag word qualifying the sites, not said "tagged"
        assert p(q).tag == "labs" and p(q).sites == ["b7", "b8"], q
    assert p("tips to save gas in labs").tag is None  # the word alone is not a group


def test_slots_inferred_from_weak_evidence_are_asked_back() -> None:
    from services.rag.measure import clarification

    def ask(q: str) -> str | None:
        s = p(q)
        return clarification(s, q, first_month="January 2019", last_month="December 2020")

    assert (ask("electricity used by b2 in March") or "").startswith("March of which year?")
    assert ask("electricity used by b2 between Q1 and Q2 2020") is None  # the year said once, for both
    assert "no data on cost" in (ask("what did b2's electricity cost in 2020?") or "")
    assert ask("electricity used by b2 in March 2020") is None


def test_relative_periods_are_resolved_against_the_newest_data() -> None:
    quarter = p("gas of b2 last quarter").periods[0]
    assert quarter.relative and quarter.label == "Q4 2020" and "(the last quarter with data)" in restated(
        p("gas of b2 last quarter"))
    two = p("emissions over the past two years").periods[0]
    assert two.relative and (two.start.year, two.end.year) == (2019, 2021)
    assert [x.label for x in p("did scope 1 emissions fall from 2019 to 2020?").periods] == ["2019", "2020"]  # a verb
    assert p("gas of b2 in winter 2019/20").periods[0].start.isoformat() == "2019-12-01T00:00:00"
    assert p("what did the gas add up to in 2020?").periods[0].label == "2020"
    winter = p("gas of b2 last winter").periods[0]
    assert winter.relative and winter.start.isoformat() == "2019-12-01T00:00:00"


def test_periods_seasons_day_ranges_and_relative_ones() -> None:
    winter = p("gas used by b2 in winter 2020").periods[0]
    assert (winter.start.isoformat(), winter.end.isoformat()) == ("2019-12-01T00:00:00", "2020-03-01T00:00:00")
    days = p("electricity of b5 from 3 to 9 February 2020").periods[0]
    assert (days.start.day, days.end.day) == (3, 10)
    last = p("electricity of b5 last month").periods[0]
    assert last.relative and last.label == "December 2020"
    assert "(the last month with data)" in restated(p("electricity of b5 last month"))
    assert "(the latest year with data" in restated(p("gas use of b0 last year"))


def test_explanations_stay_explanations() -> None:
    for q in ("why would the market-based figure be lower?", "explain how scope 2 is counted",
              "how do solar panels change our scope 2?", "tips to save gas in labs"):
        assert p(q).intent == "kb", q


def test_a_follow_up_keeps_the_measure_and_replaces_the_period() -> None:
    first = p("peak electricity demand of b2 in 2019")
    then = merge_follow_up(p("and in 2020?"), first)
    assert then.measure == "demand" and then.stat == "peak" and [x.label for x in then.periods] == ["2020"]
    other = merge_follow_up(p("what about its emissions?"), first)
    assert other.measure == "emissions" and other.sites == ["b2"]


def test_restatements_and_kinds() -> None:
    assert restated(p("How much electricity did b5 use in May 2020?")) == "Electricity use of b5, May 2020"
    assert restated(p("peak gas demand at b33 in 2019")) == "Peak gas demand of b33, 2019"
    assert restated(p("the 3 sites with most scope 1 in 2020")) == "Top 3 sites by scope 1 emissions, 2020"
    assert restated(p("b2 vs b5 gas use in March 2019")) == "Gas use, b2 vs b5, March 2019"
    assert restated(p("market-based scope 2 of b0 in Q1 2020")) == "Scope 2 emissions (market-based) of b0, Q1 2020"
    assert kind_of(p("b2 vs b5 gas use in March 2019")) == "compare"
    assert kind_of(p("b0 electricity by month in 2019")) == "breakdown"
    assert kind_of(p("what is scope 3?")) == "explain"
    assert kind_of(p("gas of b2 in 2020"), declined=True) == "decline"


@pytest.mark.parametrize(("value", "text"), [(1234567.8, "1,234,568"), (123.456, "123.5"), (12.3456, "12.35"),
                                             (1.23456, "1.235"), (0.0123456, "0.01235"), (0, "0")])
def test_numbers_keep_four_significant_digits(value: float, text: str) -> None:
    assert num(value) == text


def test_units() -> None:
    assert energy(1_234_567.0, "MWh") == "1,235 MWh" and energy(5.0, "kWh") == "5.000 kWh"
    assert co2e(12_345.0) == "12.35 t CO2e" and co2e(12.5, "kg") == "12.50 kg CO2e"


def test_location_and_market_based_together() -> None:
    from services.rag.measure_plan import measure_calls

    s = p("scope 2 of b5 in 2020, location versus market based")
    assert [a["method"] for _n, a in measure_calls(s)] == ["location", "market"]
    assert restated(s) == "Scope 2 emissions (location- and market-based) of b5, 2020"


def test_advice_questions_are_explained_and_questions_leaning_on_an_earlier_one_asked_back() -> None:
    from services.rag.measure import clarification, vague

    for q in ("would moving the vans to biodiesel lower our scope 1", "is heat recovery worth it for us?",
              "What are our options to decarbonise deliveries by van?"):
        assert p(q).intent == "kb", q
    for q in ("and electricity?", "Was the rise significant?", "What was the peak?", "Is the other one higher?",
              "Compare the buildings.", "How much did the lab use?"):
        s = p(q)
        assert s.intent != "kb" or vague(s, q), q
        assert clarification(s, q, first_month="January 2019", last_month="December 2020"), q
    assert not vague(p("What is the difference between kW and kWh?"), "What is the difference between kW and kWh?")


@pytest.mark.parametrize(("question", "intent", "extra"), [
    ("b0 or b5: which used more gas in May 2020?", "compare", {"sites": ["b0", "b5"]}),
    ("Split b0, b2 and b5's electricity by building for May 2020", "breakdown", {"by_what": "site"}),
    ("the total electricity of b0, b2 and b5 in 2020", "totals", {"sites": ["b0", "b2", "b5"]}),
    ("Split b91's 2020 gas into quarters", "breakdown", {"by_what": "quarter"}),
    ("Normalised by floor area, what did b2 emit in 2020?", "totals", {"measure": "intensity"}),
    ("What was the single biggest gas user in 2019?", "top", {"top_n": 1}),
    ("Which sites had the least gas in 2020? The bottom four.", "top", {"top_n": 4, "order": "bottom"}),
])
def test_aggregations_read_from_the_words_around_the_sites(question: str, intent: str, extra: dict[str, Any]) -> None:
    s = p(question)
    assert s.intent == intent and all(getattr(s, k) == v for k, v in extra.items()), (s.intent, s.sites, s.by_what)


def test_periods_said_combined_are_one_span_and_tag_forms() -> None:
    s = p("b2's electricity over 2019 and 2020 combined")
    assert s.intent == "totals" and [(x.start.year, x.end.year) for x in s.periods] == [(2019, 2021)]
    floors = SITES | {"b7": {"name": "Building b7", "tags": ["floors:3"]}, "b8": {"name": "Building b8", "tags": ["floors:3"]}}
    for q in ("gas of the 3-storey buildings in 2020", "gas of our buildings with three floors in 2020"):
        s = parse(q, sites=floors, activity_types=ACTS, year_months=YM)
        assert s.tag == "floors:3" and s.sites == ["b7", "b8"] and s.intent == "totals", q
    s = p("electricity of the sites tagged labs in 2020")
    assert s.tag == "labs" and s.sites == ["b7", "b8"] and s.intent == "totals"


def test_misspelt_measure_words_and_carbon_as_a_cost() -> None:
    from services.rag.measure import clarification

    s = p("how much leccy did b5 use in May 2020")
    assert s.measure == "energy" and s.activity_types == ["electricity"]
    assert p("elecricity of b2 in 2019").activity_types == ["electricity"]
    carbon = p("how much CO2e did business flights cost us in 2019")
    assert carbon.measure == "emissions" and clarification(carbon, carbon.text, first_month="January 2019",
                                                           last_month="December 2020") is None
    money = p("what did b2's electricity cost in 2019")
    assert "no data on cost" in (clarification(money, money.text, first_month="January 2019",
                                               last_month="December 2020") or "")

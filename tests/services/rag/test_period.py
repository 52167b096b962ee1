"""Reading the periods a question names (a wrong period is a silently wrong number): months, ranges,
quarters, halves, days, spans relative to the newest data, and impossible dates refused."""

from __future__ import annotations

import pytest

from services.rag.period import Period, invalid_dates, month_period, parse_periods
from tests.services.rag.conftest import YM

pytestmark = pytest.mark.unit


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
    periods = parse_periods(question, YM)
    assert len(periods) == 1, [x.label for x in periods]
    assert periods[0].start.isoformat()[:10] == start and periods[0].end.isoformat()[:10] == end


def test_may_as_a_verb_and_months_inside_words_are_not_periods() -> None:
    assert parse_periods("how may we cut gas at b2?", YM) == []
    assert parse_periods("what marches up our scope 1?", YM) == []


def test_an_impossible_date_is_refused_not_read_as_no_period() -> None:
    assert invalid_dates("b2 emissions on 2019-02-29") == ["2019-02-29"]
    assert invalid_dates("b2 emissions on 31 april 2020") == ["31 april 2020"]
    assert invalid_dates("b2 emissions on 2020-02-29 and 5 March 2020") == []


def test_two_periods_in_the_order_they_are_named() -> None:
    assert [x.label for x in parse_periods("2020 compared with 2019", YM)] == ["2020", "2019"]


def test_without_data_a_month_without_its_year_is_not_guessed() -> None:
    assert parse_periods("emissions in March", []) == []
    assert [x.label for x in parse_periods("emissions in March 2020", [])] == ["March 2020"]


def test_the_previous_period_and_a_follow_up_year() -> None:
    march = month_period(2020, 3)
    assert march.previous() == Period(month_period(2019, 3).start, month_period(2019, 3).end, "March 2019")
    leap_day = Period(march.start.replace(month=2, day=29), march.start, "29 February 2020")
    assert leap_day.previous().end == leap_day.start  # no 29 February 2019: the day before
    assert march.with_year(2018).label == "March 2018" and march.with_year(2018).start.year == 2018
    assert march.params() == {"start": "2020-03-01T00:00:00", "end": "2020-04-01T00:00:00"}


@pytest.mark.parametrize(("question", "start", "end", "note"), [
    ("gas in the closing quarter on record", None, None, None),  # not a way of saying it: no period
    ("gas in the final quarter on record", "2020-10-01", "2021-01-01", None),
    ("scope 1 for the most recent full month", "2020-12-01", "2021-01-01", None),
    ("electricity in the latest year we have data for", "2020-01-01", "2021-01-01", None),
    ("gas in the quarter before last", "2020-07-01", "2020-10-01", "the quarter before the last quarter with data"),
    ("electricity in the month before last", "2020-11-01", "2020-12-01", "the month before the last month with data"),
    ("scope 2 in the year before last", "2019-01-01", "2020-01-01", "the year before the latest year with data"),
    ("gas in the last quarter of 2019", "2019-10-01", "2020-01-01", None),
])
def test_other_ways_of_naming_the_newest_periods(question: str, start: str | None, end: str | None,
                                                 note: str | None) -> None:
    periods = parse_periods(question, YM)
    if start is None:
        assert periods == []
        return
    assert [(p.start.date().isoformat(), p.end.date().isoformat()) for p in periods] == [(start, end)]
    assert periods[0].note == note and periods[0].relative == (question != "gas in the last quarter of 2019")


def test_a_change_between_the_same_month_of_two_years_is_two_months_and_day_ranges_say_the() -> None:
    two = parse_periods("the change in gas from December 2019 to December 2020", YM)
    assert [p.label for p in two] == ["December 2019", "December 2020"]
    assert [p.label for p in parse_periods("gas from December 2019 to December 2020", YM)] == [
        "December 2019 to December 2020"]  # no change asked: the 13-month span
    days = parse_periods("gas between the 3rd and the 9th of May 2020", YM)
    assert [(p.start.day, p.end.day) for p in days] == [(3, 10)]


def test_a_week_of_a_month() -> None:
    first = parse_periods("gas in the second week of March 2020 (8th to 14th)", YM)
    assert [(p.start.day, p.end.day, p.start.month) for p in first] == [(8, 15, 3)]
    last = parse_periods("gas in the final week of February 2020", YM)
    assert [(p.start.day, p.end.month, p.end.day) for p in last] == [(23, 3, 1)]

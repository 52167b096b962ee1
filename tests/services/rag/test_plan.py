"""Planning: which tool calls answer a parsed question, and which questions are answered (declined) without
any: the data core down, an impossible date, an unknown site, a greeting, a question outside the domain."""

from __future__ import annotations

import re
from typing import Any

import pytest

from services.common.errors import ServiceUnavailable
from services.rag.measure_plan import measure_calls
from services.rag.plan import Answer, Calls, data_calls, plan, unknown_site_text
from services.rag.question import Slots, parse
from tests.services.rag.conftest import ACTS, SITES, YM

pytestmark = pytest.mark.unit


class FakeDataCore:
    def __init__(self, down: bool = False) -> None:
        self.down = down

    def _check(self) -> None:
        if self.down:
            raise ServiceUnavailable("the data-core is unreachable: ConnectError")

    def sites(self) -> dict[str, dict[str, Any]]:
        self._check()
        return SITES

    def activity_types(self) -> list[str]:
        self._check()
        return ACTS

    def year_months(self) -> list[tuple[int, int]]:
        self._check()
        return YM


def ask(question: str, previous: Slots | None = None, *, down: bool = False, kb: Any = None
        ) -> tuple[Slots, Answer | Calls]:
    return plan(question, previous, FakeDataCore(down), kb)  # type: ignore[arg-type]


def calls(question: str) -> list[tuple[str, dict[str, Any]]]:
    """The calls plan() makes for a data question: the measure's (issue #19) or the older intents'."""
    s = parse(question, sites=SITES, activity_types=ACTS, year_months=YM)
    return measure_calls(s) if s.measure and s.intent in ("totals", "top", "compare", "breakdown") else data_calls(s)


def test_a_total_queries_the_period_scope_and_site() -> None:
    (name, args), = calls("b2 scope 1 emissions in March 2020")
    assert name == "emissions_totals"
    assert args == {"start": "2020-03-01T00:00:00", "end": "2020-04-01T00:00:00", "scope": [1], "site": ["b2"],
                    "method": "location", "group_by": "scope", "prorate": True}  # a month: longer rows by their share


def test_scope_2_is_location_based_unless_market_based_is_asked() -> None:
    assert [a["method"] for _n, a in calls("scope 2 emissions in 2020")] == ["location"]
    assert [a["method"] for _n, a in calls("market-based scope 2 emissions in 2020")] == ["market"]


def test_a_comparison_queries_the_older_period_first() -> None:
    first, second = calls("compare 2020 with 2019 emissions")
    assert first[1]["start"].startswith("2019") and second[1]["start"].startswith("2020")


def test_two_sites_side_by_side_and_intensity_per_site() -> None:
    (name, args), = calls("b2 vs b5 emissions in 2020")
    assert name == "emissions_totals" and args["site"] == ["b2", "b5"] and args["group_by"] == "site"
    intensity = calls("carbon intensity per m2 of b2 in 2020")
    assert [n for n, _a in intensity] == ["emissions_totals", "site_info"] and intensity[1][1] == {"site": "b2"}


def test_rankings_alerts_recommendations_and_sites() -> None:
    (name, args), = calls("which site emitted the most in 2020?")
    assert name == "emissions_totals" and args["group_by"] == "site" and "site" not in args
    (name, args), = calls("top 3 activities at b2 in 2019")
    assert name == "emissions_totals" and args["group_by"] == "activity_type" and args["site"] == ["b2"]
    assert calls("why is b33 on alert?") == [("site_alerts", {"site": "b33"})]
    assert calls("what should we do about gas at b2?") == [
        ("recommend_actions", {"site": "b2", "activity_type": "natural_gas", "category": None, "top_k": 5})]
    assert calls("which sites do we have?") == [("list_sites", {})]
    assert calls("how big is b5?") == [("site_info", {"site": "b5"})]


def test_consumption_and_demand_come_from_the_readings() -> None:
    (name, args), = calls("kWh of power used at building 5 over August 2019")
    assert name == "consumption" and args["site"] == ["b5"] and args["activity_type"] == ["electricity"]
    assert args["demand"] is False and args["start"] == "2019-08-01T00:00:00"
    (name, args), = calls("the highest hourly load of b91's gas in 2020")
    assert name == "consumption" and args["demand"] is True and args["activity_type"] == ["natural_gas"]
    (name, args), = calls("the 4 buildings using the least gas in 2020")
    assert name == "consumption" and args["group_by"] == "site" and "site" not in args
    (name, args), = calls("quarterly electricity consumption of b0 during 2019")
    assert args["group_by"] == "quarter"
    older, newer = calls("b2 electricity used in summer 2020 against summer 2019")
    assert older[1]["start"] == "2019-06-01T00:00:00" and newer[1]["start"] == "2020-06-01T00:00:00"


def test_a_follow_up_about_it_recommends_for_the_hotspot(kb: Any) -> None:
    previous = Slots(intent="alerts", sites=["b33"], hotspot_id="h1")
    slots, reply = ask("what should we do about it?", previous, kb=kb)
    assert slots.intent == "recommend"
    assert isinstance(reply, Calls) and reply.calls == [("recommend_actions", {"hotspot_id": "h1", "top_k": 5})]


def test_answers_without_a_query(kb: Any) -> None:
    _s, hello = ask("hello", kb=kb)
    assert isinstance(hello, Answer) and hello.text.startswith("Hello.") and not hello.declined
    _s, date = ask("b2 emissions on 2019-02-29", kb=kb)
    assert isinstance(date, Answer) and date.declined and "'2019-02-29' is not a date" in date.text
    _s, site = ask("emissions of b999 in 2020", kb=kb)
    assert isinstance(site, Answer) and site.declined and "'b999'" in site.text and "b33" in site.text
    _s, half = ask("compare the electricity of b2 and b999 in 2020", kb=kb)  # not half answered for b2 alone
    assert isinstance(half, Answer) and half.declined and "'b999'" in half.text


def test_with_the_data_core_down_numbers_are_refused_and_knowledge_still_answers(kb: Any) -> None:
    _s, numbers = ask("our scope 1 emissions in 2020", down=True, kb=kb)
    assert isinstance(numbers, Answer) and numbers.declined and "could not reach the data core" in numbers.text
    _s, knowledge = ask("how do heat pumps work?", down=True, kb=kb)
    assert isinstance(knowledge, Calls) and knowledge.calls[0][0] == "search_knowledge_base"


def test_knowledge_questions_search_and_off_topic_ones_are_declined(kb: Any) -> None:
    _s, search = ask("how do heat pumps cut gas use?", kb=kb)
    assert isinstance(search, Calls) and search.calls == [
        ("search_knowledge_base", {"query": "how do heat pumps cut gas use?", "top_k": 5})]
    for question in ("tell me a joke", "which hotel near the Louvre has the best breakfast?",
                     "my kitchen tap drips all night, how do I fix it?"):
        _s, off = ask(question, kb=kb)
        assert isinstance(off, Answer) and off.declined and off.kind == "decline", question


def test_missing_or_ambiguous_slots_are_asked_back(kb: Any) -> None:
    for question, asked in [("how much electricity did b5 use?", "For which period?"),
                            ("what was the demand at b2 in March 2020?", "average demand"),
                            ("what did that building emit in 2019?", "Which building"),
                            ("energy intensity of the estate in 2020", "which building")]:
        _s, reply = ask(question, kb=kb)
        assert isinstance(reply, Answer) and reply.kind == "clarify" and asked in reply.text, question
        assert not re.search(r"\d (?:kWh|MWh|kW|t CO2e)", reply.text), question  # no number given
    for question in ("how are we getting on?", "is this high?"):  # no topic: asked back or declined, no number
        _s, vague = ask(question, kb=kb)
        assert isinstance(vague, Answer) and vague.kind in ("clarify", "decline") and "energy use" in vague.text


def test_the_unknown_site_decline_lists_the_known_sites_in_natural_order() -> None:
    text = unknown_site_text(["x"], ["b10", "b2", "a1"] + [f"c{i}" for i in range(70)])
    assert "'x'" in text and "a1, b2, b10, c0" in text and "and 13 more" in text

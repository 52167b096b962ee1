"""Planning: which tool calls answer a parsed question, and which questions are answered (declined) without
any: the data core down, an impossible date, an unknown site, a greeting, a question outside the domain."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.errors import ServiceUnavailable
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


class FakeKb:
    def __init__(self, dense: float | None = 0.9) -> None:
        self.dense = dense

    def dense_top_score(self, question: str) -> float | None:
        return self.dense


def ask(question: str, previous: Slots | None = None, *, down: bool = False, dense: float | None = 0.9
        ) -> tuple[Slots, Answer | Calls]:
    return plan(question, previous, FakeDataCore(down), FakeKb(dense))  # type: ignore[arg-type]


def calls(question: str) -> list[tuple[str, dict[str, Any]]]:
    return data_calls(parse(question, sites=SITES, activity_types=ACTS, year_months=YM))


def test_a_total_queries_the_period_scope_and_site() -> None:
    (name, args), = calls("b2 scope 1 emissions in March 2020")
    assert name == "emissions_totals"
    assert args == {"start": "2020-03-01T00:00:00", "end": "2020-04-01T00:00:00", "scope": [1], "site": ["b2"],
                    "method": "location", "group_by": "scope"}


def test_scope_2_gets_the_market_based_figure_too() -> None:
    methods = [args["method"] for _name, args in calls("scope 2 emissions in 2020")]
    assert methods == ["location", "market"]
    assert [a["method"] for _n, a in calls("market-based scope 2 emissions in 2020")] == ["market"]


def test_a_comparison_queries_the_older_period_first() -> None:
    first, second = calls("compare 2020 with 2019 emissions")
    assert first[1]["start"].startswith("2019") and second[1]["start"].startswith("2020")
    one_period = calls("did emissions change in 2020 compared with the previous year?")
    assert [a["start"][:4] for _n, a in one_period] == ["2019", "2020"]


def test_two_sites_side_by_side_and_intensity_per_site() -> None:
    assert [a["site"] for _n, a in calls("b2 vs b5 emissions in 2020")] == [["b2"], ["b5"]]
    intensity = calls("carbon intensity per m2 of b2 and b5 in 2020")
    assert [n for n, _a in intensity] == ["emissions_totals", "site_info"] and intensity[1][1] == {"site": "b2"}


def test_rankings_alerts_recommendations_and_sites() -> None:
    (name, args), = calls("which site emitted the most in 2020?")
    assert name == "top_contributors" and args["by"] == "site" and args["limit"] == 5
    assert calls("top 3 activities at b2") == [
        ("top_contributors", {"site": ["b2"], "by": "activity_type", "limit": 3, "method": "location"})]
    assert calls("why is b33 on alert?") == [("site_alerts", {"site": "b33"})]
    assert calls("what should we do about gas at b2?") == [
        ("recommend_actions", {"site": "b2", "activity_type": "natural_gas", "category": None, "top_k": 5})]
    assert calls("which sites do we have?") == [("list_sites", {})]
    assert calls("how big is b5?") == [("site_info", {"site": "b5"})]


def test_a_follow_up_about_it_recommends_for_the_hotspot() -> None:
    previous = Slots(intent="alerts", sites=["b33"], hotspot_id="h1")
    slots, reply = ask("what should we do about it?", previous)
    assert slots.intent == "recommend"
    assert isinstance(reply, Calls) and reply.calls == [("recommend_actions", {"hotspot_id": "h1", "top_k": 5})]


def test_answers_without_a_query() -> None:
    _s, hello = ask("hello")
    assert isinstance(hello, Answer) and hello.text.startswith("Hello.") and not hello.declined
    _s, date = ask("b2 emissions on 2019-02-29")
    assert isinstance(date, Answer) and date.declined and "'2019-02-29' is not a date" in date.text
    _s, site = ask("emissions of b999 in 2020")
    assert isinstance(site, Answer) and site.declined and "'b999'" in site.text and "b33" in site.text


def test_with_the_data_core_down_numbers_are_refused_and_knowledge_still_answers() -> None:
    _s, numbers = ask("our scope 1 emissions in 2020", down=True)
    assert isinstance(numbers, Answer) and numbers.declined and "could not reach the data core" in numbers.text
    _s, knowledge = ask("how do heat pumps work?", down=True)
    assert isinstance(knowledge, Calls) and knowledge.calls[0][0] == "search_knowledge_base"


def test_knowledge_questions_search_and_off_topic_ones_are_declined() -> None:
    _s, search = ask("how do heat pumps cut gas use?")
    assert isinstance(search, Calls) and search.calls == [
        ("search_knowledge_base", {"query": "how do heat pumps cut gas use?", "top_k": 5})]
    _s, off = ask("tell me a joke", dense=0.9)
    assert isinstance(off, Answer) and off.declined and off.text.startswith("I don't know")
    _s, far = ask("who painted the mona lisa?", dense=0.1)
    assert isinstance(far, Answer) and far.declined


def test_the_unknown_site_decline_lists_the_known_sites_in_natural_order() -> None:
    text = unknown_site_text(["x"], ["b10", "b2", "a1"] + [f"c{i}" for i in range(70)])
    assert "'x'" in text and "a1, b2, b10, c0" in text and "and 13 more" in text

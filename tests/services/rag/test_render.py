"""Writing the answers that are not a measure from tool results: alerts (with a second round of calls for the
actions), recommendations, the sites, knowledge answers, and declines when a call failed or a result cannot be
read (a measure's answers: test_measure_render.py)."""

from __future__ import annotations

from typing import Any

import pytest

from services.rag.citations import ToolResult
from services.rag.kb import KbDocument
from services.rag.period import month_period
from services.rag.plan import Answer, Calls, Reply
from services.rag.question import Slots
from services.rag.render import render

pytestmark = pytest.mark.unit
MARCH = month_period(2020, 3)


def cite(endpoint: str, **params: Any) -> dict[str, Any]:
    return {"type": "query", "endpoint": endpoint, "params": params, "url": f"http://dc{endpoint}?{params}"}


def totals(kg: float, rows: list[dict[str, Any]] | None = None, **params: Any) -> ToolResult:
    body = {"total_kg_co2e": kg, "rows": [{"scope": 2, "kg_co2e": kg, "rows": 3}] if rows is None else rows,
            "group_by": ["scope"], "ledger_version": 7}
    return ("emissions_totals", params, {"result": body, "citation": cite("/api/v1/emissions/totals", **params)},
            False)


class FakeKb:
    by_id = {"heat-pumps": KbDocument(id="heat-pumps", title="Heat pumps", kind="measure", topic="heating",
                                      body="## What it is\n\nA heat pump  moves heat.\n", path="heat-pumps.md",
                                      meta={"reduction_pct": {"low": 20, "high": 60}, "effort": "high",
                                            "cost": "high", "sources": [{"publisher": "IEA", "title": "Heat"}]})}


def run(s: Slots, *results: ToolResult, step: int = 1) -> Reply:
    return render(s, list(results), step, kb=FakeKb(), site_ids=lambda: ["b2", "b33"])  # type: ignore[arg-type]


def answer(s: Slots, *results: ToolResult) -> Answer:
    reply = run(s, *results)
    assert isinstance(reply, Answer)
    return reply


def test_a_data_question_without_a_measure_is_not_answered_here() -> None:
    """Numbers are written by services/rag/measure_render.py from the measure; without one, no number."""
    a = answer(Slots(intent="totals", scopes=[2], periods=[MARCH]), totals(2000.0, method="location"))
    assert a.declined and "I don't know how to answer that" in a.text and not a.facts


def site_info(area: float | None) -> ToolResult:
    site = {"id": "b2", "name": "Building 2", "country": "GB", "grid_region": "GB", "floor_area_m2": area}
    return "site_info", {"site": "b2"}, {"result": site, "citation": cite("/api/v1/sites/b2")}, False


def test_site_info() -> None:
    info = answer(Slots(intent="site_info", sites=["b2"]), site_info(2000.0))
    assert info.text == "b2 (Building 2): country GB, grid region GB, floor area 2,000 m2 [Q1]."


def alerts_result(*alerts: dict[str, Any]) -> ToolResult:
    return "site_alerts", {}, {"result": {"alerts": list(alerts)}, "citation": cite("/api/v1/alerts")}, False


HOTSPOT = {"id": "h1", "kind": "above_expected", "site": "b33", "activity_type": "natural_gas", "severity": "high",
           "period_start": "2020-03-02T00:00:00", "period_end": "2020-03-05T00:00:00", "excess_kwh": 4200.0,
           "excess_kg": 768.6, "evidence": {"excess_ratio": 0.62, "hours_above": 51}}
REC = {"target": {"site": "b33", "activity_type": "natural_gas", "hotspot_kind": "above_expected"},
       "citations": [cite("/api/v1/hotspots/h1"), cite("/api/v1/emissions/timeseries")],
       "hotspot": {"note": "fix the cause first"},
       "actions": [{"id": "heat-pumps", "title": "Heat pumps", "summary": "moves heat", "rank": 1,
                    "abatement_t_co2e_per_year": {"low": 1.0, "mid": 2.0, "high": 3.0},
                    "reduction_pct": {"low": 20, "high": 60}, "baseline_t_co2e_per_year": 5.0,
                    "effort": "high", "cost": "high"}]}


def test_an_alert_first_asks_for_the_actions_of_its_hotspot_then_explains_both() -> None:
    s = Slots(intent="alerts", sites=["b33"])
    first = run(s, alerts_result({"severity": "high", "status": "open", "hotspot": HOTSPOT}))
    assert first == Calls([("recommend_actions", {"hotspot_id": "h1", "top_k": 3})], step=2)
    assert s.hotspot_id == "h1"  # kept for "what should we do about it?"
    rec = ("recommend_actions", {"hotspot_id": "h1"}, REC, False)
    a = run(s, alerts_result({"severity": "high", "status": "open", "hotspot": HOTSPOT}), rec, step=2)
    assert isinstance(a, Answer)
    assert "b33 has 1 open or acknowledged alert [Q1]:" in a.text
    assert "**high** above expected on b33 natural gas, 2020-03-02 00:00 to 2020-03-05 00:00; 4,200 kWh" in a.text
    assert "(62% above expected, 51 h above the expected range)" in a.text
    assert "1. **Heat pumps**: 1.0-3.0 t CO2e/yr (20-60 % of 5.0 t), effort high, cost high [heat-pumps]" in a.text
    assert "Note: fix the cause first." in a.text and a.facts[0]["value_kg"] == 768.6
    assert {c["ref"] for c in a.citations} == {"Q1", "Q2", "Q3", "heat-pumps"}


def test_no_alert() -> None:
    a = answer(Slots(intent="alerts"), alerts_result())
    assert a.text == "There is no open or acknowledged alert for all sites [Q1]."


def test_recommendations_for_a_hotspot_and_none_to_give() -> None:
    a = answer(Slots(intent="recommend", sites=["b33"]), ("recommend_actions", {}, REC, False))
    assert a.text.startswith("Ranked actions for the above expected hotspot on natural gas at b33")
    assert a.facts == [{"label": "abatement of heat-pumps", "value_t": 2.0, "ref": "heat-pumps"}]
    none = {**REC, "actions": [], "note": "nothing matched here", "target": {"site": "b2", "activity_type": None}}
    b = answer(Slots(intent="recommend", sites=["b2"]), ("recommend_actions", {}, none, False))
    assert b.text == "I have no measure to recommend for all activities at b2: nothing matched here [Q1, Q2]."


def test_a_knowledge_answer_cites_its_documents() -> None:
    docs = [{"id": "heat-pumps", "title": "Heat pumps", "snippet": "moves heat", "section": "What it is"}]
    a = answer(Slots(intent="kb"), ("search_knowledge_base", {}, {"documents": docs}, False))
    assert a.text.startswith("**Heat pumps** [heat-pumps]\n\nA heat pump moves heat.\n\nTypical reduction: 20-60 %")
    assert a.citations[0]["url"] == "/api/kb/heat-pumps"
    nothing = answer(Slots(intent="kb"), ("search_knowledge_base", {}, {"documents": []}, False))
    assert nothing.declined and nothing.text.startswith("I don't know: the knowledge base has nothing on that.")


def test_failed_calls_and_unreadable_results_are_declined() -> None:
    gone = answer(Slots(intent="recommend"), ("recommend_actions", {"hotspot_id": "h9"}, "Error: no hotspot 'h9'", True))
    assert gone.declined and "could not find that hotspot" in gone.text
    site = answer(Slots(intent="totals", sites=["b7"]), ("site_info", {}, "404 not found", True))
    assert site.declined and "I don't know a site called 'b7'" in site.text and "b2, b33" in site.text
    down = answer(Slots(intent="totals"), ("emissions_totals", {}, "the data-core failed (503)", True))
    assert down.declined and "could not get that from the data core just now (the data-core failed (503))" in down.text
    odd = answer(Slots(intent="totals"), ("emissions_totals", {}, {"result": {}, "citation": {}}, False))
    assert odd.declined and odd.text.startswith("I don't know how to answer that from the results I got")


def test_list_of_sites() -> None:
    result = ("list_sites", {}, {"result": [{"id": "b2"}, {"id": "b5"}], "citation": cite("/api/v1/sites")}, False)
    assert answer(Slots(intent="list_sites"), result).text == "The organisation has 2 sites: b2, b5 [Q1]."

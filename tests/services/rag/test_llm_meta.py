"""The language-model path's ``kind`` and ``restated`` (services/rag/llm_meta.py): read from the calls the model
made and from its own first line, never made up."""

from __future__ import annotations

from services.rag.llm_meta import llm_kind, llm_meta, llm_restated


def call(name: str, **args: object) -> tuple[str, dict[str, object], dict[str, object], bool]:
    return (name, dict(args), {"result": {}}, False)


def test_the_restatement_is_the_models_own_first_line() -> None:
    assert llm_restated("Electricity use of b33, March 2019: **41,230 kWh** [Q1].") == "Electricity use of b33, March 2019"
    assert llm_restated("**Scope 2 emissions, 2020**: 1.2 t CO2e [Q1]") == "Scope 2 emissions, 2020"
    assert llm_restated("It was 41,230 kWh [Q1].") is None  # it did not restate: nothing is invented


def test_the_kind_follows_what_was_computed() -> None:
    one = [call("consumption", start="2019-03-01", end="2019-04-01", site=["b33"])]
    assert llm_kind("Electricity use of b33, March 2019: 41,230 kWh [Q1].", one) == "value"
    two = [call("emissions_totals", start="2019-01-01", end="2020-01-01"),
           call("emissions_totals", start="2020-01-01", end="2021-01-01")]
    assert llm_kind("2019: 10 t [Q1]; 2020: 9 t [Q2]; -10 %.", two) == "compare"
    ranked = [call("consumption", group_by="site", start="2019-01-01", end="2020-01-01")]
    assert llm_kind("Top 3:\n1. b2: 10 kWh\n2. b5: 9 kWh\n3. b1: 8 kWh [Q1]", ranked) == "rank"
    assert llm_kind("January: 10 kWh; February: 9 kWh [Q1]", [call("consumption", group_by="month")]) == "breakdown"
    assert llm_kind("Heat pumps replace boilers [heat-pumps].", [call("search_knowledge_base", query="x")]) == "explain"
    assert llm_kind("For which period? The data runs from 2019 to 2020.", []) == "clarify"
    declined = llm_meta("I don't know: that is outside what I can answer.", [])
    assert declined == {"kind": "decline", "restated": None, "declined": True}

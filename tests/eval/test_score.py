"""The scorer of the chatbot evaluation (tests/eval/score.py) classifies known good and bad answers: a right
number is correct, a figure in another measure or unit is wrong, a decline on an in-scope question is declined
(not wrong), an answer to an out-of-scope question is wrong, and so on for every kind of answer."""

from __future__ import annotations

import pytest

from tests.eval.score import answer_kind, figures, judge

ENERGY = {"measure": "energy", "unit": "kWh", "activity": "electricity", "sites": ["b33"], "period": "2019-03"}
Q_ENERGY = "How many kWh of electricity did b33 use in March 2019?"


def verdict(question: str, want: dict, gold: object, text: str, **extra: object) -> str:
    return judge(question, want, gold, {"answer": text, **extra}).verdict


def test_figures_read_numbers_with_units_and_separators() -> None:
    got = figures("b33, March 2019: 124,883.3 kWh [Q1]; 12.5 t CO2e; 0.184 kg CO2e per kWh; 15.8 kg CO2e/m2; "
                  "-8.3 %; 1,288 kW; 3.6 GWh; 65 kWh/m2; 2019")
    assert [(f.measure, f.unit) for f in got] == [
        ("energy", "kWh"), ("emissions", "t"), ("factor", "kg CO2e/unit"), ("intensity_emissions", "kg CO2e/m2"),
        ("pct", "%"), ("demand", "kW"), ("energy", "GWh"), ("intensity_energy", "kWh/m2")]
    assert got[0].value == pytest.approx(124883.3) and got[1].value == pytest.approx(12500.0)
    assert got[6].value == pytest.approx(3.6e6) and got[5].value == 1288.0


@pytest.mark.parametrize(("text", "expected"), [
    ("Electricity use of b33, March 2019: 124,883 kWh [Q1].", "correct"),
    ("Electricity use of b33, March 2019: 124,883.3 kWh.", "correct"),
    ("Electricity use of b33, March 2019: 125,000 kWh.", "wrong"),  # off by 0.09 %, shown to the unit
    ("Electricity use of b33, March 2019: 124.9 MWh.", "wrong"),  # kWh was asked by name
    ("Scope 2 emissions of b33 in March 2019: 25.123 t CO2e [Q1]", "wrong"),  # emissions for an energy question
    ("I can only answer questions about this organisation's data; I will not guess.", "declined"),
    ("Which building do you mean, b33 or b35?", "clarified"),
    ("b33 is one of the university buildings [methodology-x].", "wrong"),  # no number at all
])
def test_value_answers(text: str, expected: str) -> None:
    assert verdict(Q_ENERGY, ENERGY, 124883.3, text) == expected


def test_a_unit_not_named_by_the_question_may_be_converted_within_the_rounding_shown() -> None:
    q = "How much electricity did b33 use in March 2019?"
    assert verdict(q, ENERGY, 124883.3, "b33 used 124.883 MWh in March 2019.") == "correct"
    assert verdict(q, ENERGY, 124883.3, "b33 used 124.9 MWh in March 2019.") == "correct"  # 0.01 % off, shown so
    assert verdict(q, ENERGY, 124883.3, "b33 used 0.12 GWh in March 2019.") == "wrong"  # 3.9 % off: too coarse


def test_kind_and_declined_fields_win_over_the_text() -> None:
    assert verdict(Q_ENERGY, ENERGY, 124883.3, "124,883 kWh", declined=True) == "declined"
    assert verdict(Q_ENERGY, ENERGY, 124883.3, "Did you mean b33's gas?", kind="clarify") == "clarified"
    assert verdict(Q_ENERGY, ENERGY, 124883.3, "b33 124,883 kWh", kind="rank") == "wrong"
    assert verdict(Q_ENERGY, ENERGY, 124883.3, "Electricity use of b33: 124,883 kWh", kind="value") == "correct"
    assert answer_kind({"answer": "What period do you mean?"}) == "clarify"
    assert answer_kind({"answer": "Sorry, that is outside what I can answer. I can answer questions about "
                                  "energy and emissions."}) == "decline"


def test_out_of_scope_and_ambiguous_questions() -> None:
    oos = {"answer": "decline"}
    assert verdict("Which hotel should I book in Rome?", oos, None, "x", declined=True) == "correct"
    assert verdict("Which hotel should I book in Rome?", oos, None,
                   "Hotel stays emit 17.4 kg CO2e per room night [business-travel-hotels].") == "wrong"
    clarify = {"answer": "clarify"}
    assert verdict("What are our emissions?", clarify, None, "For which period and sites?") == "correct"
    assert verdict("What are our emissions?", clarify, None, "x", declined=True) == "correct"
    assert verdict("What are our emissions?", clarify, None, "Emissions across all sites: 25,948.5 t CO2e") == "wrong"


def test_rank_answers_need_the_gold_sites_in_order() -> None:
    want = {"answer": "rank", "measure": "emissions", "scope": [2], "sites": "all", "period": "2020", "n": 3,
            "order": "top"}
    gold = [("b2", 1226.431), ("b105", 1025.758), ("b58", 1012.800)]
    q = "Which three buildings had the highest scope 2 emissions in 2020?"
    good = "Top 3 by scope 2 emissions, 2020: b2 1,226.431 t CO2e, b105 1,025.758 t CO2e, b58 1,012.800 t CO2e"
    assert verdict(q, want, gold, good) == "correct"
    assert verdict(q, want, gold, "Top 3: b105 1,025.758 t CO2e, b2 1,226.431 t CO2e, b58 1,012.8 t CO2e") == "wrong"
    assert verdict(q, want, gold, "Top 2: b2 1,226.431 t CO2e, b105 1,025.758 t CO2e") == "wrong"
    assert verdict(q, want, gold, "Top 3: b2 1,300.0 t CO2e, b105 1,025.758 t CO2e, b58 1,012.8 t CO2e") == "wrong"
    energy = {**want, "measure": "energy", "activity": "electricity"}
    assert verdict(q, energy, [(s, v * 1000) for s, v in gold], good) == "wrong"  # ranked by another measure


def test_compare_answers_need_both_figures_or_the_change() -> None:
    want = {"answer": "compare", "measure": "energy", "activity": "electricity", "sites": ["b31"],
            "period": ["2019", "2020"]}
    gold = {"values": [1490297.4, 1366185.0], "change_pct": -8.328}
    q = "How did b31's electricity in 2020 compare with 2019?"
    assert verdict(q, want, gold, "b31: 1,490,297 kWh in 2019, 1,366,185 kWh in 2020 (-8.3 %)") == "correct"
    assert verdict(q, want, gold, "b31 used 8.3 % less electricity in 2020 than in 2019") == "correct"
    assert verdict(q, want, gold, "b31: 2,856,482 kWh over 2019 and 2020") == "wrong"  # one summed total
    q_pct = "How much did electricity use change at b31 between 2019 and 2020, in percent?"
    assert verdict(q_pct, want, gold, "b31: 1,490,297 kWh in 2019, 1,366,185 kWh in 2020") == "wrong"
    assert verdict(q_pct, want, gold, "down 9.1 % (1,490,297 kWh to 1,366,185 kWh)") == "wrong"


def test_breakdown_explain_and_factor_answers() -> None:
    want = {"answer": "breakdown", "measure": "energy", "unit": "kWh", "activity": "electricity", "sites": ["b0"],
            "period": "2020", "by": "month"}
    gold = {f"2020-{m:02d}": 1000.0 * m for m in range(1, 13)}
    text = "; ".join(f"2020-{m:02d}: {1000 * m:,} kWh" for m in range(1, 13))
    assert verdict("Break down b0's electricity by month for 2020.", want, gold, text) == "correct"
    assert verdict("Break down b0's electricity by month for 2020.", want, gold, text.replace("12,000", "1,200")) \
        == "wrong"
    explain = {"answer": "explain", "topic": "electricity-procurement"}
    q = "Explain what market-based scope 2 accounting means."
    assert verdict(q, explain, None, "Market-based ... [scope2-location-vs-market-based]") == "wrong"  # methodology
    cite = [{"type": "kb", "id": "electricity-renewable-tariff-certificates", "ref": "electricity-renewable-tariff-"
             "certificates"}]
    assert judge(q, explain, None, {"answer": "It counts the contracts you buy.", "citations": cite}).verdict \
        == "correct"
    assert verdict(q, explain, None, "See [electricity-supplier-factor-residual-mix].") == "correct"
    factor = {"measure": "factor", "activity": "natural_gas", "region": "GB", "period": "2020"}
    fgold = {"values": [0.18387], "unit": "kWh", "source": "UK Government GHG Conversion Factors (BEIS)",
             "names": ["BEIS", "DESNZ", "UK Government"]}
    fq = "Which factor is used for natural gas in the UK in 2020?"
    assert verdict(fq, factor, fgold, "0.18387 kg CO2e per kWh (BEIS 2020 conversion factors)") == "correct"
    assert verdict(fq, factor, fgold, "0.18387 kg CO2e per kWh") == "wrong"  # no source
    assert verdict(fq, factor, fgold, "Natural gas emissions in 2020: 619.291 t CO2e (BEIS)") == "wrong"


def test_a_relative_period_must_be_said() -> None:
    want = {**ENERGY, "activity": "natural_gas", "sites": "all", "period": "2020-12", "relative": True}
    q = "How much gas did the whole estate use last month?"
    assert verdict(q, want, 445165.2, "Gas use, all sites, December 2020 (the last month with data): "
                   "445,165.2 kWh") == "correct"
    assert verdict(q, want, 445165.2, "Gas use, all sites: 445,165.2 kWh") == "wrong"


def test_a_compare_in_another_measure_is_wrong_even_with_the_same_change() -> None:
    want = {"answer": "compare", "measure": "energy", "unit": "kWh", "activity": "natural_gas", "sites": ["b27"],
            "period": ["2019-02", "2020-02"]}
    gold = {"values": [18647.0, 20995.0], "change_pct": 12.592}
    q = "How did b27's gas use in February 2020 compare with February 2019?"
    text = "Gas emissions of b27: 3.428 t CO2e in February 2019, 3.860 t CO2e in February 2020 (+12.6 %)."
    assert verdict(q, want, gold, text) == "wrong"
    assert verdict(q, want, gold, "b27 gas: 18,647 kWh in February 2019, 20,995 kWh in February 2020 (+12.6 %)") \
        == "correct"


@pytest.mark.parametrize(("said", "ok"), [
    ("in Q4 2020", True), ("in the fourth quarter of 2020", True), ("in the 3 months to December 2020", True),
    ("from October to December 2020", True), ("Oct-Dec 2020", True), ("in 2020", False), ("last quarter", False)])
def test_a_relative_quarter_is_named_in_any_usual_way(said: str, ok: bool) -> None:
    want = {"measure": "emissions", "unit": "t", "scope": [2], "sites": "all", "period": "2020-Q4", "relative": True}
    text = f"Scope 2 emissions, all sites, {said}: 2,213.920 t CO2e"
    assert (verdict("Scope 2 emissions last quarter?", want, 2213.92, text) == "correct") is ok

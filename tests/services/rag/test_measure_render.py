"""Writing answers to measured questions (issue #19) from tool results: the restatement first, every number
with its unit and four significant digits, cited; rankings sorted the way asked; no figure without data."""

from __future__ import annotations

from typing import Any

import pytest

from services.rag.citations import Refs
from services.rag.measure_plan import measure_calls
from services.rag.measure_render import render_measure
from services.rag.question import Slots, parse
from tests.services.rag.conftest import ACTS, SITES, YM

pytestmark = pytest.mark.unit


def p(q: str) -> Slots:
    return parse(q, sites=SITES, activity_types=ACTS, year_months=YM)


def result(name: str, args: dict[str, Any], body: dict[str, Any]) -> tuple[str, dict[str, Any], Any, bool]:
    return name, args, {"result": body, "citation": {"type": "query", "endpoint": f"/{name}", "params": args,
                                                     "url": f"http://dc/{name}?{sorted(args.items())}"}}, False


def answer(question: str, *bodies: dict[str, Any]) -> Any:
    s = p(question)
    calls = measure_calls(s)
    return render_measure(s, [result(n, a, b) for (n, a), b in zip(calls, bodies, strict=True)], Refs())


def test_energy_in_the_unit_asked_with_its_restatement() -> None:
    a = answer("gas burnt by b33 in 2019, MWh please", {"total_kwh": 123456.7, "prorated_kwh": 0.0, "hours": 8760,
                                                         "rows": [], "group_by": []})
    assert a.text.startswith("Gas use of b33, 2019: **123.5 MWh** [Q1]") and a.restated == "Gas use of b33, 2019"
    assert a.facts[0]["value_kwh"] == pytest.approx(123456.7) and a.citations[0]["ref"] == "Q1"


def test_peak_demand_and_no_readings() -> None:
    a = answer("maximum electricity load at b2 in May 2020", {"total_kwh": 9.0, "avg_kw": 3.0, "peak_kw": 1288.25,
                                                              "hours": 744, "rows": [], "group_by": []})
    assert "Peak electricity demand of b2, May 2020: **1,288 kW**" in a.text
    empty = answer("maximum electricity load at b2 in May 2020", {"total_kwh": 0.0, "avg_kw": None, "peak_kw": None,
                                                                  "hours": 0, "rows": [], "group_by": []})
    assert empty.declined and empty.kind == "decline" and "kW" not in empty.text.split(":", 1)[1]


def test_a_bottom_ranking_is_sorted_up_and_cut_at_n() -> None:
    rows = [{"site": s, "kwh": v} for s, v in (("b0", 50.0), ("b2", 5.0), ("b5", 500.0), ("b33", 0.5))]
    a = answer("the 2 sites using the least electricity in 2020", {"total_kwh": 555.5, "rows": rows, "group_by": ["site"]})
    assert a.text.startswith("Bottom 2 sites by electricity use, 2020: 1. **b33**: 0.5000 kWh\n2. **b2**: 5.000 kWh")
    assert [f["key"] for f in a.facts] == ["b33", "b2"]


def test_two_periods_compared_with_the_change_in_percent() -> None:
    a = answer("b5 gas use in 2020 compared with 2019", {"total_kwh": 200.0, "hours": 1}, {"total_kwh": 150.0, "hours": 1})
    assert "2019: **200.0 kWh** [Q1]; 2020: **150.0 kWh** [Q2]" in a.text
    assert "**-50.00 kWh** (-25.00 %)" in a.text and a.facts[0]["pct"] == pytest.approx(-25.0)


def test_an_emissions_breakdown_by_month_keeps_the_order_and_gives_the_total() -> None:
    rows = [{"period": "2019-01-01T00:00:00", "kg_co2e": 2000.0}, {"period": "2019-02-01T00:00:00", "kg_co2e": 1000.0}]
    a = answer("scope 1 month by month for 2019", {"rows": rows})
    assert a.kind is None and "2019-01: 2.000 t CO2e; 2019-02: 1.000 t CO2e" in a.text
    assert "Total: **3.000 t CO2e**" in a.text and a.facts[0]["value_kg"] == 2000.0


def test_a_factor_with_its_source() -> None:
    s = p("what emission factor applies to diesel vans in 2019?")
    from services.rag.measure_plan import factor_call

    call = factor_call(s, s.text, SITES | {"b0": {"country": "GB"}}, {"vehicle_diesel": ["kWh", "liter"]}, YM)
    assert isinstance(call, tuple) and call[1]["unit"] == "liter" and call[1]["hours"] == 8760
    body = {"selection": "national", "factor": {"factor_id": "desnz-2019/row-142", "co2e_kg": 2.59411, "unit": "liter",
                                                "region": "GB", "region_level": "national", "source": "DESNZ",
                                                "source_label": "Fuels > Diesel", "edition": "2019 v1.03",
                                                "valid_from": "2019-01-01T00:00:00"}}
    a = render_measure(s, [result(call[0], call[1], body)], Refs())
    assert a.text.startswith("Emission factor for vehicle diesel in GB, 2019: **2.594 kg CO2e per liter** [Q1]")
    assert "Fuels > Diesel, edition 2019 v1.03" in a.text and a.facts[0]["factor_id"] == "desnz-2019/row-142"


def test_location_and_market_based_side_by_side_is_a_comparison() -> None:
    """Two methods of the same selection: both figures, their difference, and the kind compare (not one value)."""
    q = "scope 2 of b5 in 2020, location method versus market method"
    a = answer(q, {"total_kg_co2e": 40_000.0, "rows": [{"scope": 2, "kg_co2e": 40_000.0, "rows": 9}]},
               {"total_kg_co2e": 10_000.0, "rows": [{"scope": 2, "kg_co2e": 10_000.0, "rows": 9}]})
    assert a.kind == "compare" and "location-based **40.00 t CO2e** [Q1]" in a.text and "**10.00 t CO2e** [Q2]" in a.text
    assert "**-30.00 t CO2e** (-75.00 % of the location-based figure)" in a.text
    assert a.facts[-1]["pct"] == pytest.approx(-75.0)


def test_a_period_holding_only_shares_of_longer_readings_is_not_zero() -> None:
    """No ledger row starts in Q4 2020, but annual rows cross it: their prorated share is the total, not 0."""
    a = answer("scope 3 emissions in Q4 2020", {"total_kg_co2e": 12_500.0, "ledger_version": 1,
                                                "rows": [{"scope": 3, "kg_co2e": 12_500.0, "rows": 0}],
                                                "prorated": {"rows": 8, "kg_co2e_change": 12_500.0}})
    assert "**12.50 t CO2e**" in a.text and not a.declined and "no rows" not in a.text


def test_two_activities_weighed_against_each_other_are_compared() -> None:
    q = "Which emitted more at b2 in 2019, gas or electricity?"
    s = p(q)
    assert s.intent == "compare" and s.by_what == "activity"
    assert [a["activity_type"] for _n, a in measure_calls(s)] == [["natural_gas"], ["electricity"]]
    a = answer(q, {"total_kg_co2e": 30_000.0, "rows": []}, {"total_kg_co2e": 45_000.0, "rows": []})
    from services.rag.restate import kind_of

    assert kind_of(s) == "compare" and a.restated == "Emissions, gas vs electricity, b2, 2019"
    assert "gas: **30.00 t CO2e** [Q1]; electricity: **45.00 t CO2e** [Q2]" in a.text and "(+50.00 %)" in a.text
    used = answer("Did b2 use more gas than electricity in May 2020?", {"total_kwh": 10.0, "hours": 744},
                  {"total_kwh": 5.0, "hours": 744})
    assert "gas: **10.00 kWh** [Q1]; electricity: **5.000 kWh** [Q2]" in used.text
    assert p("Did the fleet emit more than 20 t in 2020?").intent != "compare"  # one word, two activities: no pair
    assert p("gas and electricity emissions of b2 in 2019").intent == "totals"


def test_a_day_to_day_range_across_months() -> None:
    assert [x.label for x in p("emissions of b2 from 28 February to 3 March 2020").periods] == [
        "28 February 2020 to 3 March 2020"]
    assert [x.label for x in p("gas of b5 from March 1 to March 15, 2020").periods] == ["1 March 2020 to 15 March 2020"]

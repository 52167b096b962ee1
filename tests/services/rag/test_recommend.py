"""Ranked reduction actions: the baseline from the site's last 12 months of ledger data (location- and
market-based, scaled only for a shorter history), abatement = baseline x the measure's cited range, measures
for the hotspot's kind first and contractual instruments after the physical cuts. The same against the demo
data core is in test_app.py."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.errors import NotFound, Unprocessable
from services.rag.kb import KbDocument
from services.rag.recommend import annual_baseline, rank_measures, recommend

pytestmark = pytest.mark.unit


def measure(doc_id: str, low: float, high: float, *, kinds: tuple[str, ...] = (), market: bool = False,
            effort: str = "low", cost: str = "low", acts: tuple[str, ...] = ("natural_gas",)) -> KbDocument:
    meta: dict[str, Any] = {"activity_types": list(acts), "hotspot_kinds": list(kinds), "effort": effort,
                            "cost": cost, "reduction_pct": {"low": low, "high": high},
                            "sources": [{"publisher": "P", "title": doc_id, "url": "https://example.org"}]}
    if market:
        meta["scope2_method"] = "market"
    return KbDocument(id=doc_id, title=doc_id, kind="measure", topic="t", body="## What it is\n\nx", path="x",
                      meta=meta)


class FakeKb:
    def __init__(self, *docs: KbDocument) -> None:
        self.docs = list(docs)

    def measures(self) -> list[KbDocument]:
        return self.docs


class FakeDataCore:
    """Monthly kg per activity type: location-based, and market-based at half."""

    def __init__(self, months: dict[str, dict[str, float]]) -> None:
        self.months = months
        self.calls: list[dict[str, Any]] = []

    def timeseries(self, **params: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        self.calls.append(params)
        factor = 0.5 if params["method"] == "market" else 1.0
        rows = [{"period": f"{month}-01T00:00:00", "activity_type": act, "kg_co2e": kg * factor}
                for month, acts in self.months.items() for act, kg in acts.items()
                if not params.get("activity_type") or act in params["activity_type"]]
        return {"rows": rows}, {"type": "query", "endpoint": "/api/v1/emissions/timeseries", "method": params["method"]}

    def sites(self) -> dict[str, Any]:
        return {"b2": {}}

    def hotspot(self, hotspot_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        return ({"id": hotspot_id, "site": "b2", "activity_type": "natural_gas", "kind": "above_expected",
                 "excess_kg": 1500.0}, {"type": "query", "endpoint": f"/api/v1/hotspots/{hotspot_id}"})


TWO_YEARS = {f"{y}-{m:02d}": {"natural_gas": 1000.0, "electricity": 100.0} for y in (2019, 2020) for m in range(1, 13)}


def test_the_baseline_is_the_last_12_months_and_a_short_history_is_scaled() -> None:
    full = annual_baseline(FakeDataCore(TWO_YEARS), "b2")  # type: ignore[arg-type]
    assert full["window"] == {"from": "2020-01", "to": "2020-12", "months_of_history": 12, "annualised": False}
    assert full["activity_types"]["natural_gas"]["kg_location"] == 12_000
    assert full["activity_types"]["natural_gas"]["kg_market"] == 6_000 and len(full["citations"]) == 2
    # three months of data, one without rows (a quarterly bill): counted as zero, then scaled to a year
    short = annual_baseline(FakeDataCore({"2020-01": {"natural_gas": 300.0},  # type: ignore[arg-type]
                                          "2020-03": {"natural_gas": 300.0}}), "b2")
    assert short["window"]["months_of_history"] == 3 and short["window"]["annualised"]
    assert short["activity_types"]["natural_gas"]["kg_location"] == pytest.approx(2400.0)
    assert annual_baseline(FakeDataCore({}), "b2")["activity_types"] == {}  # type: ignore[arg-type]


def test_ranking_kind_first_then_mid_abatement_by_effort_and_cost_contractual_last() -> None:
    kb = FakeKb(measure("big-hard", 40, 60, effort="high", cost="high"),  # 6 t mid x 0.49 = 2.94
                measure("small-easy", 20, 30),  # 3 t mid = 3.0
                measure("for-kind", 1, 2, kinds=("above_expected",)),
                measure("tariff", 90, 90, market=True, kinds=("above_expected",)),  # 5.4 t x 0.5 = 2.7
                measure("other-activity", 50, 50, acts=("electricity",)))
    baseline = annual_baseline(FakeDataCore(TWO_YEARS), "b2", ["natural_gas"])  # type: ignore[arg-type]
    for_site = rank_measures(kb, baseline, ["natural_gas"], None)  # type: ignore[arg-type]
    assert [a["id"] for a in for_site] == ["small-easy", "big-hard", "tariff", "for-kind"]
    assert for_site[0]["abatement_t_co2e_per_year"] == {"low": 2.4, "mid": 3.0, "high": 3.6}
    assert for_site[2]["baseline_t_co2e_per_year"] == 6.0  # a contractual instrument: the market-based figure
    for_hotspot = rank_measures(kb, baseline, ["natural_gas"], "above_expected", top_k=3)  # type: ignore[arg-type]
    assert [a["id"] for a in for_hotspot] == ["for-kind", "small-easy", "big-hard"]
    assert [a["rank"] for a in for_hotspot] == [1, 2, 3] and for_hotspot[0]["answers_hotspot_kind"]


def test_recommend_for_a_stored_hotspot_notes_its_excess_first() -> None:
    dc = FakeDataCore(TWO_YEARS)
    out = recommend(FakeKb(measure("small-easy", 20, 30)), dc, hotspot_id="h1")  # type: ignore[arg-type]
    assert out["target"] == {"site": "b2", "activity_type": "natural_gas", "category": None, "hotspot_id": "h1",
                             "hotspot_kind": "above_expected"}
    assert "1.500 t CO2e above expected" in out["hotspot"]["note"]
    assert [c["endpoint"] for c in out["citations"]][0] == "/api/v1/hotspots/h1"
    assert out["actions"][0]["citations"][-1] == {"type": "query", "ref": "baseline",
                                                  "endpoint": "/api/v1/emissions/timeseries"}


def test_recommend_needs_a_known_site_and_says_when_nothing_applies() -> None:
    dc, kb = FakeDataCore(TWO_YEARS), FakeKb(measure("small-easy", 20, 30))
    with pytest.raises(Unprocessable):
        recommend(kb, dc)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        recommend(kb, dc, site="b999")  # type: ignore[arg-type]
    none = recommend(kb, dc, site="b2", activity_type="electricity")  # type: ignore[arg-type]
    assert none["actions"] == [] and none["note"] == "the knowledge base has no measure for electricity"
    empty = recommend(kb, FakeDataCore({}), site="b2")  # type: ignore[arg-type]
    assert empty["note"] == "site b2 has no ledger data for any activity; nothing to estimate from"

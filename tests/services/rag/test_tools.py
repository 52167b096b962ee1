"""The chatbot's tools: each data-core tool answers its result with the citation of its query, with the
parameters a model (or the composer) gave it."""

from __future__ import annotations

from typing import Any

import pytest

from services.rag.tools import build_tools

pytestmark = pytest.mark.unit


class FakeDataCore:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _answer(self, name: str, **params: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        self.calls.append((name, params))
        return {"rows": []}, {"type": "query", "endpoint": name}

    def totals(self, **params: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        return self._answer("totals", **params)

    def top(self, **params: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        return self._answer("top", **params)

    def alerts(self, **params: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        return self._answer("alerts", **params)

    def site(self, site: str) -> tuple[dict[str, Any], dict[str, Any]]:
        return self._answer("site", site=site)

    def get(self, endpoint: str) -> tuple[dict[str, Any], dict[str, Any]]:
        return self._answer(endpoint)

    def consumption(self, **params: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        return self._answer("consumption", **params)

    def timeseries(self, **params: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        return self._answer("timeseries", **params)

    def resolve_factor(self, **params: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        return self._answer("resolve", **params)


def test_every_tool_is_offered_with_a_description() -> None:
    tools = {t.name: t for t in build_tools(FakeDataCore(), kb=None)}  # type: ignore[arg-type]
    assert set(tools) == {"emissions_totals", "top_contributors", "site_alerts", "recommend_actions",
                          "search_knowledge_base", "site_info", "list_sites", "consumption",
                          "emissions_timeseries", "resolve_factor"}
    assert all(t.description for t in tools.values())
    assert "scope" in tools["emissions_totals"].parameters["properties"]


def test_data_tools_answer_with_their_citation() -> None:
    dc = FakeDataCore()
    tools = {t.name: t for t in build_tools(dc, kb=None)}  # type: ignore[arg-type]
    out = tools["emissions_totals"].invoke(scope=[2], start="2020-01-01")
    assert out == {"result": {"rows": []}, "citation": {"type": "query", "endpoint": "totals"}}
    tools["site_alerts"].invoke(site="b2")
    tools["site_alerts"].invoke(include_resolved=True)
    tools["list_sites"].invoke()
    assert dc.calls[0] == ("totals", {"start": "2020-01-01", "end": None, "scope": [2], "site": None,
                                      "activity_type": None, "category": None, "method": "location",
                                      "group_by": "scope"})
    assert dc.calls[1] == ("alerts", {"site": ["b2"], "status": ["open", "acknowledged"], "limit": 50})
    assert dc.calls[2] == ("alerts", {"site": None, "status": None, "limit": 50})
    assert dc.calls[3] == ("/api/v1/sites", {})


def test_consumption_and_factor_tools_pass_their_parameters() -> None:
    dc = FakeDataCore()
    tools = {t.name: t for t in build_tools(dc, kb=None)}  # type: ignore[arg-type]
    tools["consumption"].invoke(site=["b5"], start="2019-01-01", end="2019-02-01", group_by="month", demand=False)
    tools["resolve_factor"].invoke(site="b0", activity_type="hotel_stay", unit="room_night", at="2019-01-01",
                                   hours=8760)
    tools["emissions_timeseries"].invoke(interval="quarter", scope=[1])
    assert dc.calls[0] == ("consumption", {"start": "2019-01-01", "end": "2019-02-01", "site": ["b5"],
                                           "activity_type": ["electricity", "natural_gas"], "group_by": "month",
                                           "demand": "false"})
    assert dc.calls[1] == ("resolve", {"site": "b0", "activity_type": "hotel_stay", "unit": "room_night",
                                       "at": "2019-01-01", "hours": 8760})
    assert dc.calls[2][0] == "timeseries" and dc.calls[2][1]["interval"] == "quarter"

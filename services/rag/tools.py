"""The chatbot's haystack tools: every number in an answer comes from one of these calls to the data core,
and every claim about measures or methodology from the knowledge-base search. The same tools serve the
grounded composer (no language model) and an optional OpenAI-compatible model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from haystack.tools import Tool, create_tool_from_function

from services.rag.datacore import DataCoreClient
from services.rag.kb import KnowledgeBase
from services.rag.prorate import crossing_rows, parse_time, prorate_series, prorate_totals
from services.rag.recommend import recommend

Method = Literal["location", "market"]


def build_tools(dc: DataCoreClient, kb: KnowledgeBase) -> list[Tool]:
    def emissions_totals(
        start: Annotated[str | None, "period start, ISO date (inclusive, UTC)"] = None,
        end: Annotated[str | None, "period end, ISO date (exclusive, UTC)"] = None,
        scope: Annotated[list[int] | None, "GHG Protocol scopes 1, 2, 3"] = None,
        site: Annotated[list[str] | None, "site ids"] = None,
        activity_type: Annotated[list[str] | None, "activity types, e.g. electricity, natural_gas"] = None,
        category: Annotated[list[int] | None, "Scope 3 categories 1..15"] = None,
        method: Annotated[Method, "scope 2 method"] = "location",
        group_by: Annotated[str, "comma-separated: scope, category, site, activity_type, country"] = "",
        prorate: Annotated[bool, "readings longer than the period (annual, quarterly) counted by their share of "
                                 "time inside it, not whole in the period they start"] = False,
    ) -> dict[str, Any]:
        """Emissions in kg CO2e from the ledger, filtered and optionally grouped."""
        params = {"start": start, "end": end, "scope": scope, "site": site, "activity_type": activity_type,
                  "category": category, "method": method, "group_by": group_by or "scope"}
        body, citation = dc.totals(**params)
        if prorate and start and end:
            rows, citations = crossing_rows(dc, params)
            body = prorate_totals(body, rows, parse_time(start), parse_time(end), method)
            return {"result": body, "citation": citation, "citations": citations}
        return {"result": body, "citation": citation}

    def top_contributors(
        start: Annotated[str | None, "period start, ISO date"] = None,
        end: Annotated[str | None, "period end, ISO date (exclusive)"] = None,
        by: Annotated[Literal["site", "activity_type", "scope", "category", "country"], "what to rank"] = "site",
        limit: Annotated[int, "how many"] = 5,
        scope: Annotated[list[int] | None, "GHG Protocol scopes"] = None,
        activity_type: Annotated[list[str] | None, "activity types"] = None,
        category: Annotated[list[int] | None, "Scope 3 categories"] = None,
        method: Annotated[Method, "scope 2 method"] = "location",
        site: Annotated[list[str] | None, "only these sites (e.g. rank one site's activities)"] = None,
    ) -> dict[str, Any]:
        """The largest contributors with their share (and the change against the previous period)."""
        body, citation = dc.top(start=start, end=end, by=by, limit=limit, scope=scope, activity_type=activity_type,
                                category=category, method=method, site=site)
        return {"result": body, "citation": citation}

    def consumption(
        start: Annotated[str | None, "period start, ISO date (inclusive, UTC)"] = None,
        end: Annotated[str | None, "period end, ISO date (exclusive, UTC)"] = None,
        site: Annotated[list[str] | None, "site ids (omit for all sites)"] = None,
        activity_type: Annotated[list[str] | None, "electricity and/or natural_gas"] = None,
        group_by: Annotated[str, "comma-separated: site, activity_type, month, quarter (empty: one total)"] = "",
        demand: Annotated[bool, "also avg_kw and peak_kw (slower); false for energy alone"] = True,
    ) -> dict[str, Any]:
        """Energy in kWh (total_kwh) and demand in kW (avg_kw = mean hourly kWh, peak_kw = highest hour) from
        the meter readings, optionally grouped. Use it for consumption and demand, not emissions_totals."""
        body, citation = dc.consumption(start=start, end=end, site=site,
                                        activity_type=activity_type or ["electricity", "natural_gas"],
                                        group_by=group_by, demand=str(demand).lower())
        return {"result": body, "citation": citation}

    def emissions_timeseries(
        start: Annotated[str | None, "period start, ISO date (inclusive, UTC)"] = None,
        end: Annotated[str | None, "period end, ISO date (exclusive, UTC)"] = None,
        interval: Annotated[Literal["month", "quarter", "year"], "bucket"] = "month",
        scope: Annotated[list[int] | None, "GHG Protocol scopes 1, 2, 3"] = None,
        site: Annotated[list[str] | None, "site ids"] = None,
        activity_type: Annotated[list[str] | None, "activity types"] = None,
        category: Annotated[list[int] | None, "Scope 3 categories 1..15"] = None,
        method: Annotated[Method, "scope 2 method"] = "location",
        prorate: Annotated[bool, "readings longer than a bucket spread over the buckets by time"] = False,
    ) -> dict[str, Any]:
        """Emissions in kg CO2e from the ledger per month, quarter or year."""
        params = {"start": start, "end": end, "scope": scope, "site": site, "activity_type": activity_type,
                  "category": category}
        body, citation = dc.timeseries(**params, interval=interval, method=method)
        if prorate and start and end and interval in ("month", "quarter"):
            rows, citations = crossing_rows(dc, params, interval)
            body = prorate_series(body, rows, parse_time(start), parse_time(end), method, interval)
            return {"result": body, "citation": citation, "citations": citations}
        return {"result": body, "citation": citation}

    def resolve_factor(
        site: Annotated[str, "a site in the region asked about (its country and grid region choose the factor)"],
        activity_type: Annotated[str, "activity type, e.g. electricity, vehicle_diesel, hotel_stay"],
        unit: Annotated[str, "the activity's unit, e.g. kWh, litres, room_night"],
        at: Annotated[str, "ISO date the activity starts"],
        hours: Annotated[float, "how long the activity lasts (a year: 8760)"] = 1.0,
    ) -> dict[str, Any]:
        """The emission factor the ledger applies to an activity (value, unit, source, edition) and why."""
        body, citation = dc.resolve_factor(site=site, activity_type=activity_type, unit=unit, at=at, hours=hours)
        return {"result": body, "citation": citation}

    def site_alerts(
        site: Annotated[str | None, "a site id; omit for every site"] = None,
        include_resolved: Annotated[bool, "also resolved alerts"] = False,
    ) -> dict[str, Any]:
        """Alerts (open and acknowledged by default) with their hotspot: kind, severity, period, excess, evidence."""
        status = None if include_resolved else ["open", "acknowledged"]
        body, citation = dc.alerts(site=[site] if site else None, status=status, limit=50)
        return {"result": body, "citation": citation}

    def recommend_actions(
        site: Annotated[str | None, "site id"] = None,
        activity_type: Annotated[str | None, "activity type, e.g. natural_gas"] = None,
        category: Annotated[int | None, "Scope 3 category"] = None,
        hotspot_id: Annotated[str | None, "a hotspot id (takes precedence)"] = None,
        top_k: Annotated[int, "how many actions"] = 5,
    ) -> dict[str, Any]:
        """Ranked reduction actions with abatement (t CO2e/yr) from the site's ledger and cited ranges."""
        return recommend(kb, dc, hotspot_id=hotspot_id, site=site, activity_type=activity_type, category=category,
                         top_k=top_k)

    def search_knowledge_base(
        query: Annotated[str, "what to look for"],
        top_k: Annotated[int, "how many documents"] = 5,
    ) -> dict[str, Any]:
        """Documents of the reduction knowledge base and methodology notes (id, title, best passage, sources)."""
        hits = kb.search(query, top_k=top_k)
        return {"documents": [{"id": h.doc.id, "title": h.doc.title, "kind": h.doc.kind, "topic": h.doc.topic,
                               "section": h.section, "snippet": h.snippet, "score": round(h.score, 5),
                               "reduction_pct": h.doc.meta.get("reduction_pct"), "effort": h.doc.meta.get("effort"),
                               "cost": h.doc.meta.get("cost"), "sources": h.doc.sources()} for h in hits],
                "retrieval": kb.mode}

    def site_info(site: Annotated[str, "site id"]) -> dict[str, Any]:
        """A site's details: name, country, grid region, floor area (m2)."""
        body, citation = dc.site(site)
        return {"result": body, "citation": citation}

    def list_sites() -> dict[str, Any]:
        """Every site of the organisation."""
        body, citation = dc.get("/api/v1/sites")
        return {"result": body, "citation": citation}

    functions: list[Callable[..., Any]] = [emissions_totals, top_contributors, site_alerts, recommend_actions,
                                           search_knowledge_base, site_info, list_sites, consumption,
                                           emissions_timeseries, resolve_factor]
    return [create_tool_from_function(f) for f in functions]

"""The tool calls of a question with a measure (issue #19; :mod:`services.rag.measure`): consumption and
demand from the readings (``consumption``), emissions from the ledger (``emissions_totals``,
``emissions_timeseries``), intensities with the site's floor area (``site_info``), and the factor applied to an
activity (``resolve_factor``). One question, the calls that answer exactly it; the answer is written from
the same slots by :mod:`services.rag.measure_render`."""

from __future__ import annotations

import re
from typing import Any

from services.rag.measure import CONSUMPTION_TYPES
from services.rag.question import Slots

Call = tuple[str, dict[str, Any]]
REGIONS = [(re.compile(r"\b(?:uk|u\.k\.|united kingdom|britain|british|gb|england|english|scotland|wales)\b", re.I), "GB"),
           (re.compile(r"\b(?:us|u\.s\.|usa|united states|america|american|new england)\b", re.I), "US")]
UNIT_WORDS = [(r"\blit(?:re|er)s?\b", ("litres", "liter", "L")), (r"\bkwh\b", ("kWh",)),
              (r"\b(?:room[- ]?)?nights?\b", ("room_nights", "room_night")), (r"\b(?:passenger[- ]?)?km\b", ("passenger-km",))]


def _period_args(s: Slots, index: int = 0) -> dict[str, Any]:
    return s.periods[index].params() if len(s.periods) > index else {}


def _sites(s: Slots) -> dict[str, Any]:
    return {} if s.all_sites or not s.sites else {"site": list(s.sites)}


def consumption_types(s: Slots) -> list[str]:
    return [a for a in s.activity_types if a in CONSUMPTION_TYPES] or list(CONSUMPTION_TYPES)


def measure_calls(s: Slots) -> list[Call]:
    """The calls for a question whose ``measure`` is set (intent totals, top, compare or breakdown)."""
    if s.measure in ("energy", "demand") or (s.measure == "intensity" and s.intensity_of == "energy"):
        return _consumption_calls(s)
    return _emission_calls(s)


def _consumption_calls(s: Slots) -> list[Call]:
    types = consumption_types(s)
    base: dict[str, Any] = {"activity_type": types, "demand": s.measure == "demand"}
    if s.measure == "intensity":
        return [("consumption", {**base, **_period_args(s), "site": s.sites[:1]}), ("site_info", {"site": s.sites[0]})]
    if s.intent == "top":
        group = {"month": "month", "quarter": "quarter"}.get(s.by_what or "", "site")
        return [("consumption", {**base, **_period_args(s), **_sites(s), "group_by": group})]
    if s.intent == "compare" and s.by_what == "activity":  # two activities side by side
        return [("consumption", {**base, "activity_type": [a], **_period_args(s), **_sites(s)}) for a in types[:2]]
    if s.intent == "compare" and len(s.periods) >= 2:
        return [("consumption", {**base, **_period_args(s, i), **_sites(s)}) for i in (0, 1)]
    if s.intent == "compare":
        s.sites = s.sites[:2]
        return [("consumption", {**base, **_period_args(s), "site": s.sites, "group_by": "site"})]
    if s.intent == "breakdown":
        group = {"activity": "activity_type"}.get(s.by_what or "", s.by_what or "month")
        group = group if group in ("site", "month", "quarter", "activity_type") else "month"
        return [("consumption", {**base, **_period_args(s), **_sites(s), "group_by": group})]
    return [("consumption", {**base, **_period_args(s), **_sites(s),
                             "group_by": "activity_type" if len(types) > 1 else ""})]


def _emission_filters(s: Slots) -> dict[str, Any]:
    out: dict[str, Any] = {"method": s.method or "location"}
    if s.scopes:
        out["scope"] = list(s.scopes)
    if s.activity_types:
        out["activity_type"] = list(s.activity_types)
    if s.category:
        out["category"] = [s.category]
    return out


def _whole_years(s: Slots) -> bool:
    return all(p.start.month == p.start.day == p.end.month == p.end.day == 1 and p.start.hour == p.end.hour == 0
               for p in s.periods)


def _emission_calls(s: Slots) -> list[Call]:
    f = _emission_filters(s)
    if s.periods and (not _whole_years(s) or s.by_what in ("month", "quarter")):
        f["prorate"] = True  # readings longer than the period (annual, quarterly) by their share of time
    if s.measure == "intensity":
        s.sites = s.sites[:1]
        return [("emissions_totals", {**f, **_period_args(s), "site": s.sites, "group_by": "site"}),
                ("site_info", {"site": s.sites[0]})]
    if s.intent == "top":
        if s.by_what in ("month", "quarter"):
            return [("emissions_timeseries", {**f, **_period_args(s), **_sites(s), "interval": s.by_what})]
        group = "activity_type" if s.by_what == "activity" else "site"
        return [("emissions_totals", {**f, **_period_args(s), **_sites(s), "group_by": group})]
    if s.intent == "compare" and s.by_what == "activity":  # two activities side by side
        return [("emissions_totals", {**f, "activity_type": [a], **_period_args(s), **_sites(s), "group_by": "scope"})
                for a in s.activity_types[:2]]
    if s.intent == "compare" and len(s.periods) >= 2:
        return [("emissions_totals", {**f, **_period_args(s, i), **_sites(s), "group_by": "scope"}) for i in (0, 1)]
    if s.intent == "compare":
        s.sites = s.sites[:2]
        return [("emissions_totals", {**f, **_period_args(s), "site": s.sites, "group_by": "site"})]
    if s.intent == "breakdown" and s.by_what in ("month", "quarter"):
        return [("emissions_timeseries", {**f, **_period_args(s), **_sites(s), "interval": s.by_what})]
    if s.intent == "breakdown":
        group = {"activity": "activity_type", "site": "site"}.get(s.by_what or "", "scope")
        return [("emissions_totals", {**f, **_period_args(s), **_sites(s), "group_by": group})]
    if s.both_methods:  # "location vs market-based": both figures of the same selection
        return [("emissions_totals", {**f, **_period_args(s), **_sites(s), "group_by": "scope", "method": m})
                for m in ("location", "market")]
    return [("emissions_totals", {**f, **_period_args(s), **_sites(s), "group_by": "scope"})]


def factor_call(s: Slots, text: str, sites: dict[str, dict[str, Any]], units: dict[str, list[str]],
                year_months: list[tuple[int, int]]) -> Call | str:
    """The ``resolve_factor`` call of a factor question, or what to ask back (which activity, which unit)."""
    if len(s.activity_types) != 1:
        return "The factor for which activity? For example electricity, natural gas, diesel, a hotel night or a flight."
    activity = s.activity_types[0]
    region = next((code for pattern, code in REGIONS if pattern.search(text)), None)
    site = s.sites[0] if s.sites and not s.all_sites else None
    if site is None:
        countries = [str(x["country"]) for x in sites.values() if x.get("country")]
        region = region or (max(sorted(set(countries)), key=countries.count) if countries else "GB")
        site = next((sid for sid in sorted(sites) if str(sites[sid].get("country")) == region), None)
        if site is None:
            return f"I have no site in {region}, so I cannot say which factor would apply there."
    country = str(sites[site].get("country") or region or "")
    s.region_sites = sorted(sid for sid, x in sites.items() if str(x.get("country") or "") == country) or [site]
    known = units.get(activity, [])
    unit = next((u for pattern, names in UNIT_WORDS if re.search(pattern, text, re.I) for u in names if u in known), None)
    if unit is None:  # electricity and gas in kWh; fuels and the rest in their own unit (litres, nights, km)
        own = [u for u in known if u.lower() not in ("kwh", "mwh", "gwh", "gj", "mj", "therm", "btu", "mmbtu")]
        choices: list[str | None] = [*(own or known), None]
        unit = "kWh" if activity in CONSUMPTION_TYPES and "kWh" in known else choices[0]
    if unit is None:
        return f"The factor library has no factor for {activity.replace('_', ' ')}."
    if s.periods:
        at = s.periods[0].start
        hours = (s.periods[0].end - s.periods[0].start).total_seconds() / 3600
    else:
        year = year_months[-1][0] if year_months else 2020
        from services.rag.period import Period, month_period

        first = month_period(year, 1)
        s.periods = [Period(first.start, month_period(year, 12).end, str(year), relative=True)]
        at = first.start
        hours = (s.periods[0].end - at).total_seconds() / 3600
    # the factor the ledger applies: to hourly meter readings (electricity, gas) the factor of their hour (the
    # GB grid's varies by the hour: the period's first hour); to other activities the one of the whole period
    if activity in CONSUMPTION_TYPES:
        hours = 1.0
    return ("resolve_factor", {"site": site, "activity_type": activity, "unit": unit,
                               "at": at.strftime("%Y-%m-%dT%H:%M:%S"), "hours": min(max(hours, 1.0), 24 * 366)})


def hourly_factor_calls(s: Slots, activity: str) -> list[Call]:
    """An hourly factor (the GB grid's) has no single value for a period: its mean over the period weighted by
    consumption is the ledger's emissions of the activity in the region over the readings' kWh there."""
    period = _period_args(s)
    return [("emissions_totals", {**period, "activity_type": [activity], "site": list(s.region_sites),
                                  "method": "location", "group_by": "scope"}),
            ("consumption", {**period, "activity_type": [activity], "site": list(s.region_sites), "demand": False})]

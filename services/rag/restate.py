"""The question as answered (issue #19): every answer starts with it ("Electricity use of b33, March 2019:
..."), and the chat answer carries it as ``restated`` with the answer's ``kind`` (value, rank, compare,
breakdown, explain, decline, clarify). Numbers are written with their unit and at least four significant
digits."""

from __future__ import annotations

import calendar
import math
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.rag.period import Period
    from services.rag.question import Slots

ACTIVITY_NAMES = {"electricity": "electricity", "natural_gas": "gas"}
SCOPE_NAMES = {1: "Scope 1", 2: "Scope 2", 3: "Scope 3"}
KINDS = {"totals": "value", "intensity": "value", "factor": "value", "site_info": "value", "list_sites": "value",
         "top": "rank", "compare": "compare", "breakdown": "breakdown", "kb": "explain", "recommend": "explain",
         "alerts": "explain", "greeting": "explain", "clarify": "clarify"}
ENERGY_UNITS = {"kWh": 1.0, "MWh": 1e-3, "GWh": 1e-6}


def num(value: float) -> str:
    """``value`` with at least four significant digits (thousands separated)."""
    a = abs(value)
    if a >= 1000 or a == 0:
        return f"{value:,.0f}"
    decimals = 3 - int(math.floor(math.log10(a)))
    return f"{value:,.{max(decimals, 0)}f}"


def energy(kwh: float, unit: str | None) -> str:
    u = unit if unit in ENERGY_UNITS else "kWh"
    return f"{num(kwh * ENERGY_UNITS[u])} {u}"


def co2e(kg: float, unit: str | None = "t") -> str:
    return f"{num(kg)} kg CO2e" if unit == "kg" else f"{num(kg / 1000)} t CO2e"


def kind_of(s: Slots, *, declined: bool = False) -> str:
    if s.clarify or s.intent == "clarify":
        return "clarify"
    if declined:
        return "decline"
    return KINDS.get(s.intent, "value")


def _activities(s: Slots) -> str:
    names = [ACTIVITY_NAMES.get(a, a.replace("_", " ")) for a in s.activity_types]
    return " and ".join(names)


def what(s: Slots) -> str:
    """The measure: "Electricity use", "Peak gas demand", "Scope 2 emissions (location-based)"..."""
    acts = _activities(s)
    if s.measure == "energy":
        text = f"{acts} use" if acts else "Energy use (electricity and gas)"
    elif s.measure == "demand":
        text = f"{'Peak' if s.stat == 'peak' else 'Average'} {acts or 'electricity'} demand"
    elif s.measure == "intensity":
        text = (f"Energy use intensity ({acts or 'electricity and gas'}, kWh/m2)" if s.intensity_of == "energy"
                else "Carbon intensity (kg CO2e/m2)")
    elif s.measure == "factor":
        text = f"Emission factor for {acts or 'the activity'}"
    else:
        parts = [" + ".join(SCOPE_NAMES[x] for x in s.scopes)] if s.scopes else []
        if s.category:
            parts.append(f"Scope 3 category {s.category}")
        if acts:
            parts.append(acts)
        text = (" ".join(parts) + " emissions") if parts else "Emissions"
        if s.both_methods:
            text += " (location- and market-based)"
        elif s.method == "market" or s.activity_types == ["electricity"] or 2 in s.scopes:
            text += f" ({s.method or 'location'}-based)"
    return text[0].upper() + text[1:]


def where(s: Slots, sites: list[str] | None = None) -> str:
    sites = s.sites if sites is None else sites
    if s.tag:
        return f"the sites tagged '{s.tag}' ({len(sites)} sites)"
    if not sites or s.all_sites:
        return "all sites"
    if len(sites) == 1:
        return sites[0]
    joined = ", ".join(sites[:-1]) + " and " + sites[-1]
    return joined + (" combined" if s.intent not in ("compare", "top", "breakdown") else "")


def when(p: Period | None, latest: bool = False) -> str:
    if p is None:
        return "the latest year with data" if latest else "all the data"
    if p.relative and p.note:
        return f"{p.label} ({p.note})"
    if p.relative:
        days = (p.end - p.start).days
        note = ("the last month with data" if days <= 31 else "the last quarter with data" if 89 <= days <= 92
                and p.start.month in (1, 4, 7, 10) and p.label.startswith("Q") else "the latest year with data"
                if 365 <= days <= 366 else "relative to the newest data, which ends " + _newest(p))
        return f"{p.label} ({note})"
    return p.label


def _newest(p: Period) -> str:
    last = p.end - timedelta(days=1)
    return f"{calendar.month_name[last.month]} {last.year}"


def _without_activities(s: Slots) -> Slots:
    from dataclasses import replace

    return replace(s, activity_types=[])


def restated(s: Slots) -> str:
    """The question as answered, from the slots."""
    period = s.periods[0] if s.periods else None
    if s.intent == "top":
        n = s.top_n or 5
        things = {"site": "site", "activity": "activity", "month": "month", "quarter": "quarter"}.get(s.by_what or "site", "site")
        head = f"{'Bottom' if s.order == 'bottom' else 'Top'} {n} {things}{'s' if n != 1 else ''} by {what(s)[0].lower()}{what(s)[1:]}"
        return f"{head}, {where(s)}, {when(period)}" if s.tag or (s.sites and not s.all_sites) else f"{head}, {when(period)}"
    if s.intent == "compare" and s.by_what == "activity" and len(s.activity_types) == 2:
        measure = "Energy use" if s.measure == "energy" else what(_without_activities(s))
        a, b = (ACTIVITY_NAMES.get(x, x.replace("_", " ")) for x in s.activity_types)
        return f"{measure}, {a} vs {b}, {where(s)}, {when(period)}"
    if s.intent == "compare" and len(s.periods) >= 2:
        return f"{what(s)} of {where(s)}, {when(s.periods[0])} vs {when(s.periods[1])}"
    if s.intent == "compare" and len(s.sites) >= 2:
        return f"{what(s)}, {' vs '.join(s.sites[:2])}, {when(period)}"
    if s.intent == "breakdown":
        by = {"activity": "activity type"}.get(s.by_what or "", s.by_what or "scope")
        return f"{what(s)} of {where(s)} by {by}, {when(period)}"
    if s.measure == "factor":
        return f"{what(s)}, {when(period, latest=True)}"
    return f"{what(s)} of {where(s)}, {when(period)}"

"""Planning an answer: what to query for a parsed question. The question's slots (``services.rag.question``,
merged with the previous question's for a follow-up) become either tool calls (data-core queries or a
knowledge-base search) or a direct answer when nothing should be queried: a greeting, an impossible date, an
unknown site, a question outside the domain, or the data core down for a question that needs numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from services.common.errors import DomainError
from services.rag.action import DECLINE as ACTION_DECLINE
from services.rag.action import action_request
from services.rag.datacore import DataCoreClient
from services.rag.kb import KnowledgeBase
from services.rag.measure import clarification
from services.rag.measure_plan import factor_call, measure_calls
from services.rag.period import month_period
from services.rag.question import Slots, merge_follow_up, parse
from services.rag.restate import kind_of, restated
from services.rag.scope import CAPABILITIES, out_of_scope

Call = tuple[str, dict[str, Any]]
"""A tool call: the tool's name and its arguments."""


@dataclass
class Answer:
    """A written answer (or a decline) with its citations and the numbers it states."""

    text: str
    declined: bool = False
    citations: list[dict[str, Any]] = field(default_factory=list)
    facts: list[dict[str, Any]] = field(default_factory=list)
    kind: str | None = None  # value | rank | compare | breakdown | explain | decline | clarify
    restated: str | None = None  # the question as answered


@dataclass
class Calls:
    """Tool calls to make before answering; ``step`` 2 is a second round (the actions for an alert)."""

    calls: list[Call]
    step: int = 1


Reply = Answer | Calls
WHICH_MEASURE = ("What would you like to know: energy use (kWh), average or peak demand (kW), emissions (t CO2e), "
                 "intensity per m2 or an emission factor, and for which sites and period?")


def unknown_site_text(unknown: list[str], site_ids: Iterable[str]) -> str:
    """The decline of a question about sites the data core does not know, listing the ones it knows."""
    sites = sorted(site_ids, key=lambda x: (re.sub(r"\d+", "", x), int(re.sub(r"\D", "", x) or 0), x))
    shown = ", ".join(sites[:60]) + (f" and {len(sites) - 60} more" if len(sites) > 60 else "")
    names = ", ".join(f"'{u}'" for u in unknown)
    return (f"I don't know a site called {names}: it is not in the data core. The organisation's sites are "
            f"{shown}. Ask about one of them, or about all sites together.")


def plan(question: str, previous: Slots | None, dc: DataCoreClient, kb: KnowledgeBase) -> tuple[Slots, Reply]:
    """The slots of ``question`` (a follow-up of ``previous``) and what to do: tool calls or an answer."""
    try:
        sites, activity_types, year_months = dc.sites(), dc.activity_types(), dc.year_months()
        down = None
    except DomainError as exc:  # the knowledge base still answers; numbers wait for the data core
        sites, activity_types, year_months, down = {}, [], [], exc.detail
    slots = parse(question, sites=sites, activity_types=activity_types, year_months=year_months)
    slots = merge_follow_up(slots, previous)
    if previous is None:
        slots.follow_up = False  # "it", "that building" with nothing before: not a follow-up of anything
    if slots.intent == "greeting":
        return slots, Answer(f"Hello. {CAPABILITIES}", kind="explain")
    if not slots.follow_up and action_request(question, slots):
        return slots, Answer(f"{ACTION_DECLINE} {CAPABILITIES}", declined=True, kind="decline")
    if not slots.follow_up and out_of_scope(question, kb, data_question=complete_data_question(slots)):
        return slots, Answer(f"I don't know: that is outside what I can answer. {CAPABILITIES}", declined=True,
                             kind="decline")
    if down is not None and slots.intent not in ("kb", "greeting"):
        return slots, Answer(f"I could not reach the data core just now ({down}), so I will not guess a number. "
                             "Questions about reduction measures and methodology still work.", declined=True,
                             kind="decline")
    if slots.invalid_dates:
        return slots, Answer(f"'{slots.invalid_dates[0]}' is not a date, so I will not guess which period you "
                             "mean. Ask with a real date, month, quarter or year.", declined=True, kind="clarify")
    if slots.unknown_sites and not slots.tag:  # one site unknown among known ones: asked, not half answered
        return slots, Answer(unknown_site_text(slots.unknown_sites, dc.sites()), declined=True, kind="clarify")
    if slots.intent not in ("alerts", "recommend", "list_sites", "site_info") and year_months:
        ask = clarification(slots, question, first_month=month_period(*year_months[0]).label,
                            last_month=month_period(*year_months[-1]).label)
        if ask:
            slots.clarify = ask
            return slots, Answer(ask, kind="clarify")
    if slots.intent == "kb":
        return slots, Calls([("search_knowledge_base", {"query": question, "top_k": 5})])
    if slots.intent == "factor":
        call = factor_call(slots, question, sites, dc.factor_units(), year_months)
        if isinstance(call, str):
            slots.clarify = call
            return slots, Answer(call, kind="clarify")
        return slots, Calls([call])
    if slots.measure is not None and slots.intent in ("totals", "top", "compare", "breakdown"):
        return slots, Calls(measure_calls(slots))
    calls = data_calls(slots)
    if calls is None:
        slots.clarify = WHICH_MEASURE
        return slots, Answer(WHICH_MEASURE, kind="clarify")
    return slots, Calls(calls)


def complete_data_question(s: Slots) -> bool:
    """The reader found a whole data question: a measure to compute, and a period for it (a factor needs none)."""
    return (s.measure is not None and s.intent in ("totals", "top", "compare", "breakdown", "factor")
            and (bool(s.periods) or s.measure == "factor"))


def answer_meta(reply: Answer, slots: Slots) -> Answer:
    """The answer with its kind and the question as answered (from the slots when the renderer left them)."""
    if reply.kind is None:
        reply.kind = kind_of(slots, declined=reply.declined)
    if reply.restated is None and reply.kind in ("value", "rank", "compare", "breakdown") and slots.measure:
        reply.restated = restated(slots)
    return reply


def data_calls(s: Slots) -> list[Call] | None:
    """The data-core tool calls of the questions that are not a measure (alerts, actions, the sites), or None
    when the question asks for a number without saying what to measure (asked back, never guessed)."""
    if s.intent == "alerts":
        return [("site_alerts", {"site": s.sites[0] if s.sites else None})]
    if s.intent == "recommend" and s.hotspot_id and not s.activity_types:
        return [("recommend_actions", {"hotspot_id": s.hotspot_id, "top_k": 5})]
    if s.intent == "recommend" and s.sites:
        return [("recommend_actions", {"site": s.sites[0], "activity_type": s.activity_types[0] if s.activity_types else None,
                                       "category": s.category, "top_k": 5})]
    if s.intent == "list_sites":
        return [("list_sites", {})]
    if s.intent == "site_info":
        return [("site_info", {"site": s.sites[0]})] if s.sites else [("list_sites", {})]
    return None

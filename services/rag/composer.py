"""The grounded composer: the default "language model" of the chatbot, with no weights.

It is a haystack chat generator, driven by a haystack ``Agent`` exactly like a real model: on the user's
message it plans tool calls (``services.rag.parse`` reads the question), the Agent invokes the tools, and on
the tool results it writes the answer. It writes only what the results contain: numbers from the data-core
queries (cited ``[Q1]``...) and passages of the knowledge base (cited ``[doc-id]``). What it cannot answer it
declines, saying what it can answer instead.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Any

from haystack import component
from haystack.dataclasses import ChatMessage, StreamingChunk, ToolCall

from services.common.errors import DomainError
from services.rag.datacore import DataCoreClient
from services.rag.kb import KnowledgeBase
from services.rag.parse import Period, Slots, merge_follow_up, parse

log = logging.getLogger(__name__)
SCOPE_NAMES = {1: "Scope 1", 2: "Scope 2", 3: "Scope 3"}
CATEGORY_NAMES = {1: "purchased goods and services", 2: "capital goods", 3: "fuel- and energy-related activities",
                  4: "upstream transportation", 5: "waste", 6: "business travel", 7: "employee commuting",
                  8: "upstream leased assets", 9: "downstream transportation", 10: "processing of sold products",
                  11: "use of sold products", 12: "end-of-life treatment", 13: "downstream leased assets",
                  14: "franchises", 15: "investments"}
CAPABILITIES = ("I can answer from your organisation's ledger (emissions by scope, site, activity, period; "
                "location- or market-based scope 2; top contributors; changes between periods; intensity per m2), "
                "explain open alerts and hotspots, recommend ranked reduction actions for a site or hotspot with "
                "estimated abatement, and explain reduction measures and GHG accounting methodology from the "
                "knowledge base.")
DOMAIN = re.compile(
    r"\b(?:emission\w*|carbon|co2\w*|ghg|greenhouse|climate|net[- ]zero|scope|energy|electric\w*|gas|heat\w*|boiler\w*|"
    r"hvac|ventilat\w*|cool\w*|chill\w*|lighting|led|insulat\w*|solar|pv|wind|renewable\w*|tariff|ppa|rego\w*|rec|"
    r"certificate\w*|grid|fleet|vehicle\w*|vans?|diesel|petrol|ev|evs|electrif\w*|freight|logistic\w*|shipping|travel|"
    r"flights?|flying|rail|trains?|hotel\w*|commut\w*|supplier\w*|procurement|purchas\w*|refrigerant\w*|f-?gas\w*|"
    r"leak\w*|gwp|hfc\w*|factor\w*|ledger|kwh|mwh|tco2e|tonnes?|abatement|reduc\w*|decarbon\w*|efficien\w*|"
    r"building\w*|sites?|meter\w*|alerts?|hotspots?|sbti|target\w*|baseline|inventory|offset\w*|intensity|"
    r"retrofit\w*|bms|bems|thermostat\w*|pump\w*|compressor\w*|sustainab\w*|footprint|desnz|defra|epa|iea|"
    r"r-?\d{2,3}[a-z]?|degrees?|setpoints?|temperatures?|burners?|envelope|ashp|gshp|trvs?|dhw|lfp|batter\w*|"
    r"panels?|fugitive|\w*commission\w*|restat\w*|recalculat\w*|upload\w*|csv|duplicat\w*|egrid|obligation\w*|"
    r"savings?|insulation|glazing|draught\w*|kw|fuel\w*|litres?|mileage|tonne-km|payback|capex|m2|"
    r"report\w*|occupan\w*|thermal|radiator\w*|ventilation|air[- ]?con\w*)\b", re.I)
# requests an assistant for carbon data must not answer from a loosely related passage (a meeting room is not
# "virtual meetings", a marketing budget is not a carbon budget)
OFF_TOPIC = re.compile(
    r"\b(?:book(?:ing)? a|send an? (?:e-?mail|message)|marketing|revenue|profit|payroll|headcount|"
    r"how many (?:employees|staff|people)|canteen|joke|poem|recipe|weather|stock price|exchange rate|translate|"
    r"football|world cup|novel|films? (?:on|showing)|cinema|password)\b", re.I)


def fmt_t(kg: float) -> str:
    return f"{kg / 1000:,.3f} t CO2e"


def _describe(slots: Slots, period: Period | None, *, site: str | None = None, method: str | None = None) -> str:
    parts = []
    if slots.scopes:
        parts.append(" + ".join(SCOPE_NAMES[s] for s in slots.scopes))
    if slots.category:
        parts.append(f"Scope 3 category {slots.category} ({CATEGORY_NAMES.get(slots.category, '')})")
    if slots.activity_types:
        parts.append(", ".join(a.replace("_", " ") for a in slots.activity_types))
    what = " ".join(parts) + " emissions" if parts else "Emissions"
    if method or (2 in slots.scopes or "electricity" in slots.activity_types):
        what += f" ({method or slots.method or 'location'}-based)"
    where = f" of {site}" if site else (f" of {', '.join(slots.sites)}" if slots.sites else " across all sites")
    when = f" in {period.label}" if period else " over all the data"
    return what[0].upper() + what[1:] + where + when


class _Refs:
    """Citation references for one answer: queries numbered Q1..., knowledge-base documents by id."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def query(self, citation: dict[str, Any], result: Any = None) -> str:
        for item in self.items:
            if item["type"] == "query" and item["url"] == citation.get("url"):
                return str(item["ref"])
        ref = f"Q{sum(1 for i in self.items if i['type'] == 'query') + 1}"
        entry = {"ref": ref, **citation}
        if result is not None:
            entry["result"] = result
        self.items.append(entry)
        return ref

    def doc(self, doc_id: str, title: str, snippet: str = "", section: str = "") -> str:
        if not any(i["type"] == "kb" and i["id"] == doc_id for i in self.items):
            self.items.append({"ref": doc_id, "type": "kb", "id": doc_id, "title": title, "section": section,
                               "snippet": snippet, "url": f"/api/kb/{doc_id}"})
        return doc_id


def collect_tool_results(messages: list[ChatMessage]) -> list[tuple[str, dict[str, Any], Any, bool]]:
    """(tool name, arguments, parsed result, error) of the tool calls after the last user message."""
    last_user = max((i for i, m in enumerate(messages) if m.is_from("user")), default=-1)
    out = []
    for m in messages[last_user + 1:]:
        for r in m.tool_call_results:
            try:
                value = json.loads(r.result) if isinstance(r.result, str) else r.result
            except ValueError:
                value = r.result
            out.append((r.origin.tool_name, dict(r.origin.arguments), value, bool(r.error)))
    return out


def citations_from_results(results: list[tuple[str, dict[str, Any], Any, bool]]) -> list[dict[str, Any]]:
    """Citations of a turn answered by a language model: the n-th data tool call is [Qn] (its further queries,
    e.g. the two baselines of recommend_actions, [Qnb], [Qnc]), as the system prompt tells the model; every
    knowledge-base document returned is cited by its id."""
    items: list[dict[str, Any]] = []
    n = 0
    for _name, _args, value, error in results:
        if error or not isinstance(value, dict):
            continue
        queries = ([value["citation"]] if "citation" in value else []) + [
            c for c in value.get("citations", []) if c.get("type") == "query"]
        if queries:
            n += 1
            for i, c in enumerate(queries):
                entry = {"ref": f"Q{n}" + ("" if i == 0 else "bcdefghij"[i - 1]), **c}
                if i == 0 and "result" in value:
                    entry["result"] = value["result"]
                items.append(entry)
        docs = [(d["id"], d["title"], d.get("snippet", ""), d.get("section", "")) for d in value.get("documents", [])]
        docs += [(a["id"], a["title"], a.get("summary", ""), "") for a in value.get("actions", [])]
        for doc_id, title, snippet, section in docs:
            if not any(i["type"] == "kb" and i["id"] == doc_id for i in items):
                items.append({"ref": doc_id, "type": "kb", "id": doc_id, "title": title, "section": section,
                              "snippet": snippet, "url": f"/api/kb/{doc_id}"})
    return items


@component
class GroundedComposer:
    """A chat generator without a model: plans tool calls from the question, then composes the answer
    from the tool results only."""

    def __init__(self, dc: DataCoreClient, kb: KnowledgeBase, *, decline_dense: float = 0.30) -> None:
        self.dc = dc
        self.kb = kb
        self.decline_dense = decline_dense

    @component.output_types(replies=list[ChatMessage])
    def run(self, messages: list[ChatMessage], tools: Any = None, streaming_callback: Any = None,
            generation_kwargs: dict[str, Any] | None = None) -> dict[str, list[ChatMessage]]:
        results = collect_tool_results(messages)
        user = next((m for m in reversed(messages) if m.is_from("user")), None)
        question = (user.text or "") if user else ""
        planning = next((m for m in reversed(messages) if m.is_from("assistant") and m.tool_calls
                         and m.meta.get("slots")), None) if results else None
        if not results or planning is None:
            reply = self._plan(question, messages)
        else:
            slots = Slots.from_dict(planning.meta["slots"])
            reply = self._compose(question, slots, results, step=int(planning.meta.get("step", 1)))
        if streaming_callback is not None and reply.text:
            for piece in re.findall(r"\S+\s*", reply.text):
                streaming_callback(StreamingChunk(content=piece))
        return {"replies": [reply]}

    # ------------------------------------------------------------------ planning
    def _previous_slots(self, messages: list[ChatMessage]) -> Slots | None:
        for m in reversed(messages[:-1]):
            if m.is_from("assistant") and m.meta.get("slots") and not m.tool_calls:
                return Slots.from_dict(m.meta["slots"])
        return None

    def _plan(self, question: str, messages: list[ChatMessage]) -> ChatMessage:
        try:
            sites, activity_types, year_months = self.dc.sites(), self.dc.activity_types(), self.dc.year_months()
            down = None
        except DomainError as exc:  # the knowledge base still answers; numbers wait for the data core
            sites, activity_types, year_months, down = {}, [], [], exc.detail
        slots = parse(question, sites=sites, activity_types=activity_types, year_months=year_months)
        slots = merge_follow_up(slots, self._previous_slots(messages))
        if down is not None and slots.intent not in ("kb", "greeting"):
            return self._final(f"I could not reach the data core just now ({down}), so I will not guess a number. "
                               "Questions about reduction measures and methodology still work.", slots, declined=True)
        if slots.invalid_dates:
            return self._final(f"'{slots.invalid_dates[0]}' is not a date, so I will not guess which period you mean. "
                               "Ask with a real date, month, quarter or year.", slots, declined=True)
        if slots.unknown_sites and not slots.sites:
            return self._final(self._unknown_site(slots), slots, declined=True)
        if slots.intent == "greeting":
            return self._final(f"Hello. {CAPABILITIES}", slots)
        if slots.intent == "kb":
            if self.out_of_scope(question):
                return self._final(f"I don't know: that is outside what I can answer. {CAPABILITIES}", slots,
                                   declined=True)
            return self._calls(slots, [("search_knowledge_base", {"query": question, "top_k": 5})])
        calls = self._data_calls(slots)
        return self._calls(slots, calls)

    def _data_calls(self, s: Slots) -> list[tuple[str, dict[str, Any]]]:
        period = s.periods[0] if s.periods else None
        base: dict[str, Any] = {}
        if period:
            base.update(period.params())
        if s.scopes:
            base["scope"] = s.scopes
        if s.activity_types:
            base["activity_type"] = s.activity_types
        if s.category:
            base["category"] = [s.category]
        method = s.method or "location"
        if s.intent == "alerts":
            return [("site_alerts", {"site": s.sites[0] if s.sites else None})]
        if s.intent == "recommend" and s.hotspot_id and not s.activity_types:
            return [("recommend_actions", {"hotspot_id": s.hotspot_id, "top_k": 5})]
        if s.intent == "recommend":
            return [("recommend_actions", {"site": s.sites[0], "activity_type": s.activity_types[0] if s.activity_types else None,
                                           "category": s.category, "top_k": 5})]
        if s.intent == "list_sites":
            return [("list_sites", {})]
        if s.intent == "site_info":
            return [("site_info", {"site": s.sites[0]})] if s.sites else [("list_sites", {})]
        if s.intent == "top":
            by = s.by or ("activity_type" if s.sites else "site")
            return [("top_contributors", {**base, **({"site": s.sites} if s.sites else {}), "by": by,
                                          "limit": s.top_n or 5, "method": method})]
        site_args = {"site": s.sites} if s.sites else {}
        if s.intent == "intensity" and not s.sites:
            s.intent = "totals"  # intensity is per site (its floor area); without one, the total
        if s.intent == "intensity" and s.sites:
            s.sites = s.sites[:1]  # per site: its own emissions over its own floor area
            return [("emissions_totals", {**base, "site": s.sites, "method": method, "group_by": "site"}),
                    ("site_info", {"site": s.sites[0]})]
        if s.intent == "compare" and len(s.sites) >= 2 and len(s.periods) < 2:
            s.sites = s.sites[:2]  # "b2 vs b5 in 2020": the two sites side by side
            common = {k: v for k, v in base.items()}
            return [("emissions_totals", {**common, "site": [site], "method": method}) for site in s.sites]
        if s.intent == "compare":
            first = s.periods[0] if s.periods else None
            second = s.periods[1] if len(s.periods) > 1 else (first.previous() if first else None)
            if first is None or second is None:
                s.intent = "totals"
            else:
                older, newer = sorted([first, second], key=lambda p: p.start)
                s.periods = [older, newer]  # the composer labels exactly these two
                common = {k: v for k, v in base.items() if k not in ("start", "end")}
                return [("emissions_totals", {**common, **older.params(), **site_args, "method": method}),
                        ("emissions_totals", {**common, **newer.params(), **site_args, "method": method})]
        group = "activity_type" if s.intent == "breakdown" and s.by == "activity_type" else "scope"
        calls = [("emissions_totals", {**base, **site_args, "method": method, "group_by": group})]
        scope2_only = s.scopes == [2] or (s.activity_types == ["electricity"])
        if (scope2_only and s.method is None) or s.both_methods:
            calls.append(("emissions_totals", {**base, **site_args, "method": "market", "group_by": group}))
        return calls

    def _calls(self, slots: Slots, calls: list[tuple[str, dict[str, Any]]], step: int = 1) -> ChatMessage:
        tool_calls = [ToolCall(tool_name=name, arguments={k: v for k, v in args.items() if v is not None},
                               id=uuid.uuid4().hex[:12]) for name, args in calls]
        return ChatMessage.from_assistant(tool_calls=tool_calls, meta={"slots": slots.to_dict(), "step": step})

    def _final(self, text: str, slots: Slots, *, declined: bool = False, citations: list[dict[str, Any]] | None = None,
               facts: list[dict[str, Any]] | None = None) -> ChatMessage:
        return ChatMessage.from_assistant(text, meta={"slots": slots.to_dict(), "declined": declined,
                                                      "citations": citations or [], "facts": facts or []})

    def _unknown_site(self, slots: Slots) -> str:
        sites = sorted(self.dc.sites(), key=lambda x: (re.sub(r"\d+", "", x), int(re.sub(r"\D", "", x) or 0), x))
        shown = ", ".join(sites[:60]) + (f" and {len(sites) - 60} more" if len(sites) > 60 else "")
        names = ", ".join(f"'{u}'" for u in slots.unknown_sites)
        return (f"I don't know a site called {names}: it is not in the data core. The organisation's sites are "
                f"{shown}. Ask about one of them, or about all sites together.")

    def out_of_scope(self, question: str) -> bool:
        """Declined: a request of another kind (booking, e-mail, finance, trivia), or no word of the domain and
        nothing in the knowledge base semantically close (cosine of the best section below ``decline_dense``;
        without the embedding model, no word of the domain is enough)."""
        if DOMAIN.search(question):
            return False
        if OFF_TOPIC.search(question):
            return True
        dense = self.kb.dense_top_score(question)
        return dense is None or dense < self.decline_dense

    # ------------------------------------------------------------------ composing
    def _compose(self, question: str, s: Slots, results: list[tuple[str, dict[str, Any], Any, bool]],
                 step: int) -> ChatMessage:
        refs = _Refs()
        errors = [(name, value) for name, _a, value, error in results if error]
        if errors:
            name, value = errors[0]
            text = str(value)
            if "hotspot" in text.lower() and ("404" in text or "not found" in text.lower() or "no " in text):
                return self._final("I could not find that hotspot any more (it may have been closed and removed), so "
                                   "I will not guess. Ask about the site instead.", s, declined=True)
            if "no site" in text or "404" in text or "not found" in text.lower():
                return self._final(self._unknown_site(Slots(unknown_sites=s.sites or ["?"])), s, declined=True)
            return self._final(f"I could not get that from the data core just now ({text[:200]}), so I will not guess "
                               "a number. Please try again in a moment.", s, declined=True)
        try:
            return self._compose_intent(question, s, results, refs, step)
        except (StopIteration, KeyError, IndexError, TypeError, ValueError) as exc:  # a result it cannot read
            log.warning("could not compose an answer", extra={"intent": s.intent, "error": repr(exc)})
            return self._final("I don't know how to answer that from the results I got, so I will not guess. "
                               f"{CAPABILITIES}", s, declined=True)

    def _compose_intent(self, question: str, s: Slots, results: list[Any], refs: _Refs, step: int) -> ChatMessage:
        if s.intent == "kb":
            return self._compose_kb(question, s, results, refs)
        if s.intent == "alerts":
            return self._compose_alerts(s, results, refs, step)
        if s.intent == "recommend":
            return self._compose_recommend(s, results, refs)
        if s.intent == "list_sites":
            (_n, _a, value, _e), = results
            ref = refs.query(value["citation"])
            sites = value["result"]
            text = f"The organisation has {len(sites)} sites: " + ", ".join(x["id"] for x in sites) + f" [{ref}]."
            return self._final(text, s, citations=refs.items)
        if s.intent == "site_info":
            (_n, _a, value, _e), = results[:1]
            ref = refs.query(value["citation"])
            site = value["result"]
            text = (f"{site['id']} ({site.get('name') or 'no name'}): country {site.get('country') or 'unknown'}, "
                    f"grid region {site.get('grid_region') or 'unknown'}, floor area "
                    f"{_num(site.get('floor_area_m2'))} m2 [{ref}].")
            return self._final(text, s, citations=refs.items)
        if s.intent == "top":
            return self._compose_top(s, results, refs)
        if s.intent == "intensity":
            return self._compose_intensity(s, results, refs)
        if s.intent == "compare" and len(results) == 2:
            return self._compose_compare(s, results, refs)
        return self._compose_totals(s, results, refs)

    def _compose_totals(self, s: Slots, results: list[Any], refs: _Refs) -> ChatMessage:
        period = s.periods[0] if s.periods else None
        _n, args, value, _e = results[0]
        body = value["result"]
        ref = refs.query(value["citation"], body)
        total = float(body["total_kg_co2e"])
        method = args.get("method", "location")
        desc = _describe(s, period, method=method if (2 in s.scopes or "electricity" in s.activity_types) else None)
        facts = [{"label": desc, "value_kg": total, "value_t": total / 1000, "ref": ref}]
        if total == 0 and not body["rows"]:
            text = (f"{desc}: the ledger has no rows for that selection [{ref}], so the total is 0. "
                    "Check the period or the site.")
            return self._final(text, s, citations=refs.items, facts=facts)
        lines = [f"{desc}: **{fmt_t(total)}** ({total:,.1f} kg) [{ref}]."]
        if len(results) > 1:
            _n2, args2, value2, _e2 = results[1]
            market = float(value2["result"]["total_kg_co2e"])
            ref2 = refs.query(value2["citation"], value2["result"])
            lines.append(f"Market-based, with the contractual instruments: {fmt_t(market)} [{ref2}].")
            facts.append({"label": desc.replace("location-based", "market-based"), "value_kg": market,
                          "value_t": market / 1000, "ref": ref2})
        rows = [r for r in body["rows"] if float(r["kg_co2e"])]
        if len(rows) > 1 and body.get("group_by"):
            key = body["group_by"][0]
            parts = [f"{_label(key, r.get(key))} {fmt_t(float(r['kg_co2e']))}"
                     for r in sorted(rows, key=lambda r: -float(r["kg_co2e"]))[:6]]
            lines.append("By " + key.replace("_", " ") + ": " + "; ".join(parts) + f" [{ref}].")
        n_rows = sum(int(r.get("rows") or 0) for r in body["rows"])
        lines.append(f"From {n_rows:,} ledger rows of ledger version {body.get('ledger_version')}; activities are "
                     "counted in the period they start. The audit trail of the query shows every factor used.")
        return self._final("\n\n".join(lines), s, citations=refs.items, facts=facts)

    def _compose_compare(self, s: Slots, results: list[Any], refs: _Refs) -> ChatMessage:
        (_a, args_a, va, _), (_b, args_b, vb, _) = results
        ka, kb_ = float(va["result"]["total_kg_co2e"]), float(vb["result"]["total_kg_co2e"])
        ra, rb = refs.query(va["citation"], va["result"]), refs.query(vb["citation"], vb["result"])
        change = kb_ - ka
        pct = f" ({change / ka * 100:+.1f} %)" if ka else ""
        if len(s.sites) == 2 and args_a.get("site") != args_b.get("site"):
            period = s.periods[0] if s.periods else None
            da, db = _describe(s, period, site=s.sites[0]), _describe(s, period, site=s.sites[1])
            text = (f"{da}: {fmt_t(ka)} [{ra}].\n\n{db}: {fmt_t(kb_)} [{rb}].\n\n"
                    f"{s.sites[1]} {'above' if change >= 0 else 'below'} {s.sites[0]} by **{fmt_t(abs(change))}**{pct}.")
            facts = [{"label": f"{s.sites[1]} minus {s.sites[0]}", "value_kg": change, "value_t": change / 1000,
                      "ref": rb}, {"label": da, "value_kg": ka, "value_t": ka / 1000, "ref": ra},
                     {"label": db, "value_kg": kb_, "value_t": kb_ / 1000, "ref": rb}]
            return self._final(text, s, citations=refs.items, facts=facts)
        periods = s.periods[:2]
        da, db = _describe(s, periods[0]), _describe(s, periods[1])
        text = (f"{da}: {fmt_t(ka)} [{ra}].\n\n{db}: {fmt_t(kb_)} [{rb}].\n\n"
                f"Change: **{'+' if change >= 0 else '-'}{fmt_t(abs(change))}**{pct} from {periods[0].label} to "
                f"{periods[1].label}.")
        facts = [{"label": f"change {periods[0].label} -> {periods[1].label}", "value_kg": change,
                  "value_t": change / 1000, "ref": rb},
                 {"label": da, "value_kg": ka, "value_t": ka / 1000, "ref": ra},
                 {"label": db, "value_kg": kb_, "value_t": kb_ / 1000, "ref": rb}]
        return self._final(text, s, citations=refs.items, facts=facts)

    def _compose_top(self, s: Slots, results: list[Any], refs: _Refs) -> ChatMessage:
        _n, args, value, _e = results[0]
        body = value["result"]
        ref = refs.query(value["citation"], body)
        by = body.get("by", "site")
        period = s.periods[0] if s.periods else None
        rows = body["rows"]
        if not rows:
            return self._final(f"The ledger has no emissions for that selection [{ref}].", s, citations=refs.items)
        head = rows[0]
        when = f" in {period.label}" if period else ""
        lines = [f"The largest contributor by {by.replace('_', ' ')}{when} is **{_label(by, head[by])}** with "
                 f"{fmt_t(float(head['kg_co2e']))} ({float(head['share']) * 100:.1f} % of "
                 f"{fmt_t(float(body['total_kg_co2e']))}) [{ref}]."]
        others = [f"{i}. {_label(by, r[by])}: {fmt_t(float(r['kg_co2e']))} ({float(r['share']) * 100:.1f} %)"
                  for i, r in enumerate(rows[:args.get('limit', 5)], start=1)]
        lines.append("\n".join(others))
        lines.append(f"{body.get('pareto_count')} of {body.get('contributors')} make up 80 % of the total [{ref}].")
        facts = [{"label": f"top {by}{when}: {head[by]}", "value_kg": float(head["kg_co2e"]),
                  "value_t": float(head["kg_co2e"]) / 1000, "ref": ref, "key": str(head[by])}]
        return self._final("\n\n".join(lines), s, citations=refs.items, facts=facts)

    def _compose_intensity(self, s: Slots, results: list[Any], refs: _Refs) -> ChatMessage:
        totals = next(v for n, _a, v, _e in results if n == "emissions_totals")
        info = next(v for n, _a, v, _e in results if n == "site_info")
        ra = refs.query(totals["citation"], totals["result"])
        rb = refs.query(info["citation"])
        kg = float(totals["result"]["total_kg_co2e"])
        area = info["result"].get("floor_area_m2")
        period = s.periods[0] if s.periods else None
        site = s.sites[0]
        if not area:
            return self._final(f"{site} has no floor area in the data core [{rb}], so I cannot give an intensity. "
                               f"Its emissions were {fmt_t(kg)} [{ra}].", s, citations=refs.items)
        value = kg / float(area)
        when = f" in {period.label}" if period else ""
        text = (f"Carbon intensity of {site}{when}: **{value:,.2f} kg CO2e per m2** ({fmt_t(kg)} [{ra}] over "
                f"{float(area):,.0f} m2 of floor area [{rb}]).")
        facts = [{"label": f"intensity of {site}{when}", "value": value, "unit": "kg CO2e/m2", "ref": ra}]
        return self._final(text, s, citations=refs.items, facts=facts)

    def _compose_alerts(self, s: Slots, results: list[Any], refs: _Refs, step: int) -> ChatMessage:
        alerts_value = next(v for n, _a, v, _e in results if n == "site_alerts")
        ref = refs.query(alerts_value["citation"])
        alerts = alerts_value["result"].get("alerts", [])
        where = s.sites[0] if s.sites else "all sites"
        if not alerts:
            return self._final(f"There is no open or acknowledged alert for {where} [{ref}].", s,
                               citations=refs.items)
        rec = next((v for n, _a, v, _e in results if n == "recommend_actions"), None)
        if s.sites:
            s.hotspot_id = (alerts[0].get("hotspot") or {}).get("id")
        if rec is None and step == 1 and s.sites:
            hotspot = alerts[0].get("hotspot") or {}
            if hotspot.get("id"):
                return self._calls(s, [("recommend_actions", {"hotspot_id": hotspot["id"], "top_k": 3})], step=2)
        plural = "s" if len(alerts) != 1 else ""
        lines = [f"{where} has {len(alerts)} open or acknowledged alert{plural} [{ref}]:" if s.sites else
                 f"Across all sites there {'are' if plural else 'is'} {len(alerts)} open or acknowledged alert{plural}"
                 f"{' (the 5 newest below)' if len(alerts) > 5 else ''} [{ref}]:"]
        facts = []
        for a in alerts[:5]:
            h = a.get("hotspot") or {}
            ev = h.get("evidence") or {}
            detail = _evidence_text(h.get("kind"), ev)
            excess = ""
            if h.get("excess_kwh") is not None:
                excess = f"; {float(h['excess_kwh']):,.0f} kWh above expected"
                if h.get("excess_kg") is not None:
                    excess += f" ({fmt_t(float(h['excess_kg']))})"
            lines.append(f"- **{a.get('severity', h.get('severity'))}** {str(h.get('kind', '')).replace('_', ' ')} on "
                         f"{h.get('site')} {str(h.get('activity_type') or '').replace('_', ' ')}"
                         f"{' meter ' + str(h['meter']) if h.get('meter') else ''}, "
                         f"{_day(h.get('period_start'))} to {_day(h.get('period_end'))}{excess}{detail}; "
                         f"alert status {a.get('status')} [{ref}].")
            if h.get("excess_kg") is not None:
                facts.append({"label": f"excess of hotspot {h.get('id')}", "value_kg": float(h["excess_kg"]),
                              "value_t": float(h["excess_kg"]) / 1000, "ref": ref})
        if rec is not None:
            qrefs = [refs.query(c) for c in rec.get("citations", []) if c.get("type") == "query"]
            lines.append(_actions_text(rec, refs, qrefs, intro="What to do first"))
        return self._final("\n".join(lines), s, citations=refs.items, facts=facts)

    def _compose_recommend(self, s: Slots, results: list[Any], refs: _Refs) -> ChatMessage:
        rec = results[0][2]
        qrefs = [refs.query(c) for c in rec.get("citations", []) if c.get("type") == "query"]
        target = rec["target"]
        what = str(target.get("activity_type") or (f"category {target['category']}" if target.get("category")
                                                    else "all activities")).replace("_", " ")
        if not rec["actions"]:
            return self._final(f"I have no measure to recommend for {what} at {target['site']}: "
                               f"{rec.get('note', 'nothing matched')} [{', '.join(qrefs)}].", s, citations=refs.items)
        if target.get("hotspot_kind"):
            what = f"the {str(target['hotspot_kind']).replace('_', ' ')} hotspot on {what}"
        text = _actions_text(rec, refs, qrefs, intro=f"Ranked actions for {what} at {target['site']}").lstrip()
        facts = [{"label": f"abatement of {a['id']}", "value_t": a["abatement_t_co2e_per_year"]["mid"],
                  "ref": a["id"]} for a in rec["actions"]]
        return self._final(text, s, citations=refs.items, facts=facts)

    def _compose_kb(self, question: str, s: Slots, results: list[Any], refs: _Refs) -> ChatMessage:
        docs = results[0][2].get("documents", [])
        if not docs:
            return self._final(f"I don't know: the knowledge base has nothing on that. {CAPABILITIES}", s,
                               declined=True)
        top = docs[0]
        ref = refs.doc(top["id"], top["title"], top["snippet"], top["section"])
        doc = self.kb.by_id[top["id"]]
        lines = [f"**{doc.title}** [{ref}]", _clean(doc.summary())]
        rng = doc.reduction
        if rng:
            srcs = "; ".join(f"{x.get('publisher')}, {x.get('title')}" for x in doc.sources()[:2])
            lines.append(f"Typical reduction: {rng[0]:g}-{rng[1]:g} % of {doc.meta.get('reduction_basis') or 'the emissions it addresses'} "
                         f"(source: {srcs}); effort {doc.meta.get('effort')}, cost {doc.meta.get('cost')} [{ref}].")
        elif top["snippet"] and top["section"] not in ("Overview",):
            lines.append(f"{top['section']}: {_clean(top['snippet'])} [{ref}]")
        also = [d for d in docs[1:4]]
        if also:
            lines.append("See also: " + "; ".join(
                f"{d['title']} [{refs.doc(d['id'], d['title'], d['snippet'], d['section'])}]" for d in also) + ".")
        if s.sites or s.org:
            lines.append("For numbers of your own sites, ask e.g. \"what were b2's gas emissions in 2020?\".")
        return self._final("\n\n".join(lines), s, citations=refs.items)


def _actions_text(rec: dict[str, Any], refs: _Refs, qrefs: list[str], intro: str) -> str:
    lines = [f"\n{intro} (abatement per year from the site's last 12 months in the ledger "
             f"[{', '.join(dict.fromkeys(qrefs))}] x the measure's cited reduction range):"]
    for a in rec["actions"]:
        ref = refs.doc(a["id"], a["title"], a.get("summary", ""))
        ab = a["abatement_t_co2e_per_year"]
        lines.append(f"{a['rank']}. **{a['title']}**: {ab['low']:,.1f}-{ab['high']:,.1f} t CO2e/yr "
                     f"({a['reduction_pct']['low']:g}-{a['reduction_pct']['high']:g} % of "
                     f"{a['baseline_t_co2e_per_year']:,.1f} t{', market-based figure only' if a.get('scope2_method') == 'market' else ''}), "
                     f"effort {a['effort']}, cost {a['cost']} [{ref}].")
    note = (rec.get("hotspot") or {}).get("note")
    if note:
        lines.append(f"Note: {note}.")
    return "\n".join(lines)


def _evidence_text(kind: str | None, ev: dict[str, Any]) -> str:
    keys = [("ratio", "actual/expected {:.2f}x"), ("excess_ratio", "{:.0%} above expected"),
            ("hours_above", "{:.0f} h above the expected range"), ("z", "z {:.1f}"), ("hours", "{:.0f} h"),
            ("share", "{:.0%} of emissions"), ("growth", "{:+.0%} on the previous period")]
    parts = []
    for key, pattern in keys:
        v = ev.get(key)
        if isinstance(v, int | float):
            try:
                parts.append(pattern.format(v))
            except (ValueError, TypeError):
                continue
    return (" (" + ", ".join(parts[:3]) + ")") if parts else ""


def _label(key: str, value: Any) -> str:
    if key == "scope":
        return SCOPE_NAMES.get(int(value), f"scope {value}")
    if key == "category":
        return f"category {value}" if value is not None else "no category"
    return str(value).replace("_", " ") if key == "activity_type" else str(value)


def _num(v: Any) -> str:
    return f"{float(v):,.0f}" if isinstance(v, int | float) else "unknown"


def _day(v: Any) -> str:
    return str(v)[:16].replace("T", " ") if v else "?"


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()

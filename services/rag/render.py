"""Writing an answer from tool results for the questions that are not a measure: alerts (with the actions for
the first hotspot), recommendations, the sites, and knowledge-base answers (a measure is written by
:mod:`services.rag.measure_render`). Each writes only what the results contain: numbers from the data-core queries (cited ``[Q1]``...) and passages of the
knowledge base (cited ``[doc-id]``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from services.rag.citations import Refs, ToolResult
from services.rag.kb import KnowledgeBase
from services.rag.plan import Answer, Calls, Reply, unknown_site_text
from services.rag.question import Slots
from services.rag.restate import co2e
from services.rag.scope import CAPABILITIES

log = logging.getLogger(__name__)


def fmt_t(kg: float) -> str:
    return co2e(kg, "t")


def render(s: Slots, results: list[ToolResult], step: int, *, kb: KnowledgeBase,
           site_ids: Callable[[], Iterable[str]]) -> Reply:
    """The answer to the slots ``s`` from the tool results of round ``step`` (or a second round of calls).
    A failed call is declined (a hotspot gone, a site unknown, the data core down), as is a result it cannot
    read; ``site_ids`` lists the known sites for the unknown-site decline."""
    refs = Refs()
    errors = [(name, value) for name, _a, value, error in results if error]
    if errors:
        name, value = errors[0]
        text = str(value)
        if "hotspot" in text.lower() and ("404" in text or "not found" in text.lower() or "no " in text):
            return Answer("I could not find that hotspot any more (it may have been closed and removed), so "
                          "I will not guess. Ask about the site instead.", declined=True)
        if "no site" in text or "404" in text or "not found" in text.lower():
            return Answer(unknown_site_text(s.sites or ["?"], site_ids()), declined=True)
        return Answer(f"I could not get that from the data core just now ({text[:200]}), so I will not guess "
                      "a number. Please try again in a moment.", declined=True)
    try:
        return _intent(kb, s, results, refs, step)
    except (StopIteration, KeyError, IndexError, TypeError, ValueError) as exc:  # a result it cannot read
        log.warning("could not compose an answer", extra={"intent": s.intent, "error": repr(exc)})
        return Answer("I don't know how to answer that from the results I got, so I will not guess. "
                      f"{CAPABILITIES}", declined=True)


def _intent(kb: KnowledgeBase, s: Slots, results: list[ToolResult], refs: Refs, step: int) -> Reply:
    if s.measure is not None and s.intent in ("totals", "top", "compare", "breakdown", "factor"):
        from services.rag.measure_render import render_measure  # it imports plan's Answer, as this module does

        return render_measure(s, results, refs)
    if s.intent == "kb":
        return _kb(kb, s, results, refs)
    if s.intent == "alerts":
        return _alerts(s, results, refs, step)
    if s.intent == "recommend":
        return _recommend(s, results, refs)
    if s.intent == "list_sites":
        return _list_sites(results, refs)
    if s.intent == "site_info":
        return _site_info(results, refs)
    return Answer(f"I don't know how to answer that from the results I got, so I will not guess. {CAPABILITIES}",
                  declined=True)


def _list_sites(results: list[ToolResult], refs: Refs) -> Answer:
    (_n, _a, value, _e), = results
    ref = refs.query(value["citation"])
    sites = value["result"]
    text = f"The organisation has {len(sites)} sites: " + ", ".join(x["id"] for x in sites) + f" [{ref}]."
    return Answer(text, citations=refs.items)


def _site_info(results: list[ToolResult], refs: Refs) -> Answer:
    (_n, _a, value, _e), = results[:1]
    ref = refs.query(value["citation"])
    site = value["result"]
    text = (f"{site['id']} ({site.get('name') or 'no name'}): country {site.get('country') or 'unknown'}, "
            f"grid region {site.get('grid_region') or 'unknown'}, floor area "
            f"{_num(site.get('floor_area_m2'))} m2 [{ref}].")
    return Answer(text, citations=refs.items)






def _alerts(s: Slots, results: list[ToolResult], refs: Refs, step: int) -> Reply:
    alerts_value = next(v for n, _a, v, _e in results if n == "site_alerts")
    ref = refs.query(alerts_value["citation"])
    alerts = alerts_value["result"].get("alerts", [])
    where = s.sites[0] if s.sites else "all sites"
    if not alerts:
        return Answer(f"There is no open or acknowledged alert for {where} [{ref}].",
                      citations=refs.items)
    rec = next((v for n, _a, v, _e in results if n == "recommend_actions"), None)
    if s.sites:
        s.hotspot_id = (alerts[0].get("hotspot") or {}).get("id")
    if rec is None and step == 1 and s.sites:
        hotspot = alerts[0].get("hotspot") or {}
        if hotspot.get("id"):
            return Calls([("recommend_actions", {"hotspot_id": hotspot["id"], "top_k": 3})], step=2)
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
    return Answer("\n".join(lines), citations=refs.items, facts=facts)


def _recommend(s: Slots, results: list[ToolResult], refs: Refs) -> Answer:
    rec = results[0][2]
    qrefs = [refs.query(c) for c in rec.get("citations", []) if c.get("type") == "query"]
    target = rec["target"]
    what = str(target.get("activity_type") or (f"category {target['category']}" if target.get("category")
                                                else "all activities")).replace("_", " ")
    if not rec["actions"]:
        return Answer(f"I have no measure to recommend for {what} at {target['site']}: "
                      f"{rec.get('note', 'nothing matched')} [{', '.join(qrefs)}].", citations=refs.items)
    if target.get("hotspot_kind"):
        what = f"the {str(target['hotspot_kind']).replace('_', ' ')} hotspot on {what}"
    text = _actions_text(rec, refs, qrefs, intro=f"Ranked actions for {what} at {target['site']}").lstrip()
    facts = [{"label": f"abatement of {a['id']}", "value_t": a["abatement_t_co2e_per_year"]["mid"],
              "ref": a["id"]} for a in rec["actions"]]
    return Answer(text, citations=refs.items, facts=facts)


def _kb(kb: KnowledgeBase, s: Slots, results: list[ToolResult], refs: Refs) -> Answer:
    docs = results[0][2].get("documents", [])
    if not docs:
        return Answer(f"I don't know: the knowledge base has nothing on that. {CAPABILITIES}",
                      declined=True)
    top = docs[0]
    ref = refs.doc(top["id"], top["title"], top["snippet"], top["section"])
    doc = kb.by_id[top["id"]]
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
    return Answer("\n\n".join(lines), citations=refs.items)


def _actions_text(rec: dict[str, Any], refs: Refs, qrefs: list[str], intro: str) -> str:
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


def _num(v: Any) -> str:
    return f"{float(v):,.0f}" if isinstance(v, int | float) else "unknown"


def _day(v: Any) -> str:
    return str(v)[:16].replace("T", " ") if v else "?"


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()

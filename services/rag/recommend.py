"""Ranked reduction actions for a hotspot (or a site and an activity type / Scope 3 category).

Abatement is computed, never guessed: the site's own emissions of each activity type over its last 12 months
of ledger data (location-based, and market-based for measures that act on contractual instruments) times the
measure's cited reduction range (``reduction_pct`` in the document's front matter) gives t CO2e per year, low
to high. Ranking: measures that answer the hotspot's kind first, then by the middle of the abatement range
discounted by effort and by cost (each low 1.0, medium 0.85, high 0.7) and by half for contractual
instruments (green tariffs, PPAs, certificates), which lower the market-based figure only; for a hotspot
they come after every measure that cuts the physical excess.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from services.common.contracts import FAULT_KINDS
from services.common.errors import NotFound, Unprocessable
from services.rag.datacore import DataCoreClient
from services.rag.kb import KbDocument, KnowledgeBase

EFFORT_FACTOR = {"low": 1.0, "medium": 0.85, "high": 0.7}
COST_FACTOR = {"low": 1.0, "medium": 0.85, "high": 0.7}
CONTRACTUAL_FACTOR = 0.5
COST_ORDER = {"low": 0, "medium": 1, "high": 2}


def _month_index(period: str) -> int:
    return int(period[:4]) * 12 + int(period[5:7]) - 1


def _month_label(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def annual_baseline(dc: DataCoreClient, site: str, activity_types: list[str] | None = None,
                    category: int | None = None) -> dict[str, Any]:
    """kg CO2e per activity type over the 12 calendar months ending at the site's newest month with data
    (months without rows count as zero: quarterly bills and one-off top-ups are not inflated), scaled to a
    year only when the site's history is shorter than 12 months; location- and market-based, both cited."""
    out: dict[str, Any] = {"site": site, "activity_types": {}, "citations": []}
    monthly: dict[str, dict[str, dict[str, float]]] = {}
    for method in ("location", "market"):
        params: dict[str, Any] = {"interval": "month", "site": [site], "group_by": "activity_type", "method": method}
        if activity_types:
            params["activity_type"] = activity_types
        if category:
            params["category"] = [category]
        body, citation = dc.timeseries(**params)
        out["citations"].append(citation)
        per_act: dict[str, dict[str, float]] = defaultdict(dict)
        for r in body["rows"]:
            month = str(r["period"])[:7]
            per_act[str(r["activity_type"])][month] = per_act[str(r["activity_type"])].get(month, 0.0) + float(
                r["kg_co2e"])
        monthly[method] = per_act
    months = sorted({_month_index(m) for acts in monthly["location"].values() for m in acts})
    if not months:
        return out
    newest, first = months[-1], months[0]
    window_start = newest - 11
    covered = newest - max(first, window_start) + 1
    scale = 12 / covered if first > window_start else 1.0
    out["window"] = {"from": _month_label(window_start), "to": _month_label(newest), "months_of_history": covered,
                     "annualised": scale != 1.0}
    for method, per_act in monthly.items():
        for act, values in per_act.items():
            kg = sum(v for m, v in values.items() if window_start <= _month_index(m) <= newest)
            entry = out["activity_types"].setdefault(act, {"from": _month_label(window_start),
                                                           "to": _month_label(newest), "annualised": scale != 1.0})
            entry[f"kg_{method}"] = kg * scale
    return out


def _base_kg(doc: KbDocument, baseline: dict[str, Any], targets: list[str]) -> tuple[float, list[str]]:
    method = str(doc.meta.get("scope2_method") or "location")
    key = "kg_market" if method == "market" else "kg_location"
    acts = [a for a in targets if doc.applies_to(a)]
    kg = sum(float(baseline["activity_types"].get(a, {}).get(key, 0.0)) for a in acts)
    return kg, acts


def rank_measures(kb: KnowledgeBase, baseline: dict[str, Any], targets: list[str], kind: str | None,
                  top_k: int = 5) -> list[dict[str, Any]]:
    actions: list[dict[str, Any]] = []
    order: dict[str, tuple[int, float, int, str]] = {}
    for doc in kb.measures():
        kg, acts = _base_kg(doc, baseline, targets)
        if not acts:
            continue
        low_pct, high_pct = doc.reduction or (0.0, 0.0)
        low_t, high_t = kg * low_pct / 100 / 1000, kg * high_pct / 100 / 1000
        mid_t = (low_t + high_t) / 2
        matches_kind = kind is None or kind in doc.hotspot_kinds
        effort = str(doc.meta.get("effort", "medium"))
        cost = str(doc.meta.get("cost", "medium"))
        score = mid_t * EFFORT_FACTOR.get(effort, 0.85) * COST_FACTOR.get(cost, 0.85)
        contractual = doc.meta.get("scope2_method") == "market"
        if contractual:
            score *= CONTRACTUAL_FACTOR  # lowers the market-based figure only; physical cuts come first
        actions.append({
            "id": doc.id, "title": doc.title, "topic": doc.topic, "summary": doc.summary(),
            "activity_types": acts, "reduction_pct": {"low": low_pct, "high": high_pct},
            "reduction_basis": doc.meta.get("reduction_basis"),
            "scope2_method": doc.meta.get("scope2_method"),
            "baseline_t_co2e_per_year": round(kg / 1000, 3),
            "abatement_t_co2e_per_year": {"low": round(low_t, 3), "mid": round(mid_t, 3), "high": round(high_t, 3)},
            "effort": effort, "cost": cost, "payback_years": doc.meta.get("payback_years"),
            "answers_hotspot_kind": matches_kind,
            "citations": [{"type": "kb", "id": doc.id, "title": doc.title}]
            + [{"type": "source", **{k: s.get(k) for k in ("publisher", "title", "url", "year", "states")}}
               for s in doc.sources()],
        })
        # for a hotspot (a physical excess) contractual instruments come after every measure that cuts it
        tier = (0 if matches_kind else 1) + (2 if contractual and kind is not None else 0)
        order[doc.id] = (tier, -score, COST_ORDER.get(cost, 1), doc.id)
    actions.sort(key=lambda a: order[str(a["id"])])
    for rank, a in enumerate(actions, start=1):
        a["rank"] = rank
    return actions[:top_k]


def recommend(kb: KnowledgeBase, dc: DataCoreClient, *, hotspot: dict[str, Any] | None = None,
              hotspot_id: str | None = None, site: str | None = None, activity_type: str | None = None,
              category: int | None = None, top_k: int = 5) -> dict[str, Any]:
    citations: list[dict[str, Any]] = []
    if hotspot is None and hotspot_id:
        hotspot, citation = dc.hotspot(hotspot_id)
        citations.append(citation)
    kind = None
    if hotspot is not None:
        site = str(hotspot.get("site") or site or "")
        activity_type = hotspot.get("activity_type") or activity_type
        kind = hotspot.get("kind")
    if not site:
        raise Unprocessable("give a hotspot (hotspot_id or hotspot) or a site", field="site")
    if site not in dc.sites():
        raise NotFound(f"no site '{site}' in the data core")
    targets = [activity_type] if activity_type else None
    baseline = annual_baseline(dc, site, targets, None if activity_type else category)
    citations.extend(baseline["citations"])
    activities = sorted(baseline["activity_types"]) if not activity_type else [activity_type]
    actions = rank_measures(kb, baseline, activities, kind, top_k)
    if not actions and kind is None and not baseline["activity_types"]:
        note = f"site {site} has no ledger data for {activity_type or 'any activity'}; nothing to estimate from"
    elif not actions:
        note = f"the knowledge base has no measure for {activity_type or ', '.join(activities) or 'this site'}"
    else:
        note = None
    for a in actions:
        a["citations"].append({"type": "query", "ref": "baseline", "endpoint": baseline["citations"][0]["endpoint"]})
    result: dict[str, Any] = {
        "target": {"site": site, "activity_type": activity_type, "category": category,
                   "hotspot_id": (hotspot or {}).get("id"), "hotspot_kind": kind},
        "baseline": {"activity_types": {a: {**v, "t_location": round(v.get("kg_location", 0.0) / 1000, 3),
                                            "t_market": round(v.get("kg_market", 0.0) / 1000, 3)}
                                        for a, v in baseline["activity_types"].items()},
                     "window": baseline.get("window"),
                     "basis": "the 12 calendar months ending at the site's newest month with data (months without "
                              "rows count as zero; scaled to a year only when the site's history is shorter)"},
        "actions": actions,
        "method": "abatement = the site's annual emissions of the measure's activity types x its cited reduction range; "
                  "ranked: measures for the hotspot's kind first, then mid abatement x effort and cost factors (contractual "
                  "instruments x 0.5; for a hotspot, after the measures that cut it)",
        "citations": citations,
    }
    if hotspot is not None:
        result["hotspot"] = {k: hotspot.get(k) for k in ("id", "kind", "site", "meter", "activity_type", "severity",
                                                         "period_start", "period_end", "excess_kwh", "excess_kg")}
        if kind in FAULT_KINDS and hotspot.get("excess_kg"):
            result["hotspot"]["note"] = (
                f"the hotspot itself is {float(hotspot['excess_kg']) / 1000:.3f} t CO2e above expected so far; "
                "finding and fixing its cause recovers that first")
    if note:
        result["note"] = note
    return result

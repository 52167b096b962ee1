"""Writing the answer to a question with a measure (issue #19) from the results of the calls
:mod:`services.rag.measure_plan` made: it starts with the question as answered
(:func:`services.rag.restate.restated`), gives every number with its unit and at least four significant
digits, and cites the query each number comes from ([Q1]...). Consumption and demand come from the readings,
emissions from the ledger, a factor from the factor library's resolution."""

from __future__ import annotations

from typing import Any

from services.rag.citations import Refs, ToolResult
from services.rag.measure_plan import hourly_factor_calls
from services.rag.plan import Answer, Calls, Reply
from services.rag.question import Slots
from services.rag.restate import ACTIVITY_NAMES, co2e, energy, num, restated

ENERGY_KEYS = ("site", "activity_type", "month", "quarter")


def render_measure(s: Slots, results: list[ToolResult], refs: Refs) -> Reply:
    head = restated(s)
    if s.measure == "factor":
        body = results[0][2]["result"]
        if body.get("selection") == "hourly" and len(results) == 1 and s.region_sites:
            return Calls(hourly_factor_calls(s, str(results[0][1].get("activity_type"))), step=2)
        return _factor(s, results, refs, head)
    if s.measure == "intensity":
        answer = _intensity(s, results, refs, head)
    elif results[0][0] == "consumption":
        return _consumption(s, results, refs, head)
    else:
        answer = _emissions(s, results, refs, head)
    return _prorated_note(answer, results, refs)


def _prorated_note(answer: Answer, results: list[ToolResult], refs: Refs) -> Answer:
    """Say (and cite) that readings longer than the period were counted by their share of time in it."""
    crossing = sum(int((v.get("result") or {}).get("prorated", {}).get("rows") or 0) for _n, _a, v, _e in results
                   if isinstance(v, dict) and isinstance(v.get("result"), dict))
    if not crossing or answer.declined:
        return answer
    found = [refs.query(c) for _n, _a, v, _e in results if isinstance(v, dict) for c in v.get("citations") or []]
    answer.text += (f"\n\n{crossing} reading{'s' if crossing != 1 else ''} longer than the period (annual, quarterly "
                    "or monthly) counted by their share of time inside it, not whole in the period they start "
                    f"[{', '.join(dict.fromkeys(found))}].")
    answer.citations = refs.items
    return answer


def _answer(s: Slots, head: str, lines: list[str], refs: Refs, facts: list[dict[str, Any]], kind: str | None = None,
            *, declined: bool = False) -> Answer:
    text = f"{head}: " + "\n\n".join(lines)
    return Answer(text, citations=refs.items, facts=facts, kind=kind, restated=head, declined=declined)


# ---------------------------------------------------------------------------------------------- consumption
def _stat(s: Slots, body: dict[str, Any]) -> float | None:
    if s.measure == "demand":
        value = body.get("peak_kw" if s.stat == "peak" else "avg_kw")
        return None if value is None else float(value)
    return float(body.get("total_kwh", body.get("kwh", 0.0)) or 0.0)


def _fmt(s: Slots, value: float) -> str:
    return f"{num(value)} kW" if s.measure == "demand" else energy(value, s.unit)


def _row_stat(s: Slots, row: dict[str, Any]) -> float | None:
    if s.measure == "demand":
        value = row.get("peak_kw" if s.stat == "peak" else "avg_kw")
        return None if value is None else float(value)
    return float(row.get("kwh") or 0.0)


def _key(row: dict[str, Any], keys: list[str]) -> str:
    return " ".join(str(row[k]).replace("_", " ") for k in keys if row.get(k) is not None)


def _consumption_note(s: Slots, body: dict[str, Any]) -> str:
    hours = int(body.get("hours") or 0)
    parts = [f"from {hours:,} hourly readings (kWh per hour = average kW)"] if hours else []
    if float(body.get("prorated_kwh") or 0) and s.measure == "energy":
        parts.append(f"{energy(float(body['prorated_kwh']), s.unit)} of it prorated from readings longer than an hour")
    if s.measure == "demand" and len(s.sites) != 1:
        parts.append("the sites' hours summed")
    return ("(" + "; ".join(parts) + ")") if parts else ""


def _consumption(s: Slots, results: list[ToolResult], refs: Refs, head: str) -> Answer:
    bodies = [(v["result"], refs.query(v["citation"], v["result"])) for _n, _a, v, _e in results]
    body, ref = bodies[0]
    if s.intent == "compare" and len(bodies) == 2 and (len(s.periods) >= 2 or s.by_what == "activity"):
        (b1, r1), (b2, r2) = bodies
        v1, v2 = _stat(s, b1), _stat(s, b2)
        if v1 is None or v2 is None or (s.measure == "energy" and not (b1.get("hours") or b1.get("total_kwh"))):
            return _no_data(s, head, refs, ref)
        la, lb = _compared(s)
        return _change(s, head, refs, [(la, v1, r1), (lb, v2, r2)])
    rows = body.get("rows") or []
    keys = [k for k in body.get("group_by") or [] if k in ENERGY_KEYS]
    if s.intent == "compare":
        by_site = {r["site"]: r for r in rows}
        pairs = [(site, _row_stat(s, by_site[site]) if site in by_site else None, ref) for site in s.sites[:2]]
        if any(v is None for _k, v, _r in pairs):
            return _no_data(s, head, refs, ref)
        return _change(s, head, refs, pairs)  # type: ignore[arg-type]
    if s.intent in ("top", "breakdown"):
        return _listing(s, head, refs, ref, [(_key(r, keys), _row_stat(s, r)) for r in rows], _fmt, body)
    value = _stat(s, body)
    if value is None or (not body.get("hours") and not body.get("total_kwh")):
        return _no_data(s, head, refs, ref)
    lines = [f"**{_fmt(s, value)}** [{ref}] {_consumption_note(s, body)}".rstrip()]
    if len(rows) > 1 and s.measure == "energy":
        lines.append("Of which " + "; ".join(f"{_key(r, keys)} {energy(float(r['kwh']), s.unit)}" for r in rows)
                     + f" [{ref}].")
    fact = {"label": head, "value": value, "unit": "kW" if s.measure == "demand" else (s.unit or "kWh"), "ref": ref}
    if s.measure == "energy":
        fact["value_kwh"] = value
    return _answer(s, head, lines, refs, [fact])


def _compared(s: Slots) -> tuple[str, str]:
    """The labels of the two things a two-query comparison weighs: two activities, or two periods."""
    if s.by_what == "activity":
        a, b = s.activity_types[:2]
        return ACTIVITY_NAMES.get(a, a.replace("_", " ")), ACTIVITY_NAMES.get(b, b.replace("_", " "))
    return s.periods[0].label, s.periods[1].label


def _no_data(s: Slots, head: str, refs: Refs, ref: str) -> Answer:
    return _answer(s, head, [f"the readings have no data for that selection [{ref}], so I have no figure. Check "
                             "the period, the site or the activity (hourly readings are electricity and gas)."],
                   refs, [], kind="decline", declined=True)


def _change(s: Slots, head: str, refs: Refs, pairs: list[tuple[str, float, str]]) -> Answer:
    (la, va, ra), (lb, vb, rb) = pairs
    fmt = (lambda v: co2e(v, s.unit)) if s.measure == "emissions" else (lambda v: _fmt(s, v))
    change = vb - va
    pct = f" ({change / va * 100:+.2f} %)" if va else ""
    lines = [f"{la}: **{fmt(va)}** [{ra}]; {lb}: **{fmt(vb)}** [{rb}].",
             f"Change from {la} to {lb}: **{'+' if change >= 0 else '-'}{fmt(abs(change))}**{pct}."]
    unit = "kg CO2e" if s.measure == "emissions" else ("kW" if s.measure == "demand" else "kWh")
    facts = [{"label": f"change {la} -> {lb}", "value": change, "unit": unit, "ref": rb,
              "pct": change / va * 100 if va else None},
             {"label": la, "value": va, "unit": unit, "ref": ra}, {"label": lb, "value": vb, "unit": unit, "ref": rb}]
    return _answer(s, head, lines, refs, _with_kg(s, facts))


def _listing(s: Slots, head: str, refs: Refs, ref: str, given: list[tuple[str, float | None]], fmt: Any,
             body: dict[str, Any]) -> Answer:
    """A ranking (sorted, the first n) or a breakdown (in order, with the total)."""
    items: list[tuple[str, float]] = [(k, v) for k, v in given if v is not None]
    if not items:
        return _no_data(s, head, refs, ref)
    if s.intent == "top":
        items = sorted(items, key=lambda kv: kv[1], reverse=s.order != "bottom")[: s.top_n or 5]
        lines = [f"{i}. **{k}**: {fmt(s, v)}" for i, (k, v) in enumerate(items, start=1)]
        text = ["\n".join(lines) + f" [{ref}]"]
        facts = [{"label": k, "key": k, "value": v, "rank": i, "ref": ref} for i, (k, v) in enumerate(items, start=1)]
        return _answer(s, head, text, refs, _with_kg(s, facts))
    if s.by_what in ("site", "activity", "scope"):
        items = sorted(items, key=lambda kv: -kv[1])  # the largest first; months and quarters stay in order
    total = sum(v for _k, v in items) if s.measure != "demand" else None
    text = ["; ".join(f"{k}: {fmt(s, v)}" for k, v in items) + f" [{ref}]."]
    if total is not None:
        text.append(f"Total: **{fmt(s, total)}** [{ref}].")
    facts = [{"label": k, "key": k, "value": v, "ref": ref} for k, v in items]
    return _answer(s, head, text, refs, _with_kg(s, facts))


def _with_kg(s: Slots, facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Emission facts also in kg and t (``value_kg``, ``value_t``), as the other answers give them."""
    if s.measure != "emissions":
        return facts
    return [{**f, "value_kg": float(f["value"]), "value_t": float(f["value"]) / 1000} for f in facts]


# ---------------------------------------------------------------------------------------------- emissions
def _efmt(s: Slots, kg: float) -> str:
    return co2e(kg, s.unit)


def _emissions(s: Slots, results: list[ToolResult], refs: Refs, head: str) -> Answer:
    bodies = [(v["result"], refs.query(v["citation"], v["result"])) for _n, _a, v, _e in results]
    body, ref = bodies[0]
    fmt = lambda _s, kg: _efmt(s, kg)  # noqa: E731
    if s.intent == "compare" and len(bodies) == 2:
        (b1, r1), (b2, r2) = bodies
        la, lb = _compared(s)
        return _change(s, head, refs, [(la, float(b1["total_kg_co2e"]), r1), (lb, float(b2["total_kg_co2e"]), r2)])
    rows = body.get("rows") or []
    methods = [str(a.get("method")) for _n, a, _v, _e in results]
    if len(bodies) == 2 and methods == ["location", "market"]:
        (b1, r1), (b2, r2) = bodies
        kg1, kg2 = float(b1["total_kg_co2e"]), float(b2["total_kg_co2e"])
        # two methods of the same selection are a comparison: both figures and how far apart they are
        diff = kg2 - kg1
        pct = f" ({diff / kg1 * 100:+.2f} % of the location-based figure)" if kg1 else ""
        return _answer(s, head, [f"location-based **{_efmt(s, kg1)}** [{r1}]; market-based (with the contractual "
                                 f"instruments) **{_efmt(s, kg2)}** [{r2}].",
                                 f"Market-based minus location-based: **{'+' if diff >= 0 else '-'}"
                                 f"{_efmt(s, abs(diff))}**{pct}."], refs,
                       [{"label": f"{head}, location-based", "value_kg": kg1, "value_t": kg1 / 1000, "ref": r1},
                        {"label": f"{head}, market-based", "value_kg": kg2, "value_t": kg2 / 1000, "ref": r2},
                        {"label": f"{head}, market minus location", "value_kg": diff, "value_t": diff / 1000,
                         "ref": r2, "pct": diff / kg1 * 100 if kg1 else None}], kind="compare")
    if s.intent == "compare":
        by_site = {r.get("site"): float(r["kg_co2e"]) for r in rows}
        return _change(s, head, refs, [(site, by_site.get(site, 0.0), ref) for site in s.sites[:2]])
    if results[0][0] == "emissions_timeseries":
        items = [(_period_label(str(r["period"]), s.by_what), float(r["kg_co2e"])) for r in rows]
        return _listing(s, head, refs, ref, items, fmt, body)  # type: ignore[arg-type]
    if s.intent in ("top", "breakdown"):
        key = (body.get("group_by") or ["scope"])[0]
        items = [(_label(key, r.get(key)), float(r["kg_co2e"])) for r in rows]
        return _listing(s, head, refs, ref, items, fmt, body)  # type: ignore[arg-type]
    total = float(body["total_kg_co2e"])
    n_rows = sum(int(r.get("rows") or 0) for r in rows)
    crossing = int((body.get("prorated") or {}).get("rows") or 0)  # rows that started before the period count too
    if not rows or not (n_rows or crossing):
        return _answer(s, head, [f"the ledger has no rows for that selection [{ref}], so the total is "
                                 f"{_efmt(s, 0.0)}. Check the period or the site."], refs,
                       [{"label": head, "value_kg": 0.0, "value_t": 0.0, "ref": ref}])
    lines = [f"**{_efmt(s, total)}** ({num(total)} kg CO2e) [{ref}]."]
    if len([r for r in rows if float(r["kg_co2e"])]) > 1:
        lines.append("By scope: " + "; ".join(f"{_label('scope', r.get('scope'))} {_efmt(s, float(r['kg_co2e']))}"
                                               for r in rows if float(r["kg_co2e"])) + f" [{ref}].")
    lines.append(f"From {n_rows:,} ledger rows of ledger version {body.get('ledger_version')}.")
    return _answer(s, head, lines, refs, [{"label": head, "value_kg": total, "value_t": total / 1000, "ref": ref}])


def _label(key: str, value: Any) -> str:
    if key == "scope":
        return f"Scope {value}"
    return str(value).replace("_", " ") if value is not None else "none"


def _period_label(period: str, by: str | None) -> str:
    if by == "quarter":
        return f"{period[:4]}-Q{(int(period[5:7]) - 1) // 3 + 1}"
    return period[:7] if by == "month" else period[:10]


# ---------------------------------------------------------------------------------------------- intensity, factor
def _intensity(s: Slots, results: list[ToolResult], refs: Refs, head: str) -> Answer:
    measured = next(v for n, _a, v, _e in results if n in ("consumption", "emissions_totals"))
    info = next(v for n, _a, v, _e in results if n == "site_info")
    ra, rb = refs.query(measured["citation"], measured["result"]), refs.query(info["citation"])
    area = info["result"].get("floor_area_m2")
    site = s.sites[0]
    if not area:
        return _answer(s, head, [f"{site} has no floor area in the data core [{rb}], so I cannot give an intensity."],
                       refs, [], kind="decline", declined=True)
    if s.intensity_of == "energy":
        amount = float(measured["result"].get("total_kwh") or 0.0)
        value, unit, amount_text = amount / float(area), "kWh/m2", energy(amount, "kWh")
    else:
        amount = float(measured["result"]["total_kg_co2e"])
        value, unit, amount_text = amount / float(area), "kg CO2e/m2", co2e(amount, "t")
    text = f"**{num(value)} {unit}** ({amount_text} [{ra}] over {num(float(area))} m2 of floor area [{rb}])."
    return _answer(s, head, [text], refs, [{"label": head, "value": value, "unit": unit, "ref": ra}])


def _factor(s: Slots, results: list[ToolResult], refs: Refs, head: str) -> Answer:
    _n, args, value, _e = results[0]
    body = value["result"]
    ref = refs.query(value["citation"], body)
    f = body["factor"]
    co2e_kg = f.get("co2e_kg") if f.get("co2e_kg") is not None else f.get("co2_kg")
    gas = "CO2e" if f.get("co2e_kg") is not None else "CO2"
    per = str(f.get("unit") or args.get("unit"))
    region = f.get("region") or "?"
    head = f"{head[: head.rfind(',')]} in {region}{head[head.rfind(','):]}" if "," in head else head
    mean = _hourly_mean(s, results, refs)
    if mean is not None:
        value, text = mean
        lines = [text]
        facts = [{"label": head, "value": value, "unit": f"kg CO2e/{per}", "ref": ref, "source": f.get("source"),
                  "factor_id": f.get("factor_id")}]
    else:
        lines = [f"**{num(float(co2e_kg))} kg {gas} per {per}** [{ref}], for {args.get('activity_type', '').replace('_', ' ')} "
                 f"in region {region} ({f.get('region_level', '')}), valid from {str(f.get('valid_from'))[:10]}."
                 if co2e_kg is not None else f"the factor {f.get('factor_id')} has no CO2e value [{ref}]."]
        facts = [{"label": head, "value": float(co2e_kg) if co2e_kg is not None else None, "unit": f"kg {gas}/{per}",
                  "ref": ref, "source": f.get("source"), "factor_id": f.get("factor_id")}]
    lines.append(f"Source: {f.get('source_label') or f.get('source')}, edition {f.get('edition')}"
                 f"{', ' + str(f.get('table_ref')) if f.get('table_ref') else ''} (factor id {f.get('factor_id')}) [{ref}].")
    if body.get("selection"):
        lines.append(f"Why this factor: {body['selection']} [{ref}].")
    if body.get("selection") == "hourly":
        first = f" (the first hour's is {num(float(co2e_kg))} [{ref}])" if co2e_kg is not None and mean else ""
        lines.append(f"This factor varies by the hour: each hourly reading is multiplied by its own hour's factor{first}"
                     f"{'; the figure above is their mean over the period, weighted by consumption' if mean else ''}.")
    return _answer(s, head, lines, refs, facts)


def _hourly_mean(s: Slots, results: list[ToolResult], refs: Refs) -> tuple[float, str] | None:
    """An hourly factor's mean over the period: the region's emissions of the activity over its kWh."""
    emitted = next((v for n, _a, v, e in results[1:] if n == "emissions_totals" and not e), None)
    used = next((v for n, _a, v, e in results[1:] if n == "consumption" and not e), None)
    if emitted is None or used is None:
        return None
    kg, kwh = float(emitted["result"]["total_kg_co2e"]), float(used["result"].get("total_kwh") or 0.0)
    if kg <= 0 or kwh <= 0:
        return None
    r1, r2 = refs.query(emitted["citation"], emitted["result"]), refs.query(used["citation"], used["result"])
    period = s.periods[0].label if s.periods else "the period"
    return kg / kwh, (f"**{num(kg / kwh)} kg CO2e per kWh** on average over {period} ({co2e(kg)} of location-based "
                      f"emissions [{r1}] over {energy(kwh, 'MWh')} of readings [{r2}] at the region's "
                      f"{len(s.region_sites)} sites).")

"""Reading what a question is about: the sites it names (by id, "building 33" or name, and site-like
names the data core does not know), the activity types (words mapped to the ledger's own activity types,
most specific first) and a Scope 3 category."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

# words -> activity-type patterns (fnmatch), most specific first
ACTIVITY_WORDS: list[tuple[str, list[str]]] = [
    (r"long[- ]haul(?: flights?| air travel| travel| trips?)?", ["air_travel_long_haul"]),
    (r"short[- ]haul(?: flights?| air travel| travel| trips?)?", ["air_travel_short_haul"]),
    (r"(?:air|plane) travel|flights?|flying|aviation|air miles", ["air_travel_*"]),
    (r"hotels?|room[- ]nights?", ["hotel_stay"]),
    (r"rail|trains?", ["rail_travel_*"]),
    (r"diesel(?: vans?| vehicles?| cars?| fleet| trucks?)?", ["vehicle_diesel"]),
    (r"(?:petrol|gasoline)(?: vans?| vehicles?| cars?| fleet| trucks?)?", ["vehicle_gasoline"]),
    (r"fleet|vans?|vehicles?|company cars?", ["vehicle_*"]),
    (r"freight|logistics|shipping|haulage|hgvs?|lorr(?:y|ies)|trucks?", ["freight_*", "upstream_transport_*"]),
    (r"purchased goods|procurement|purchases|spend|suppliers?", ["purchased_goods"]),
    (r"refrigerants?|f-?gas(?:es)?|hfcs?", ["refrigerant_*"]),
    (r"natural gas|gas|heating fuel|heating|boilers?", ["natural_gas"]),
    (r"electricity|electric|power consumption|kwh of power", ["electricity"]),
]
CATEGORY_WORDS: list[tuple[str, int]] = [
    (r"business travel", 6), (r"commut\w*", 7), (r"upstream transport\w*", 4), (r"waste", 5),
    (r"capital goods", 2), (r"fuel[- ]and[- ]energy|t&d losses|transmission (?:and|&) distribution", 3),
]


def parse_sites(text: str, sites: dict[str, dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Known site ids named in the text (by id, "building 33" or name), and site-like names that are unknown."""
    t = text.lower()
    known: list[tuple[int, str]] = []
    lowered = {s.lower(): s for s in sites}
    for m in re.finditer(r"[a-z0-9][a-z0-9_.-]*[a-z0-9]|\b[a-z0-9]\b", t):
        token = m.group(0)
        if token in lowered:
            known.append((m.start(), lowered[token]))
    for m in re.finditer(r"\bbuilding\s*+#?\s*+(\d{1,5})\b", t):
        sid = f"b{m.group(1)}"
        if sid in lowered:
            known.append((m.start(), lowered[sid]))
    for sid, site in sites.items():
        name = str(site.get("name") or "").lower()
        hit = re.search(rf"\b{re.escape(name)}\b", t) if len(name) >= 4 else None
        if hit and not re.fullmatch(r"building \d+", name):
            known.append((hit.start(), sid))
    ordered: list[str] = []
    for _, sid in sorted(known):
        if sid not in ordered:
            ordered.append(sid)
    unknown: list[str] = []
    for m in re.finditer(r"\b(b\d{1,5})\b|\bbuilding\s*+#?\s*+(\d{1,5})\b|\bsite\s++(?:called |named |id )?['\"]?([a-z][a-z_]*+[0-9-][a-z0-9_-]*[a-z0-9])\b", t):
        cand = m.group(1) or (f"b{m.group(2)}" if m.group(2) else m.group(3))
        if cand and cand not in lowered and cand not in ("is", "a", "the", "with", "that", "has", "page", "in"):
            unknown.append(cand)
    # a proper name after "site" or before "office/building/plant" ("site London", "the Paris office")
    for m in re.finditer(r"\bsite\s+(?:called |named )?['\"]?([A-Z][\w-]{2,})|\bthe ([A-Z][\w-]{2,}) (?:office|site|plant|"
                         r"building|warehouse|depot|store)\b", text):
        cand = (m.group(1) or m.group(2)).lower()
        if cand not in lowered and not any(cand in str(x.get("name") or "").lower() for x in sites.values()):
            unknown.append(cand)
    return ordered, unknown


def parse_activities(text: str, present: list[str]) -> tuple[list[str], list[str], int | None]:
    """Activity types (expanded against those the ledger has), the words that named them, a Scope 3 category."""
    t = text.lower()
    category = None
    for pattern, cat in CATEGORY_WORDS:
        if re.search(rf"\b{pattern}\b", t):
            category = cat
            t = re.sub(rf"\b{pattern}\b", " ", t)
            break
    m = re.search(r"\bcategory\s*(\d{1,2})\b", t)
    if m and 1 <= int(m.group(1)) <= 15:
        category = int(m.group(1))
    types: list[str] = []
    words: list[str] = []
    for pattern, targets in ACTIVITY_WORDS:
        hit = re.search(rf"\b(?:{pattern})\b", t)
        if not hit:
            continue
        words.append(hit.group(0))
        t = t[:hit.start()] + " " + t[hit.end():]
        for target in targets:
            matched = [a for a in present if fnmatch.fnmatchcase(a, target)] or ([] if "*" in target else [target])
            types.extend(a for a in matched if a not in types)
    # exact activity-type names ("natural_gas", "vehicle diesel")
    for a in present:
        if re.search(rf"\b{re.escape(a)}\b|\b{re.escape(a.replace('_', ' '))}\b", text.lower()) and a not in types:
            types.append(a)
    return types, words, category

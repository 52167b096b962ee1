"""Reading what a data question measures and how (issue #19), after :mod:`services.rag.question` has read its
sites, periods, scopes and activities:

* **measure**: ``energy`` (kWh, MWh or GWh from the readings), ``demand`` (``stat`` avg or peak, kW, from the
  readings), ``emissions`` (t or kg CO2e from the ledger, location- or market-based), ``intensity`` (``of``
  emissions in kg CO2e/m2 or energy in kWh/m2) or ``factor`` (the emission factor and its source);
* **aggregation**: a value, a ranking (``order`` top or bottom, ``n``), a comparison (of sites or periods), a
  breakdown (``by`` month, quarter, site, activity or scope);
* **sites**: named ones, a tagged group ("the university-tagged buildings"), a site by its name ("the US
  office"), or all;
* **clarify**: the one question to ask back when a slot the answer needs is missing or ambiguous (which
  period, which building, average or peak) -- a wrong number is worse than a question.

Rules over the words, as the rest of the reader; what they cannot settle is asked, not guessed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from services.rag.question import Slots

CONSUMPTION_TYPES = ("electricity", "natural_gas")
EMISSION_WORDS = re.compile(r"\b(?:emission\w*|emit\w*|co2e?|carbon|ghg|footprint|t ?co2e|tonnes?|tons?|"
                            r"kg ?co2e?|kilograms?|greenhouse|scope\s*[123]|scopes?)\b", re.I)
STRONG_EMISSION = re.compile(r"\b(?:emission\w*|emit\w*|co2e?|carbon|ghg|footprint|greenhouse|tonnes?|tons?|"
                             r"kg|kilograms?)\b", re.I)
FACTOR_WORDS = re.compile(r"\bfactors?\b|\bper unit\b|\b(?:kg|g) ?co2e? per (?:litre|liter|kwh|km|night|room)\b.*\b"
                          r"(?:you|do you) (?:apply|use)\b", re.I)
INTENSITY_WORDS = re.compile(r"\b(?:intensity|intensities|eui)\b|per (?:square met\w*|sq\.? ?m\b|m2\b|m²|floor area)|"
                             r"\b(?:normali[sz]ed|divided|scaled|adjusted) (?:by|for|to) (?:the )?(?:building'?s? )?(?:floor )?"
                             r"(?:area|size|m2|square met\w*)\b|per (?:unit of |metre of |meter of )?(?:floor|floorspace)\b|"
                             r"/ ?m2\b|/ ?m²", re.I)
ENERGY_INTENSITY = re.compile(r"\bkwh ?(?:/|per) ?(?:m2|m²|sq|square)|energy(?: use)? intensity|\beui\b", re.I)
DEMAND_WORDS = re.compile(r"\b(?:demand|load|kw|kilowatts?(?![- ]?hours?)|power draw|pull\w* from the grid)\b", re.I)
DRAW = re.compile(r"\b(?:draw\w*|pull\w*)\b", re.I)
ENERGY_UNITS = re.compile(r"\b(?:kwh|mwh|gwh|(?:kilo|mega|giga)watt[- ]?hours?)\b", re.I)
USE_WORDS = re.compile(r"\b(?:use|used|using|usage|users?|consum\w*|burn\w*|energy|power|draw\w*)\b", re.I)
PEAK = re.compile(r"\b(?:peak|highest|maximum|max|top|greatest|largest)\b", re.I)
AVERAGE = re.compile(r"\b(?:average|mean|typical|on average|avg)\b", re.I)
BOTTOM = re.compile(r"\b(?:least|lowest|smallest|fewest|bottom|minimum|min)\b", re.I)
TOP = re.compile(r"\b(?:most|highest|largest|biggest|top|maximum|greatest|heaviest)\b", re.I)
RANK_SUBJECT = re.compile(r"\b(?:which|what|who|list|name|show|give)\b[^?.]*?\b(?:sites?|buildings?|users?|emitters?|"
                          r"consumers?|ones?|activit\w*|sources?|months?|quarters?)\b|^\s*who\b|\brank\w*\b|"
                          r"\b(?:top|bottom)\s+\d+\b|\b(?:\d{1,3}|two|three|four|five|six|seven|eight|nine|ten) "
                          r"(?:\w+ )?(?:sites|buildings|users|emitters|consumers)\b", re.I)
NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
           "ten": 10, "twelve": 12, "fifteen": 15, "twenty": 20}
N_RE = r"(\d{1,3}|" + "|".join(NUMBERS) + r")"
BY_WORDS: list[tuple[str, re.Pattern[str]]] = [
    ("month", re.compile(r"\b(?:by|per|each|every|for each) month\b|\bmonth[- ]by[- ]month\b|\bmonthly\b|"
                         r"\b(?:into|in|by) (?:its |the |calendar )?months\b", re.I)),
    ("quarter", re.compile(r"\b(?:by|per|each|every|for each) quarter\b|\bquarter[- ]by[- ]quarter\b|\bquarterly\b|"
                           r"\b(?:into|in|by) (?:its |the |calendar )?quarters\b", re.I)),
    ("site", re.compile(r"\b(?:by|per|each|for each|(?:of|for|at) every) (?:site|building)\b(?!\s*#?\s*(?:b?\d|[a-z]+\d))|"
                        r"\b(?:site|building)[- ]by[- ](?:site|building)\b", re.I)),
    ("activity", re.compile(r"\b(?:by|per|each) (?:activity(?: type)?|source|fuel)\b", re.I)),
    ("scope", re.compile(r"\b(?:by|per|each) scope\b", re.I)),
]
BREAKDOWN = re.compile(r"\b(?:break\w* down|breakdown|split|itemi[sz]e)\b", re.I)
COMPARE = re.compile(r"\b(?:compar\w*|vs\.?|versus|against|than|difference|differ|change[ds]?|rise|rose|fall|fell|"
                     r"increase\w*|decrease\w*|drop\w*|grow\w*|went (?:up|down)|year[- ]on[- ]year|yoy)\b", re.I)
COMBINED = re.compile(r"\b(?:combined|together|in total|total of|sum of|summed|between them|altogether)\b", re.I)
ALL_WORDS = re.compile(r"\b(?:estate|whole|all (?:of )?(?:our |the )?(?:sites|buildings)|every (?:site|building)|"
                       r"organi[sz]ation|company|portfolio|across|overall|we|our|us)\b", re.I)
VAGUE_SITE = re.compile(r"\b(?:the|that|this) (?:\w+ )?(?:building|site|office|lab|labs|block|wing|hall|depot|warehouse)\b",
                        re.I)
UNSUPPORTED = re.compile(r"\b(?:costs?|costing|cost us|price[ds]?|pricing|paid|pay|money|pounds|dollars|euros|gbp|usd|"
                         r"tariffs?|water|occupan\w*|temperatures?|humidity|headcount|revenue|profits?|invoice[ds]?)\b|"
                         r"[£$€]", re.I)
"""What a data question may ask that the data core does not hold (money, water, occupancy, weather...)."""
GROUP_NOUNS = r"(?:sites|buildings|properties|premises|facilities|estate|group|portfolio|campus|blocks)\b"
TAGGED = [re.compile(r"\b([a-z][\w:]*)[- ]tagged\b", re.I), re.compile(r"\btagged (?:as |with )?['\"]?([\w:-]+)", re.I),
          re.compile(r"\btag ['\"]?([\w:-]+)", re.I)]
FLOORS = re.compile(r"\b(\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten|twelve)[- ](?:storey|story|floor)(?:ed)?\b|"
                    r"\bwith (\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten|twelve) (?:floors|storeys|stories|"
                    r"levels)\b", re.I)


def _n(text: str) -> int | None:
    low = text.lower()
    m = re.search(rf"\b(?:top|bottom|first|last)\s+{N_RE}\b", low) or re.search(
        rf"\b{N_RE}\s+(?:\w+\s+){{0,2}}?(?:sites|buildings|emitters|users|consumers|activities|sources|months)\b", low)
    if not m:
        return None
    word = m.group(1)
    return int(word) if word.isdigit() else NUMBERS[word]


def read_measure(s: Slots, text: str) -> None:
    """What ``text`` measures (``s.measure``, ``unit``, ``stat``, ``intensity_of``)."""
    energy_types = [a for a in s.activity_types if a in CONSUMPTION_TYPES]
    other_types = [a for a in s.activity_types if a not in CONSUMPTION_TYPES]
    emissions = bool(EMISSION_WORDS.search(text)) or bool(other_types) or bool(s.category)
    if FACTOR_WORDS.search(text) and not INTENSITY_WORDS.search(text):
        s.measure = "factor"
    elif INTENSITY_WORDS.search(text):
        s.measure = "intensity"
        s.intensity_of = "energy" if ENERGY_INTENSITY.search(text) or (
            not emissions and (energy_types or ENERGY_UNITS.search(text))) else "emissions"
    elif not ENERGY_UNITS.search(text) and (DEMAND_WORDS.search(text) or (
            DRAW.search(text) and (PEAK.search(text) or AVERAGE.search(text) or re.search(r"\bhourly\b", text, re.I)))):
        s.measure = "demand"
        s.stat = "peak" if PEAK.search(text) else "avg" if AVERAGE.search(text) else None
        if not s.activity_types and re.search(r"\b(?:electric\w*|power|grid)\b", text, re.I):
            s.activity_types = ["electricity"]
    elif emissions and not (ENERGY_UNITS.search(text) and not STRONG_EMISSION.search(text) and not other_types
                            and not s.category):
        s.measure = "emissions"  # "scope 2 electricity in kWh": the unit names the measure, the scope filters it
    elif re.search(r"\belectrical\b", text, re.I) and USE_WORDS.search(text):
        s.measure = "energy"
        s.activity_types = ["electricity"]
    elif energy_types or (USE_WORDS.search(text) and re.search(r"\benergy\b", text, re.I)) or ENERGY_UNITS.search(text):
        s.measure = "energy"
    low = text.lower()
    if s.measure in ("energy", "intensity"):
        s.unit = ("GWh" if re.search(r"\bgwh\b|gigawatt", low) else "MWh" if re.search(r"\bmwh\b|megawatt", low)
                  else "kWh")
    elif s.measure == "emissions":
        s.unit = "kg" if re.search(r"\bkg\b|kilograms?", low) else "t"


def read_aggregation(s: Slots, text: str) -> None:
    """Ranking, comparison, breakdown or a value (``s.intent`` top/compare/breakdown/totals), ``order``, ``n``, ``by``."""
    for by, pattern in BY_WORDS:
        if pattern.search(text):
            s.by_what = by
            break
    if s.by_what is None and BREAKDOWN.search(text):
        m = re.search(r"\bby (site|building|month|quarter|activity|scope|source)", text, re.I)
        s.by_what = {"building": "site", "source": "activity"}.get(m.group(1).lower(), m.group(1).lower()) if m else None
        if s.by_what is None:
            s.by_what = "activity" if s.measure == "emissions" else "month"
    ranked = RANK_SUBJECT.search(text) and (TOP.search(text) or BOTTOM.search(text) or re.search(r"\brank", text, re.I))
    single_site_stat = len(s.sites) == 1 and s.measure in ("demand",)
    if ranked and not single_site_stat:
        s.intent = "top"
        s.order = "bottom" if BOTTOM.search(text) and not re.search(r"\btop\s+\d", text, re.I) else "top"
        s.top_n = _n(text) or (1 if re.search(r"\b(?:which|what|who) (?:\w+ )?(?:site|building|one|user|emitter|"
                                              r"consumer|month|quarter)\b(?! ?s\b)|^\s*who\b|\bthe (?:single )?(?:biggest|"
                                              r"largest|highest|top|heaviest|greatest|lowest|smallest|least|most)\b(?: [\w-]+)"
                                              r"{0,3}? (?:site|building|user|emitter|consumer|month|quarter)\b(?!s)", text, re.I)
                                    else None)
        m = re.search(r"\b(?:which|what|rank\w*(?: the)?|top|bottom|biggest|largest)\s+(?:\d+\s+|[a-z]+\s+)?"
                      r"(month|quarter|activit\w*|source|fuel)s?\b|\bby (activit\w*|source|fuel)\b", text, re.I)
        rank_by = (m.group(1) or m.group(2)).lower() if m else "site"
        s.by_what = {"month": "month", "quarter": "quarter"}.get(rank_by, "activity" if rank_by != "site" else "site")
        if s.measure is None and s.by_what == "activity":
            s.measure, s.unit = "emissions", "t"  # activities are ranked by what they emit (the ledger)
        return
    if len(s.periods) >= 2:
        s.periods = sorted(s.periods[:2], key=lambda p: p.start)  # older first: the change is from it
    if len(s.periods) >= 2 and COMBINED.search(text) and not COMPARE.search(text):
        _join_periods(s)  # "2019 and 2020 combined": one span
    named = [] if s.tag or s.all_sites else list(s.sites)  # a tagged group is one selection, not sites to weigh
    site_pair = len(named) == 2 and not COMBINED.search(text) and (
        COMPARE.search(text) or MORE_LESS.search(text) or re.search(r"\b(?:and|or)\b", text, re.I)) and not (
        s.by_what and not COMPARE.search(text))  # "split b3 and b7 by building": a breakdown
    if _activity_pair(s, text, named):
        s.intent, s.by_what = "compare", "activity"  # "gas or electricity, which emitted more?": the two side by side
        return
    if len(s.periods) >= 2 and COMPARE.search(text) or len(s.periods) >= 2 and re.search(r"\band\b", text, re.I) and not COMBINED.search(text) or site_pair or len(named) > 2 and COMPARE.search(text) or len(s.periods) == 1 and COMPARE.search(text) and re.search(
            r"\b(?:previous|prior|year before|last year|a year earlier|year[- ]on[- ]year|yoy)\b", text, re.I):
        s.intent = "compare"
        if len(s.periods) == 1 and len(s.sites) < 2:
            s.periods = [s.periods[0].previous(), s.periods[0]]  # the same span a year before, older first
    elif s.by_what is not None:
        s.intent = "breakdown"
    elif s.intent in ("compare", "top", "breakdown", "none", "kb", "intensity"):
        s.intent = "totals"


MORE_LESS = re.compile(r"\b(?:more|less|fewer|higher|lower|bigger|smaller|greater|larger|most|least|heavier|"
                       r"lighter|better|worse)\b", re.I)
"""Two sites weighed against each other ("b2 or b5, who burned more gas?"): a comparison, not one total."""


def _activity_pair(s: Slots, text: str, named: list[str]) -> bool:
    """Two activities named by two words and weighed against each other ("gas or electricity", "more gas than
    electricity", "diesel vs petrol"), for one site or all and one period: a comparison of the two."""
    if len(s.activity_types) != 2 or len(s.activity_words) != 2 or len(named) > 1 or len(s.periods) > 1 or \
            s.measure not in ("energy", "emissions") or s.by_what or COMBINED.search(text):
        return False
    a, b = (re.escape(w) for w in s.activity_words)
    joined = r"\W+(?:\w+\W+){0,4}?(?:or|vs\.?|versus|than|against|compared (?:with|to))\W+(?:\w+\W+){0,4}?"
    return bool(re.search(rf"\b{a}\b{joined}\b{b}\b|\b{b}\b{joined}\b{a}\b", text, re.I))


def _join_periods(s: Slots) -> None:
    """Periods said to be combined ("over 2019 and 2020 combined") become one span when they touch."""
    ps = sorted(s.periods, key=lambda p: p.start)
    if all(a.end == b.start for a, b in zip(ps, ps[1:], strict=False)):
        from services.rag.period import Period

        s.periods = [Period(ps[0].start, ps[-1].end, f"{ps[0].label} to {ps[-1].label}")]


def _tags(sites: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for sid, x in sites.items():
        for t in x.get("tags") or []:
            out.setdefault(str(t).lower(), []).append(sid)
    return {t: sorted(members) for t, members in out.items()}


def tagged_group(text: str, sites: dict[str, dict[str, Any]]) -> tuple[str | None, list[str], bool]:
    """A group of sites named by a tag of the data core: said so ("university-tagged", "tagged university",
    "with the tag office"), or a tag word qualifying the sites ("the university buildings", "our Cambridge
    sites", "the university estate", "buildings in the university group") when it names several sites."""
    tags = _tags(sites)
    for pattern in TAGGED:  # each form on its own: "the sites tagged university" is not the tag "sites"
        for m in pattern.finditer(text):
            tag = m.group(1).lower()
            if tag in tags:
                return tag, tags[tag], True
    low = text.lower()
    for m in FLOORS.finditer(low):  # "the 5-storey buildings", "our buildings with eight floors": the floors:N tag
        n = next(g for g in m.groups() if g)
        tag = f"floors:{int(n) if n.isdigit() else NUMBERS.get(n, 0)}"
        if tag in tags:
            return tag, tags[tag], True
    for tag, members in tags.items():
        if len(members) < 2 or not re.fullmatch(r"[a-z][a-z-]+", tag):
            continue
        word = re.escape(tag)
        if re.search(rf"\b{word}(?:'s)?\s+(?:(?:estate|campus|owned|managed)\s+)?{GROUP_NOUNS}|"
                     rf"\b{GROUP_NOUNS}\s+(?:of|in|on|at|across|labelled|labeled|marked|belonging to)\s+(?:the\s+|our\s+)?"
                     rf"{word}\b(?!\s+(?:of|in)\b)|\b(?:the|our|whole|entire)\s+{word}\s+(?:estate|group|portfolio|campus)\b",
                     low):
            return tag, members, False
    return None, [], False


def read_sites(s: Slots, text: str, sites: dict[str, dict[str, Any]]) -> None:
    """A tagged group, a site named by its name's words ("the US office"), or all sites."""
    tag, members, explicit = tagged_group(text, sites)
    if tag and (explicit or not s.sites):
        s.tag, s.sites, s.unknown_sites = tag, members, []
        return
    if not s.sites:
        low = text.lower()
        for sid, x in sites.items():
            words = re.sub(r"\([^)]*\)", " ", str(x.get("name") or "")).lower().split()
            if len(words) >= 2 and not re.fullmatch(r"building \S+", " ".join(words)) and re.search(
                    rf"\b{re.escape(words[0])}\b(?:\s+\S+){{0,2}}?\s+{re.escape(words[-1])}\b", low):
                s.sites = [sid]
                s.unknown_sites = [u for u in s.unknown_sites if u not in words]
                return
    s.all_sites = not s.sites


VAGUE = re.compile(r"\b(?:the total|totals?|numbers?|figures?|the data|summary|overview|status|update|last time|"
                   r"is (?:that|this|it) (?:good|bad|ok|okay|high|low|normal|a lot)|which one|the other one|"
                   r"how did it go|how (?:did|do|are|have|is) (?:we|it|things) (?:do|doing|done|"
                   r"perform\w*|getting on|going|looking)|"
                   r"doing (?:well|badly|ok)|perform\w*|tell me about|on track|how is it going)\b", re.I)


CONTEXTUAL = re.compile(r"^\s*(?:and|or|but|so|what about|how about|same|also)\b|\bthe (?:second|first|other|last|same|"
                        r"previous|latter|former) (?:one|site|building|figure|number|period|year)\b|\bthe (?:peak|drop|rise|fall|"
                        r"jump|dip|increase|decrease|change|figure|number|total|trend|spike)\b(?! (?:between|of a|of an)\b)|"
                        r"\b(?:the|that) (?:year|month|quarter|period) before\b|\bthe (?:consumption|usage|emissions|use)\b"
                        r"(?! (?:of|at|for (?!me\b|us\b)|in|by|from)\b)|^\s*(?:compare|rank|sort|check|list) (?:the|them|"
                        r"these|those|it)\b|\b(?:them|those|these)\b\s*[?.!]*\s*$|^\s*(?:was|is|were|did) (?:it|that|this|the \w+(?: one)?) (?:really )?(?:significant|bigger|"
                        r"higher|lower|smaller|more|less|normal|good|bad|unusual|a lot|ok|okay|high|low|right|correct|worse|"
                        r"better|up|down)\b",
                        re.I)
"""A question that leans on an earlier one ("and gas?", "is the second one bigger?", "was the drop significant?",
"what was the peak?", "compare the buildings"): in a new conversation it is asked back, never answered from the
knowledge base's nearest passage."""


def vague(s: Slots, text: str) -> bool:
    """A question about the organisation's results that names nothing to measure ("how are we doing?",
    "tell me about the building"), or that leans on an earlier question (``CONTEXTUAL``) with no site or period of
    its own: asked back, not searched in the knowledge base."""
    if re.match(r"\s*(?:why|explain|define|how (?:do|does|can|should|is|are)\b(?! (?:we|it|things)\b)|"
                r"what (?:is|are|does) (?:a|an)\b)", text, re.I):
        return False
    if CONTEXTUAL.search(text) and not (s.sites and not s.all_sites) and not s.periods and not s.definitional:
        return True
    return (s.measure is None and not (s.activity_types or s.scopes or s.category)
            and bool(VAGUE.search(text) or (VAGUE_SITE.search(text) and not s.sites)))


def clarification(s: Slots, text: str, *, first_month: str, last_month: str) -> str | None:
    """The one question to ask back, or None when the question can be answered as read."""
    data = s.measure is not None
    if s.intent == "kb" and vague(s, text):
        s.intent = "totals"
    elif s.intent == "kb":
        return None
    if s.measure is None and s.intent == "top":
        return ("Rank by which measure: energy use (kWh), peak or average demand (kW), or emissions (t CO2e)? "
                "And for which period?")
    if s.measure is None and s.intent in ("totals", "compare", "top", "breakdown") and not (
            s.activity_types or s.scopes or s.category):
        where = ", ".join(s.sites) if s.sites else "the estate"
        return (f"What would you like to know about {where}: energy use (kWh), average or peak demand (kW), "
                "emissions (t CO2e) or intensity per m2, and for which period?")
    if not data:
        return None
    unsupported = UNSUPPORTED.search(text)
    if unsupported and re.fullmatch(r"costs?|cost us", unsupported.group(0), re.I) and s.measure == "emissions" and \
            STRONG_EMISSION.search(text) and not re.search(r"[£$€]|\b(?:pounds|dollars|euros|money)\b", text, re.I):
        unsupported = None  # "how much CO2e did flying cost us?": the cost is in carbon
    if unsupported and s.measure != "factor":
        return (f"I have no data on {unsupported.group(0).lower()}: I can give energy use (kWh), demand (kW) or "
                "emissions (t CO2e) for a site, several sites or all of them. Which would you like?")
    if not s.sites and VAGUE_SITE.search(text) and not s.follow_up and not ALL_WORDS.search(text):
        return "Which building do you mean? Name it by its id (e.g. b2) or ask about all sites."
    if s.measure == "demand" and s.stat is None:
        return "Do you mean the average demand (mean kW over the hours) or the peak (the highest hour's kW)?"
    if s.measure == "demand" and not s.activity_types:
        s.activity_types = ["electricity"]  # demand, load, kW: electrical unless gas is named (the restatement says so)
    if s.measure == "demand" and any(a not in CONSUMPTION_TYPES for a in s.activity_types):
        return "I have hourly readings for electricity and gas only: demand of which of the two?"
    mixed = [a for a in s.activity_types if a not in CONSUMPTION_TYPES]
    if s.measure in ("energy", "demand") and mixed and len(mixed) < len(s.activity_types):
        return (f"I have energy readings (kWh) for electricity and gas only, not for "
                f"{', '.join(a.replace('_', ' ') for a in mixed)}: the energy use of the electricity and gas alone, "
                "or the emissions (t CO2e) of all of them?")
    if s.measure == "emissions" and ENERGY_UNITS.search(text):  # an energy unit, and emissions or fuels
        return ("Do you want the energy (kWh; I have readings for electricity and gas only) or the emissions "
                "(t CO2e)? The question names both.")
    if s.measure == "energy" and s.activity_types and not any(a in CONSUMPTION_TYPES for a in s.activity_types):
        return ("I have energy readings (kWh) for electricity and gas only; for "
                f"{', '.join(a.replace('_', ' ') for a in s.activity_types)} I can give the emissions instead. "
                "Shall I?")
    if s.measure == "intensity" and len(s.sites) != 1:
        return "Intensity is per building (its floor area): which building?"
    implicit = next((p for p in s.periods if p.implicit_year), None)
    if implicit is not None and not s.follow_up:
        return (f"{implicit.label.split(' ')[0]} of which year? The data runs from {first_month} to {last_month}; "
                "name the year, e.g. " + f"{implicit.label}.")
    if s.measure != "factor" and not s.periods:
        return (f"For which period? The data runs from {first_month} to {last_month}: name a month, quarter, year "
                "or range.")
    return None

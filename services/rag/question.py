"""Reading a question: what is asked (intent) and about what (:class:`Slots`: sites, periods, scopes,
method, activity types, Scope 3 category), and carrying a follow-up's context over from the previous
question. Plain rules over the words of the question and the data core's own lists of sites, activity
types and months with data: deterministic, explainable and fast. Periods are read by
:mod:`services.rag.period`, sites and activities by :mod:`services.rag.entities`; :mod:`services.rag.plan`
turns the result into tool calls.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from services.rag.entities import parse_activities, parse_sites
from services.rag.measure import read_aggregation, read_measure, read_sites
from services.rag.period import Period, invalid_dates, parse_periods

Intent = Literal["totals", "top", "alerts", "recommend", "intensity", "compare", "breakdown", "site_info",
                 "list_sites", "kb", "greeting", "factor", "clarify", "none"]

SCOPE_WORDS = [(r"scope\s*(?:1|one|i)\b|direct emissions", 1), (r"scope\s*(?:2|two|ii)\b", 2),
               (r"scope\s*(?:3|three|iii)\b|value[- ]chain", 3)]

DEFINITIONAL = re.compile(r"^\s*(?:what (?:is|are|does|do) (?:a |an |the )?(?!our\b|we\b|the total)|define|explain|"
                          r"how (?:is|are|do you|does the platform|does carbon nexus) (?:\w+ )?(?:calculat|comput|measur)|"
                          r"why (?:do|does|should) (?:we|you|companies)|difference between)", re.I)
ORG_WORDS = re.compile(r"\b(?:our|we|us|total|overall|organi[sz]ation|company|portfolio|all (?:of )?(?:our )?"
                       r"(?:sites|buildings))\b", re.I)
WHOLE_ORG = re.compile(r"\b(?:organi[sz]ation|company|overall|portfolio|whole|all (?:of )?(?:our |the )?"
                       r"(?:sites|buildings))\b", re.I)
ANAPHORA = re.compile(r"\b(?:it|its|that (?:site|building|one)|this (?:site|building)|the same)\b", re.I)
FOLLOW_UP = re.compile(r"^\s*(?:and|what about|how about|same for|also|now|then|ok(?:ay)?,?\s*(?:and|what about))\b", re.I)
DATA_WORDS = re.compile(r"\b(?:emissions?|emitted|emit|footprint|co2e?|carbon|ghg|tco2e|tonnes?|tons?|kg|"
                        r"how much|consum\w*|usage|used)\b", re.I)
GREETING = re.compile(r"^\s*(?:hi|hello|hey|good (?:morning|afternoon|evening)|help|what can you do)\b[\s!?.]*$", re.I)


class _FollowedOnLine:
    """``first`` followed on the same line by ``then`` (or, with ``negate``, not followed by it): what
    ``first.*then`` and ``first(?!.*then)`` say, in one pass over the text instead of one per ``first``."""

    def __init__(self, first: re.Pattern[str], then: re.Pattern[str], *, negate: bool = False) -> None:
        self.first, self.then, self.negate = first, then, negate

    def search(self, text: str) -> bool:
        line_end, last = -1, None
        for m in self.first.finditer(text):
            if m.start() > line_end:  # a new line: judge the previous line's candidate
                if last is not None and self._ok(text, last, line_end):
                    return True
                line_end = text.find("\n", m.start())
                line_end = len(text) if line_end < 0 else line_end
                last = None
            # with negate the last match of a line decides (if it is followed, so are the earlier ones);
            # without, the first one does (if it is not followed, neither are the later ones)
            if self.negate or last is None:
                last = m
        return last is not None and self._ok(text, last, line_end)

    def _ok(self, text: str, m: re.Match[str], line_end: int) -> bool:
        return (self.then.search(text, m.end(), line_end) is None) == self.negate


class _Either:
    def __init__(self, *patterns: _FollowedOnLine | re.Pattern[str]) -> None:
        self.patterns = patterns

    def search(self, text: str) -> bool:
        return any(p.search(text) for p in self.patterns)


INTENT_RULES: list[tuple[Intent, _FollowedOnLine | _Either | re.Pattern[str]]] = [
    ("recommend", re.compile(r"\b(?:what should (?:we|i) do|what (?:can|could) (?:we|i) do|recommend\w*|"
                             r"how (?:can|do|could|should|might) (?:we|i) (?:cut|reduce|lower|decrease|fix|tackle|"
                             r"address|bring down|improve)|(?:reduction|abatement) (?:actions|measures|options|plan)|"
                             r"actions? (?:for|to)|measures? (?:for|to)|what to do about|next steps)\b", re.I)),
    ("alerts", re.compile(r"\b(?:alerts?|alarms?|hotspots?|anomal\w*|flagged|unusual|abnormal|spik\w*|"
                          r"on alert|what(?:'s| is) wrong|problem with|issues? (?:at|with|in))\b", re.I)),
    ("intensity", re.compile(r"\b(?:intensity|per (?:m2|m²|square met\w*|sq\.? ?m)|kg ?/ ?m2|per floor area|"
                             r"(?:normali[sz]ed|divided|scaled|adjusted) (?:by|for|to) (?:the )?(?:floor )?area)\b", re.I)),
    # "which site ... most": a word, then a superlative later on the same line (was ``which ....* most``)
    ("top", _Either(_FollowedOnLine(re.compile(r"\b(?:which|what) (?:site|building|activit\w*|source|fuel|"
                                               r"categor\w*)s?\b", re.I),
                                    re.compile(r"\b(?:most|highest|largest|biggest|top|worst)\b", re.I)),
                    re.compile(r"\btop \d+\b|\btop (?:sites?|buildings?|emitters?|contributors?|"
                               r"sources?)\b|\b(?:biggest|largest|main|highest) (?:emitters?|sources?|contributors?|sites?|"
                               r"buildings?)\b|\brank\w*\b", re.I))),
    ("compare", re.compile(r"\b(?:compar\w*|change[ds]?|vs\.?|versus|year[- ]on[- ]year|yoy|difference|"
                           r"(?:increase|decrease|drop|rise|fall|grow)\w*|went (?:up|down))\b", re.I)),
    ("breakdown", re.compile(r"\b(?:breakdown|broken down|split|by scope|per scope|each scope|inventory|"
                             r"by activity|by source)\b", re.I)),
    # "which sites" with no superlative after it on the same line (was a ``(?!.* most)`` look-ahead)
    ("list_sites", _FollowedOnLine(re.compile(r"\b(?:which|what|list(?: of)?|how many) (?:sites|buildings)\b", re.I),
                                   re.compile(r"\b(?:most|highest|largest|biggest|top|least|lowest|smallest|fewest|"
                                              r"bottom)\b", re.I), negate=True)),
    ("site_info", re.compile(r"\b(?:floor area|how big|size of|where is|what is (?:site|building))\b", re.I)),
]


@dataclass
class Slots:
    intent: Intent = "none"
    sites: list[str] = field(default_factory=list)
    unknown_sites: list[str] = field(default_factory=list)
    periods: list[Period] = field(default_factory=list)
    scopes: list[int] = field(default_factory=list)
    method: Literal["location", "market"] | None = None
    activity_types: list[str] = field(default_factory=list)
    activity_words: list[str] = field(default_factory=list)
    category: int | None = None
    top_n: int | None = None
    by: str | None = None
    org: bool = False
    definitional: bool = False
    follow_up: bool = False
    data_words: bool = False
    asked: Intent = "none"  # the intent the words asked for, before it was narrowed (e.g. recommend without a site)
    both_methods: bool = False
    invalid_dates: list[str] = field(default_factory=list)  # "2019-02-29": refused, never read as "no period"
    text: str = ""
    hotspot_id: str | None = None  # the hotspot an alerts answer was about (for "what should we do about it?")
    # issue #19 (services/rag/measure.py): what is measured, how it is aggregated, and what to ask back
    measure: str | None = None  # energy | demand | emissions | intensity | factor
    unit: str | None = None  # kWh | MWh | GWh (energy), t | kg (emissions)
    stat: str | None = None  # avg | peak (demand)
    intensity_of: str | None = None  # emissions | energy
    order: str | None = None  # top | bottom (rankings)
    by_what: str | None = None  # month | quarter | site | activity | scope (breakdowns and rankings)
    tag: str | None = None  # the sites are the ones with this tag
    all_sites: bool = False
    clarify: str | None = None  # the question to ask back instead of answering
    region_sites: list[str] = field(default_factory=list)  # a factor's region: its sites (an hourly factor's mean)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["periods"] = [{"start": p.start.isoformat(), "end": p.end.isoformat(), "label": p.label}
                          for p in self.periods]
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Slots:
        d = dict(d)
        d["periods"] = [Period(datetime.fromisoformat(p["start"]), datetime.fromisoformat(p["end"]), p["label"])
                        for p in d.get("periods", [])]
        return cls(**d)

    def has_subject(self) -> bool:
        return bool(self.sites or self.periods or self.scopes or self.activity_types or self.category or self.method)


SPELLING = {"electricity": r"elecricity|electrcity|electricty|eletricity|electicity|electriciy|leccy|lecky|elec",
            "emissions": r"emmisions?|emisions?|emmissions?|emissons?", "consumption": r"consumtion|comsumption|consuption"}
SPELLED = [(re.compile(rf"\b(?:{alts})\b", re.I), word) for word, alts in SPELLING.items()]


def spelled(text: str) -> str:
    """Common misspellings and slang of the measure words ("elecricity", "leccy", "emmisions") as the words."""
    for pattern, word in SPELLED:
        text = pattern.sub(word, text)
    return text


def parse(text: str, *, sites: dict[str, dict[str, Any]], activity_types: list[str],
          year_months: list[tuple[int, int]]) -> Slots:
    """The slots of one question, read against the data core's sites, activity types and (year, month)
    pairs with data (relative periods and years left unsaid are taken from the newest data)."""
    text = spelled(text)
    s = Slots(text=text)
    s.sites, s.unknown_sites = parse_sites(text, sites)
    s.periods = parse_periods(text, year_months)
    s.invalid_dates = invalid_dates(text)
    s.activity_types, s.activity_words, s.category = parse_activities(text, activity_types)
    low = text.lower()
    for scope_words, scope in SCOPE_WORDS:
        if re.search(scope_words, low):
            s.scopes.append(scope)
    for m in re.finditer(r"\bscopes?\s*([123](?:\s*(?:,|and|\+|&|or)\s*[123])+)\b", low):
        s.scopes = sorted({*s.scopes, *(int(d) for d in re.findall(r"[123]", m.group(1)))})
    market = bool(re.search(r"\bmarket[- ]?based\b|\bmarket\b", low))
    location = bool(re.search(r"\blocation[- ]?based\b|\blocation\b", low))
    if market and location:
        s.both_methods = True  # "location vs market": both figures of the same period
    elif market:
        s.method = "market"
    elif re.search(r"\blocation[- ]?based\b", low):
        s.method = "location"
    top = re.search(r"\btop\s+(\d{1,3})\b", low)
    if top:
        s.top_n = int(top.group(1))
    if re.search(r"\b(?:activit\w*|sources?|fuels?|activity types?)\b", low):
        s.by = "activity_type"
    elif re.search(r"\bscopes?\b", low) and re.search(r"\b(?:which|by|per|each)\b", low):
        s.by = "scope"
    s.org = bool(ORG_WORDS.search(text))
    s.definitional = bool(DEFINITIONAL.search(text)) and not (s.sites or s.periods or s.unknown_sites)
    s.follow_up = bool(FOLLOW_UP.search(text)) or bool(ANAPHORA.search(text))
    s.data_words = bool(DATA_WORDS.search(text))
    if GREETING.match(text):
        s.intent = "greeting"
        return s
    for intent, pattern in INTENT_RULES:
        if pattern.search(text):
            s.intent = intent
            break
    s.asked = s.intent
    if s.both_methods and s.intent in ("compare", "none") and len(s.periods) < 2:
        s.intent = "totals"
    if s.intent == "compare" and len(s.periods) < 2 and not re.search(
            r"\b(?:previous|prior|last|year before|the year earlier|compared|vs|versus|year[- ]on[- ]year|yoy)\b", low):
        s.intent = "none"  # "did emissions rise in March?" without a second period reads as a total
    if s.intent == "none" and len(s.periods) >= 2 and s.data_words and re.search(r"\b(?:and|vs|versus|to|with)\b", low):
        s.intent = "compare"
    if s.intent == "none" and not s.definitional and s.data_words and (s.has_subject() or s.org):
        s.intent = "totals"
    if s.intent == "none" and not s.definitional and (s.sites or s.unknown_sites or s.scopes or s.category) and (
            s.periods or s.activity_types):
        s.intent = "totals"
    if s.intent in ("breakdown", "compare", "top", "intensity") and s.definitional and not (s.sites or s.periods or s.org):
        s.intent = "kb"  # "what is an intensity metric?"
    if s.intent == "recommend" and not (s.sites or s.unknown_sites):
        s.intent = "kb"  # measures in general: answered from the knowledge base
    if s.intent == "none":
        s.intent = "kb"
    _read_issue19(s, text, sites)
    return s


EXPLAIN = re.compile(r"^\s*(?:why|explain|define|describe how|what counts as|what does .{1,60} (?:cover|include|mean)\b|"
                     r"is (?:it|a|an|the|spend|activity)\b.{0,80}\b(?:worse|better|more accurate|allowed|required|"
                     r"enough)\b|how (?:do|does|can|could|should|would|might|is|are)\b(?! (?:\w+ )?"
                     r"(?:we|our|b\d+)\b.*\b(?:in|during|for) (?:19|20)\d\d)|(?:any |some )?(?:tips|advice|ideas)\b|"
                     r"what (?:is|are|does|do) (?:a|an|the difference|scope \d category)\b)", re.I)
ADVICE = re.compile(r"^\s*(?:would|will|does|do|is|are|should|can|could|might)\b.{0,160}?\b(?:cut|cuts|reduce|lower|"
                    r"save|saving|make (?:a|any|much of a) difference|worth|help|pay back|payback|decarboni[sz]\w*|"
                    r"change our (?:reported )?emissions)\b|^\s*(?:what (?:are|is) (?:our|the|some|my) (?:options|choices|"
                    r"ways|criteria|measures|steps)|what [\w-]+ (?:criteria|options|measures|steps) (?:can|could|should)|"
                    r"which (?:measures|options|actions))\b", re.I)
"""Advice on a measure ("would switching the vans to HVO lower our scope 1?", "do TRVs really make a difference to
gas use?", "what are our options to decarbonise deliveries?"): the knowledge base, when no site or period is named."""
DATA_ASK = re.compile(r"\b(?:how much|how many|total\w*|sum|used|use|usage|consum\w*|emitted|emit|burn\w*|draw\w*|"
                      r"peak|average|mean|rank\w*|top|bottom|most|least|highest|lowest|which (?:site|building)s?|"
                      r"our|we|us|numbers?|figures?|data|summary|overview|compare|vs|versus|break\w* ?down|split|"
                      r"monthly|quarterly|per month|by month|by site|factors?)\b", re.I)


def _read_issue19(s: Slots, text: str, sites: dict[str, dict[str, Any]]) -> None:
    """The measure, the aggregation and the sites of a data question (services/rag/measure.py); a question
    asking how or why without a site or a period is an explanation from the knowledge base."""
    if s.intent in ("greeting", "alerts", "recommend", "list_sites", "site_info"):
        return
    read_sites(s, text, sites)
    read_measure(s, text)
    named = bool(s.sites and not s.all_sites)
    if not named and not s.periods and (EXPLAIN.search(text) or ADVICE.search(text) or s.asked == "recommend" or (
            s.measure != "factor" and not DATA_ASK.search(text))):
        s.intent = "kb"  # how/why/what counts as..., or nothing asks for a figure: an explanation
        return
    if s.measure == "factor":
        s.intent = "factor"
        return
    if s.intent == "kb" and s.measure is None and not s.definitional and not s.has_subject():
        return
    if s.intent == "kb" and s.definitional and not s.periods and not (s.sites and not s.all_sites) and not (
            s.measure and re.search(r"\b(?:our|we|us)\b", text, re.I)):
        return
    read_aggregation(s, text)


def merge_follow_up(current: Slots, previous: Slots | None) -> Slots:
    """A follow-up ("and in April?", "what about b2?", "what should we do about it?") keeps what the
    previous question established and replaces what the new one names."""
    if previous is None:
        return current
    elliptical = current.intent in ("kb", "none") and current.has_subject() and not current.definitional
    if not (current.follow_up or elliptical):
        return current
    if previous.intent in ("kb", "greeting", "none", "list_sites") and not elliptical:
        return current
    merged = Slots(**{**previous.__dict__})
    if current.asked not in ("none", "kb", "greeting"):
        merged.intent = current.asked  # "what should we do about it?" after "why is b33 on alert?"
    else:
        merged.intent = previous.intent if elliptical or current.intent in ("kb", "none") else current.intent
    merged.both_methods = current.both_methods
    if current.sites and current.sites != previous.sites:
        merged.hotspot_id = None
    for name in ("sites", "scopes", "activity_types", "activity_words"):
        value = getattr(current, name)
        if value:
            setattr(merged, name, value)
    if current.periods:
        year = previous.periods[0].start.year if previous.periods else None
        merged.periods = [p.with_year(year) if p.implicit_year and year else p for p in current.periods]
    if current.scopes and not current.activity_types:
        merged.activity_types, merged.activity_words = [], []  # "and scope 2?" after a gas question
    if current.activity_types and not current.scopes:
        merged.scopes = []
    if WHOLE_ORG.search(current.text) and not current.sites:
        merged.sites = []  # "and the total for the organisation?"
    merged.clarify = None
    if current.sites or current.tag:
        merged.tag, merged.all_sites = current.tag, current.all_sites
    for name in ("method", "category", "top_n", "by", "measure", "unit", "stat", "intensity_of", "order", "by_what"):
        value = getattr(current, name)
        if value is not None:
            setattr(merged, name, value)
    merged.unknown_sites = current.unknown_sites
    if current.unknown_sites and not current.sites:
        merged.sites = []
    if current.activity_types and not current.category:
        merged.category = None
    if current.category and not current.activity_types:
        merged.activity_types, merged.activity_words = [], []
    merged.follow_up = True
    if merged.intent == "recommend" and not merged.sites:
        merged.intent = "kb"  # measures in general, from the knowledge base
    return merged

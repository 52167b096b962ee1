"""Reading a question: what is asked (intent) and about what (sites, period, scope, method, activity,
Scope 3 category). Plain rules over the words of the question and the data core's own lists of sites and
activity types: deterministic, explainable and fast. The grounded composer turns the result into tool calls.
"""

from __future__ import annotations

import calendar
import fnmatch
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

Intent = Literal["totals", "top", "alerts", "recommend", "intensity", "compare", "breakdown", "site_info",
                 "list_sites", "kb", "greeting", "none"]

MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
MONTHS["sept"] = 9
MONTH_RE = r"(?:" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")"
YEAR_RE = r"(?:19[89]\d|20\d\d)"

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

INTENT_RULES: list[tuple[Intent, re.Pattern[str]]] = [
    ("recommend", re.compile(r"\b(?:what should (?:we|i) do|what (?:can|could) (?:we|i) do|recommend\w*|"
                             r"how (?:can|do|could|should|might) (?:we|i) (?:cut|reduce|lower|decrease|fix|tackle|"
                             r"address|bring down|improve)|(?:reduction|abatement) (?:actions|measures|options|plan)|"
                             r"actions? (?:for|to)|measures? (?:for|to)|what to do about|next steps)\b", re.I)),
    ("alerts", re.compile(r"\b(?:alerts?|alarms?|hotspots?|anomal\w*|flagged|unusual|abnormal|spik\w*|"
                          r"on alert|what(?:'s| is) wrong|problem with|issues? (?:at|with|in))\b", re.I)),
    ("intensity", re.compile(r"\b(?:intensity|per (?:m2|m²|square met\w*|sq\.? ?m)|kg ?/ ?m2|per floor area)\b", re.I)),
    ("top", re.compile(r"\b(?:which|what) (?:site|building|activit\w*|source|fuel|categor\w*)s?\b.*\b(?:most|highest|"
                       r"largest|biggest|top|worst)\b|\btop \d+\b|\btop (?:sites?|buildings?|emitters?|contributors?|"
                       r"sources?)\b|\b(?:biggest|largest|main|highest) (?:emitters?|sources?|contributors?|sites?|"
                       r"buildings?)\b|\brank\w*\b", re.I)),
    ("compare", re.compile(r"\b(?:compar\w*|change[ds]?|vs\.?|versus|year[- ]on[- ]year|yoy|difference|"
                           r"(?:increase|decrease|drop|rise|fall|grow)\w*|went (?:up|down))\b", re.I)),
    ("breakdown", re.compile(r"\b(?:breakdown|broken down|split|by scope|per scope|each scope|inventory|"
                             r"by activity|by source)\b", re.I)),
    ("list_sites", re.compile(r"\b(?:which|what|list(?: of)?|how many) (?:sites|buildings)\b(?!.*\b(?:most|highest|"
                              r"largest|biggest|top)\b)", re.I)),
    ("site_info", re.compile(r"\b(?:floor area|how big|size of|where is|what is (?:site|building))\b", re.I)),
]


@dataclass
class Period:
    start: datetime
    end: datetime  # exclusive
    label: str
    implicit_year: bool = False  # "in April": the year was chosen, not said (a follow-up keeps the previous one)

    def with_year(self, year: int) -> Period:
        delta = year - self.start.year
        return Period(self.start.replace(year=self.start.year + delta), self.end.replace(year=self.end.year + delta),
                      _shift_label(self.label, delta))

    def params(self) -> dict[str, str]:
        return {"start": self.start.strftime("%Y-%m-%dT%H:%M:%S"), "end": self.end.strftime("%Y-%m-%dT%H:%M:%S")}

    def previous(self) -> Period:
        """The same span one year earlier (months and quarters) or just before it."""
        try:
            start = self.start.replace(year=self.start.year - 1)
            end = self.end.replace(year=self.end.year - 1)
        except ValueError:  # 29 February
            length = self.end - self.start
            start, end = self.start - length, self.start
        return Period(start, end, _shift_label(self.label, -1))


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


def _shift_label(label: str, years: int) -> str:
    return re.sub(YEAR_RE, lambda m: str(int(m.group(0)) + years), label)


def _month_period(year: int, month: int) -> Period:
    end = datetime(year + (month == 12), month % 12 + 1, 1)
    return Period(datetime(year, month, 1), end, f"{calendar.month_name[month]} {year}")


def _latest_year_with(month: int, year_months: list[tuple[int, int]]) -> int | None:
    years = [y for y, m in year_months if m == month]
    return max(years) if years else None


def parse_periods(text: str, year_months: list[tuple[int, int]]) -> list[Period]:
    """Periods named in the text, in order: ranges of months, months, quarters, halves, years, ISO dates,
    and "last year"/"this year" (relative to the newest data, which is what the ledger can answer)."""
    t = text.lower()
    found: list[tuple[int, Period]] = []
    years_with_data = sorted({y for y, _ in year_months})
    latest = years_with_data[-1] if years_with_data else None
    taken: list[tuple[int, int]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in taken)

    def add(m: re.Match[str], p: Period) -> None:
        taken.append((m.start(), m.end()))
        found.append((m.start(), p))

    # month range: "january to march 2020", "from jan 2020 to mar 2020", "between january and march"
    for m in re.finditer(rf"\b(?:from |between )?({MONTH_RE})(?:\s+({YEAR_RE}))?\s*(?:to|until|through|-|–|and)\s*"
                         rf"({MONTH_RE})\s*({YEAR_RE})?\b", t):
        m1, y1, m2, y2 = MONTHS[m.group(1)], m.group(2), MONTHS[m.group(3)], m.group(4)
        year2 = int(y2) if y2 else (int(y1) if y1 else _latest_year_with(m2, year_months) or latest)
        if year2 is None:
            continue
        year1 = int(y1) if y1 else (year2 if m1 <= m2 else year2 - 1)
        end = _month_period(year2, m2).end
        add(m, Period(datetime(year1, m1, 1), end,
                      f"{calendar.month_name[m1]} {year1} to {calendar.month_name[m2]} {year2}"))
    # ISO month / date
    for m in re.finditer(rf"\b({YEAR_RE})-(0[1-9]|1[0-2])(?:-(0[1-9]|[12]\d|3[01]))?\b", t):
        if not free(m.start(), m.end()):
            continue
        y, mo = int(m.group(1)), int(m.group(2))
        if m.group(3):
            try:
                d = datetime(y, mo, int(m.group(3)))
            except ValueError:  # 2019-02-29: not a date
                taken.append((m.start(), m.end()))
                continue
            add(m, Period(d, d + _one_day(), d.strftime("%-d %B %Y")))
        else:
            add(m, _month_period(y, mo))
    # day: "5 march 2020", "march 5, 2020"
    for m in re.finditer(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({MONTH_RE})\s+({YEAR_RE})\b|\b({MONTH_RE})\s+(\d{{1,2}})"
                         rf"(?:st|nd|rd|th)?,?\s+({YEAR_RE})\b", t):
        if not free(m.start(), m.end()):
            continue
        day, mon, yr = (m.group(1), m.group(2), m.group(3)) if m.group(1) else (m.group(5), m.group(4), m.group(6))
        try:
            d = datetime(int(yr), MONTHS[mon], int(day))
        except ValueError:
            continue
        add(m, Period(d, d + _one_day(), d.strftime("%-d %B %Y")))
    # a span of years written "2019-2020" or "2019/20": both years together
    for m in re.finditer(rf"\b({YEAR_RE})\s*[-–/]\s*(\d{{2}}|{YEAR_RE})\b", t):
        if not free(m.start(), m.end()):
            continue
        y1 = int(m.group(1))
        y2 = int(m.group(2)) if len(m.group(2)) == 4 else (y1 // 100) * 100 + int(m.group(2))
        if y2 < y1:
            continue
        add(m, Period(datetime(y1, 1, 1), datetime(y2 + 1, 1, 1), f"{y1}-{y2}"))
    # relative to the newest month with data: "last month", "last 12 months", "last quarter"
    if year_months:
        ny, nm = year_months[-1]
        newest = _month_period(ny, nm)
        for m in re.finditer(r"\b(?:last|past|previous|latest) (?:(\d{1,2}) months|(month)|(quarter))\b", t):
            if not free(m.start(), m.end()):
                continue
            n = int(m.group(1)) if m.group(1) else (1 if m.group(2) else 3)
            y, mo = ny, nm - n + 1
            while mo < 1:
                y, mo = y - 1, mo + 12
            label = newest.label if n == 1 else f"the {n} months to {newest.label}"
            add(m, Period(datetime(y, mo, 1), newest.end, label))
    # quarters: "q1 2020", "2020 q1", "first quarter of 2020", "q3"
    ordinal = {"first": 1, "second": 2, "third": 3, "fourth": 4, "1st": 1, "2nd": 2, "3rd": 3, "4th": 4}
    for m in re.finditer(rf"\bq([1-4])(?:\s*(?:of\s*)?({YEAR_RE}))?\b|\b({YEAR_RE})\s*q([1-4])\b|"
                         rf"\b(first|second|third|fourth|1st|2nd|3rd|4th) quarter(?: of)?(?:\s+({YEAR_RE}))?\b|"
                         rf"\bquarter\s*([1-4])(?:\s*(?:of\s*)?({YEAR_RE}))?\b", t):
        if not free(m.start(), m.end()):
            continue
        q = int(m.group(1) or m.group(4) or m.group(7) or ordinal.get(m.group(5) or "", 0))
        y_s = m.group(2) or m.group(3) or m.group(6) or m.group(8)
        year = int(y_s) if y_s else _latest_year_with(3 * q, year_months) or latest
        if year is None:
            continue
        start = datetime(year, 3 * q - 2, 1)
        add(m, Period(start, _month_period(year, 3 * q).end, f"Q{q} {year}", implicit_year=not y_s))
    # halves: "h1 2020", "first half of 2020"
    for m in re.finditer(rf"\bh([12])\s*({YEAR_RE})?\b|\b(first|second) half(?: of)?(?:\s+({YEAR_RE}))?\b", t):
        if not free(m.start(), m.end()):
            continue
        h = int(m.group(1) or (1 if m.group(3) == "first" else 2))
        y_s = m.group(2) or m.group(4)
        year = int(y_s) if y_s else latest
        if year is None:
            continue
        start = datetime(year, 1 if h == 1 else 7, 1)
        end = datetime(year, 7, 1) if h == 1 else datetime(year + 1, 1, 1)
        add(m, Period(start, end, f"H{h} {year}"))
    # months: "march 2020", "in march", "mar"
    for m in re.finditer(rf"\b({MONTH_RE})\b(?:\s*,?\s*(?:of\s+)?({YEAR_RE}))?", t):
        if not free(m.start(), m.end()):
            continue
        name = m.group(1)
        if name in ("may", "mar", "jan", "jun", "jul", "aug", "sep", "oct", "nov", "dec", "feb", "apr") and not m.group(2):
            # short forms and "may" only count as months next to a period word
            before = t[max(0, m.start() - 6):m.start()]
            if name == "may" and not re.search(r"\b(?:in|of|during|for)\s*$", before):
                continue
        month = MONTHS[name]
        year = int(m.group(2)) if m.group(2) else _latest_year_with(month, year_months) or latest
        if year is None:
            continue
        period = _month_period(year, month)
        period.implicit_year = not m.group(2)
        add(m, period)
    # relative years
    for m in re.finditer(r"\b(last|this|current|latest) (?:calendar |financial |reporting )?year\b", t):
        if latest is None or not free(m.start(), m.end()):
            continue
        # relative to the newest data (what the ledger can answer), not to today's date: the answer names the year
        year = latest
        add(m, Period(datetime(year, 1, 1), datetime(year + 1, 1, 1), str(year)))
    # bare years
    for m in re.finditer(rf"\b({YEAR_RE})\b", t):
        if not free(m.start(), m.end()):
            continue
        y = int(m.group(1))
        add(m, Period(datetime(y, 1, 1), datetime(y + 1, 1, 1), str(y)))
    found.sort(key=lambda x: x[0])
    periods = [p for _, p in found]
    if len(periods) == 1 and year_months:
        first, newest = _month_period(*year_months[0]), _month_period(*year_months[-1])
        p = periods[0]
        if re.search(r"\b(?:since|from)\s+\S*\s*" + re.escape(p.label.split()[0].lower()), t) and not re.search(
                r"\b(?:to|until|through)\b", t):
            return [Period(p.start, newest.end, f"{p.label} to {newest.label}")]
        if re.search(r"\byear[- ]to[- ](?:date|the end of)?\s*", t) and p.end - p.start <= timedelta(days=31):
            return [Period(datetime(p.start.year, 1, 1), p.end, f"January {p.start.year} to {p.label}")]
        if re.search(r"\b(?:up to|until|through|before the end of)\b", t):
            return [Period(first.start, p.end, f"{first.label} to {p.label}")]
    return periods


def _one_day() -> timedelta:
    return timedelta(days=1)


def parse_sites(text: str, sites: dict[str, dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Known site ids named in the text (by id, "building 33" or name), and site-like names that are unknown."""
    t = text.lower()
    known: list[tuple[int, str]] = []
    lowered = {s.lower(): s for s in sites}
    for m in re.finditer(r"[a-z0-9][a-z0-9_.-]*[a-z0-9]|\b[a-z0-9]\b", t):
        token = m.group(0)
        if token in lowered:
            known.append((m.start(), lowered[token]))
    for m in re.finditer(r"\bbuilding\s*#?\s*(\d{1,5})\b", t):
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
    for m in re.finditer(r"\b(b\d{1,5})\b|\bbuilding\s*#?\s*(\d{1,5})\b|\bsite\s+(?:called |named |id )?['\"]?([a-z][a-z0-9_]*[0-9-][a-z0-9_-]*[a-z0-9])\b", t):
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


def parse(text: str, *, sites: dict[str, dict[str, Any]], activity_types: list[str],
          year_months: list[tuple[int, int]]) -> Slots:
    s = Slots(text=text)
    s.sites, s.unknown_sites = parse_sites(text, sites)
    s.periods = parse_periods(text, year_months)
    for m in re.finditer(rf"\b({YEAR_RE})-(\d\d)-(\d\d)\b|\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({MONTH_RE})\s+({YEAR_RE})\b",
                         text.lower()):
        try:
            if m.group(1):
                datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            else:
                datetime(int(m.group(6)), MONTHS[m.group(5)], int(m.group(4)))
        except (ValueError, KeyError):
            s.invalid_dates.append(m.group(0))
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
    return s


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
    for name in ("method", "category", "top_n", "by"):
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
